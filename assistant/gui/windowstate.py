"""The window's layout across runs: geometry, toolbar state and splitter positions, kept in the
settings file's `extra["window"]` as base64 strings (Qt's own save/restore formats).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

from assistant.settings import Settings

DEFAULT_SIZE = (1320, 840)  # a first run's window


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
        window.resize(*DEFAULT_SIZE)
    if saved.get("state"):
        window.restoreState(_bytes(saved["state"]))
    for name, splitter in splitters.items():
        if saved.get(name):
            splitter.restoreState(_bytes(saved[name]))


def save_layout(window: QMainWindow, splitters: dict[str, QSplitter],
                settings: Settings) -> None:
    """Put the layout in `settings.extra` (the caller saves the settings)."""
    layout = {"geometry": _b64(window.saveGeometry()), "state": _b64(window.saveState())}
    for name, splitter in splitters.items():
        layout[name] = _b64(splitter.saveState())
    settings.extra["window"] = layout
