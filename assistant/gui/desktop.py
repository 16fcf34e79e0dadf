"""Handing a file to the desktop: open it in its usual app, or show it in the file manager."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices

from assistant.errors import UserError


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"'{p}' is no longer there; it may have been moved or deleted.")
    return p


def open_with_system(path: str | Path) -> None:
    p = _existing(path)
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))):
        raise UserError(f"No app on this computer is set to open '{p.name}'.")


def show_in_folder(path: str | Path) -> None:
    """Open the file manager at the file's folder, selecting the file where possible."""
    p = _existing(path)
    target = str(p.resolve())
    if sys.platform == "win32":
        if QProcess.startDetached("explorer", [f"/select,{target}"]):
            return
    elif sys.platform == "darwin":
        if QProcess.startDetached("open", ["-R", target]):
            return
    elif p.is_file() and _freedesktop_show(target):
        return
    folder = p if p.is_dir() else p.parent
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        raise UserError(f"The folder '{folder}' could not be opened.")


def _freedesktop_show(target: str) -> bool:
    """Ask the desktop's file manager (org.freedesktop.FileManager1) to select the file."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface
    except ImportError:
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    service = "org.freedesktop.FileManager1"
    interface = bus.interface()
    if interface is None or not interface.isServiceRegistered(service).value():
        return False
    manager = QDBusInterface(service, "/org/freedesktop/FileManager1", service, bus)
    reply = manager.call("ShowItems", [QUrl.fromLocalFile(target).toString()], "")
    return not reply.errorName()
