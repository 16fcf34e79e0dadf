"""The window's layout across runs: geometry, toolbar state and splitter positions, kept in the
settings file's `extra["window"]` as base64 strings (Qt's own save/restore formats).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QSplitter

from assistant.settings import Settings

DEFAULT_SIZE = (1320, 840)  # a first run's window, where the screen has room for it
FRAME_ALLOWANCE = (16, 48)  # a window manager's borders and title bar, before they are known


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _bytes(text: str) -> QByteArray:
    return QByteArray.fromBase64(text.encode())


def restore_layout(window: QMainWindow, splitters: dict[str, QSplitter],
                   settings: Settings) -> None:
    saved = settings.extra.get("window", {})
    if saved.get("geometry"):
        window.restoreGeometry(_bytes(saved["geometry"]))
    else:
        first_run_geometry(window)
    if saved.get("state"):
        window.restoreState(_bytes(saved["state"]))
    for name, splitter in splitters.items():
        if saved.get(name):
            splitter.restoreState(_bytes(saved[name]))


def first_run_geometry(window: QMainWindow) -> None:
    """DEFAULT_SIZE, made smaller where the screen is (a 1366x768 laptop, less its panels):
    a taller window put the question box below the screen's edge, where a newcomer never
    found it. Placed in the screen's free area."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        window.resize(*DEFAULT_SIZE)
        return
    free = screen.availableGeometry()
    frame = window.frameGeometry().size() - window.geometry().size()  # title bar, borders
    if frame.isEmpty():  # not shown yet, so not measured: leave room for the usual ones
        frame = QSize(*FRAME_ALLOWANCE)
    width = min(DEFAULT_SIZE[0], free.width() - frame.width())
    height = min(DEFAULT_SIZE[1], free.height() - frame.height())
    window.resize(width, height)
    window.move(free.x() + (free.width() - width - frame.width()) // 2,
                free.y() + (free.height() - height - frame.height()) // 2)


def save_layout(window: QMainWindow, splitters: dict[str, QSplitter],
                settings: Settings) -> None:
    """Put the layout in `settings.extra` (the caller saves the settings)."""
    layout = {"geometry": _b64(window.saveGeometry()), "state": _b64(window.saveState())}
    for name, splitter in splitters.items():
        layout[name] = _b64(splitter.saveState())
    settings.extra["window"] = layout
