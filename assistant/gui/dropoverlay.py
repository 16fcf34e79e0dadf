"""Dropping files on the window: which paths a drag carries, and the overlay shown meanwhile.

The window routes the drag events (see `MainWindow.dropEvent`); what a drop adds is up to the
indexing controller.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def local_paths(mime: QMimeData) -> list[str]:
    """Local files and folders carried by a drag (or a paste)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def file_urls(paths: list[str]) -> QMimeData:
    """Mime data carrying local files, as a file manager's drag does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


class DropOverlay(QFrame):
    """Shown over the window while files are dragged over it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("DropOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QVBoxLayout(self)
        self.label = QLabel()
        self.label.setObjectName("DropOverlayText")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        self.hide()

    def show_for(self, paths: list[str], collection: str) -> None:
        n = len(paths)
        what = Path(paths[0]).name if n == 1 else f"{n} items"
        self.label.setText(f"Drop to add {what} to “{collection}”")
        self.fit()
        self.raise_()
        self.show()

    def fit(self) -> None:
        """Cover the parent, with a margin."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect().adjusted(16, 16, -16, -16))
