"""What every controller shares: the window, the settings, the workers, the history, and the
ways to tell the user something (a dialog, the status bar, a bug report).

Controllers get this instead of the window itself, so none of them can reach into another
area's widgets; where one needs another area, it is handed that area's controller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox

from assistant.errors import UserError
from assistant.gui.backend import Backend
from assistant.gui.dialogs import show_bug, show_message
from assistant.gui.history import History
from assistant.gui.tasks import Failure
from assistant.settings import Settings


class AppContext:
    """The services of the window the controllers live in."""

    def __init__(self, window: QMainWindow, settings: Settings, backend: Backend,
                 history: History, show_page: Callable[[str], None]) -> None:
        self.window = window  # the parent of every dialog
        self.settings = settings
        self.backend = backend
        self.history = history
        self.failures: list[Failure] = []  # errors shown to the user (for tests and logs)
        self._show_page = show_page

    @property
    def collection(self) -> str:
        """The active collection: questions are answered from it, documents go into it."""
        return str(self.settings["collection"])

    def show_page(self, page: str) -> None:
        """Switch the window to "chat", "library" or "teach"."""
        self._show_page(page)

    def notify(self, text: str, ms: int) -> None:
        """A passing note in the status bar."""
        self.window.statusBar().showMessage(text, ms)

    def tell(self, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> None:
        """A sentence in a dialog (a user's mistake or a file that went away, never a bug)."""
        show_message(self.window, text, icon=icon)

    def report(self, failure: Failure) -> None:
        """A job failed: a UserError is a sentence, anything else a copyable bug report."""
        if failure.is_cancelled:
            return
        self.failures.append(failure)
        exc = failure.exception
        if isinstance(exc, UserError):
            show_message(self.window, str(exc))
        else:
            show_bug(self.window, exc, failure.traceback)

    def action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        """A window-wide action (its shortcut works wherever the focus is in the window)."""
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.window.addAction(action)
        return action
