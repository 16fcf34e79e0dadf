"""Small dialogs: messages a person can act on, bug reports, failed files, corrections."""

from __future__ import annotations

import html
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant import __version__
from assistant.errors import UserError
from assistant.gui.wording import reason_text
from assistant.gui.wrapping import PathDelegate, WrapDelegate


def show_message(parent: QWidget | None, text: str, title: str = "Knowledge Assistant",
                 icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> None:
    """A sentence the user can act on (a `UserError`), in a plain message box."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("MessageBox")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # window-modal, but never blocks the event loop (workers keep reporting)


def confirm(parent: QWidget | None, title: str, text: str, action: str) -> bool:
    """Ask before something destructive; `action` names the button that does it."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    box.setObjectName("ConfirmBox")
    do = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is do


def bug_report_text(summary: str, details: str) -> str:
    return (f"Knowledge Assistant {__version__} — {summary}\n"
            f"Python {platform.python_version()} on {platform.platform()}\n\n{details}")


class ErrorDialog(QDialog):
    """An unexpected error (a bug): what happened, and a traceback that can be copied."""

    def __init__(self, summary: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Something went wrong")
        self.setObjectName("ErrorDialog")
        self.setMinimumSize(520, 320)
        self.resize(720, 460)
        layout = QVBoxLayout(self)
        heading = QLabel("<b>Something went wrong inside the app.</b>")
        explain = QLabel(
            "This is a bug, not something you did. Your documents and conversations are safe. "
            "Please copy the report below and send it with a note on what you were doing.")
        explain.setWordWrap(True)
        self.summary = QLabel(html.escape(summary))
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report = QPlainTextEdit(bug_report_text(summary, details))
        self.report.setReadOnly(True)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy report")
        copy.clicked.connect(self.copy)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        for widget in (heading, explain, self.summary, self.report):
            layout.addWidget(widget)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.report.toPlainText())


_open_error_dialogs: list[ErrorDialog] = []


def show_bug(parent: QWidget | None, exc: BaseException, details: str) -> None:
    """Show an unexpected exception, non-modally (a worker's failure, an excepthook)."""
    if isinstance(exc, UserError):
        show_message(parent, str(exc))
        return
    summary = f"{type(exc).__name__}: {exc}"
    if len(_open_error_dialogs) >= 3:  # a storm of the same bug: do not bury the window
        print(bug_report_text(summary, details), file=sys.stderr)
        return
    dialog = ErrorDialog(summary, details, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_error_dialogs.append(dialog)
    dialog.destroyed.connect(lambda *_: _open_error_dialogs.remove(dialog)
                             if dialog in _open_error_dialogs else None)
    dialog.show()


class FailuresDialog(QDialog):
    """Files that could not be indexed, each with its reason."""

    def __init__(self, failures: Sequence[tuple[str, str]], parent: QWidget | None = None,
                 title: str = "Files that could not be indexed", intro: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("FailuresDialog")
        self.setMinimumSize(520, 260)
        self.resize(760, 380)
        layout = QVBoxLayout(self)
        n = len(failures)
        self.intro = QLabel(intro or (
            f"{n} file{'s' if n != 1 else ''} could not be indexed. The rest of the "
            "library is unaffected; fix a file and it is picked up again."))
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Why", "Folder"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        for path, raw_reason in failures:
            p = Path(path)
            reason = reason_text(raw_reason)
            item = QTreeWidgetItem([p.name, reason, str(p.parent)])
            item.setToolTip(0, path)
            item.setToolTip(1, reason)
            self.tree.addTopLevelItem(item)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.tree.setItemDelegateForColumn(1, WrapDelegate(self.tree))  # reasons wrap
        self.tree.setItemDelegateForColumn(2, PathDelegate(self.tree))
        layout.addWidget(self.tree)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy list")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(
            "\n".join(f"{p}\t{reason_text(r)}" for p, r in failures)))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class CorrectionDialog(QDialog):
    """Edit an answer into the one it should have been (kept for fine-tuning)."""

    def __init__(self, question: str, answer: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Correct this answer")
        self.setObjectName("CorrectionDialog")
        self.setMinimumSize(480, 320)
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        q = QLabel(f"<b>Question:</b> {html.escape(question)}")
        q.setWordWrap(True)
        layout.addWidget(q)
        hint = QLabel("Write the answer it should have given. Corrected answers are kept with "
                      "your conversation and can be used to fine-tune the model.")
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.editor = QPlainTextEdit(answer)
        font = QFont(self.editor.font())
        self.editor.setFont(font)
        layout.addWidget(self.editor, 1)
        row = QHBoxLayout()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save |
                                        QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row.addStretch(1)
        row.addWidget(self.buttons)
        layout.addLayout(row)

    def text(self) -> str:
        return self.editor.toPlainText()
