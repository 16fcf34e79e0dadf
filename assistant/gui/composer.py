"""The composer under the conversation: the question box with its Send / Stop button, and
what an empty conversation shows (how to start). Split from `chatview`, which shows turns."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from assistant.gui import theme


class QuestionBox(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line; grows with its text up to a few lines."""

    submit = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("QuestionBox")
        self.setPlaceholderText("Ask about your documents…   (Enter to send, Shift+Enter for a "
                                "new line)")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit()

    def _fit(self, *_: Any) -> None:
        line = self.fontMetrics().lineSpacing()
        lines = max(1, min(6, int(self.document().size().height())))
        margins = self.contentsMargins()
        doc_margin = int(self.document().documentMargin() * 2)
        self.setFixedHeight(lines * line + doc_margin + margins.top() + margins.bottom() + 2)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            mods = event.modifiers()
            if mods & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
                return
            if not mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
                self.submit.emit()
                return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        # Files dropped here are for indexing (the window handles them), not to paste paths.
        if source.hasUrls() and any(u.isLocalFile() for u in source.urls()):
            return False
        return super().canInsertFromMimeData(source)


class EmptyState(QWidget):
    """What a new conversation shows: how to start (drop documents, or ask)."""

    add_files = Signal()
    add_folder = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatContents")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        self.icon = QLabel()
        self.icon.setPixmap(theme.app_icon().pixmap(QSize(88, 88)))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setObjectName("EmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setObjectName("EmptyText")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setMaximumWidth(560)
        self.text.setMinimumWidth(360)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.files_button = QPushButton("Add files…")
        self.files_button.setObjectName("Primary")
        self.folder_button = QPushButton("Add folder…")
        self.files_button.clicked.connect(self.add_files)
        self.folder_button.clicked.connect(self.add_folder)
        buttons.addWidget(self.files_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout.addWidget(self.icon)
        layout.addSpacing(8)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.text)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addStretch(3)
        self.set_library(0, "default")

    def set_library(self, documents: int, collection: str, indexing: bool = False) -> None:
        if documents == 0 and indexing:
            self.title.setText("Reading your documents…")
            self.text.setText(
                "Indexing runs in the background: the progress is at the bottom of the window. "
                "You can ask questions as soon as the first documents are in.")
            self.files_button.hide()
            self.folder_button.hide()
        elif documents == 0:
            self.title.setText("Drop your documents here")
            self.text.setText(
                "Drag files or folders anywhere onto this window — PDF, Word, PowerPoint, "
                "Excel, OpenDocument, EPUB, RTF, saved mail (.eml, .mbox), Markdown, HTML, "
                "text, source code, and scans and photos of pages (read by OCR). They are "
                "read on this computer and never leave it. Folders you add are kept in sync "
                "as their files change.")
            self.files_button.show()
            self.folder_button.show()
        else:
            self.title.setText("Ask about your documents")
            self.text.setText(
                f"{documents} document{'s' if documents != 1 else ''} in “{html.escape(collection)}”"
                " are ready. Answers cite the passages they come from; click a [1] marker to "
                "see it in the document. Drop more files here at any time.")
            self.files_button.hide()
            self.folder_button.hide()


class Composer(QFrame):
    """The question box with its Send / Stop button."""

    ask = Signal(str)
    stop = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Composer")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.box = QuestionBox()
        self.box.installEventFilter(self)
        self.send = QPushButton("Send")
        self.send.setObjectName("Primary")
        self.send.setToolTip("Send the question (Enter)")
        self.send.setCursor(Qt.CursorShape.PointingHandCursor)
        layout.addWidget(self.box, 1)
        layout.addWidget(self.send, 0, Qt.AlignmentFlag.AlignBottom)
        self.busy = False
        self.box.submit.connect(self._submit)
        self.send.clicked.connect(self._clicked)
        self.box.textChanged.connect(self._update)
        self._update()

    def eventFilter(self, obj: Any, event: QEvent) -> bool:
        if obj is self.box and event.type() in (QEvent.Type.FocusIn, QEvent.Type.FocusOut):
            self.setProperty("focused", event.type() == QEvent.Type.FocusIn)
            self.style().unpolish(self)
            self.style().polish(self)
        return super().eventFilter(obj, event)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.send.setText("Stop" if busy else "Send")
        self.send.setToolTip("Stop generating (Esc)" if busy else "Send the question (Enter)")
        self._update()

    def _update(self) -> None:
        self.send.setEnabled(self.busy or bool(self.box.toPlainText().strip()))

    def _clicked(self) -> None:
        if self.busy:
            self.stop.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        if self.busy:
            return
        text = self.box.toPlainText().strip()
        if not text:
            return
        self.box.clear()
        self.ask.emit(text)
