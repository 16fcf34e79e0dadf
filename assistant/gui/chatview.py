"""The conversation pane: questions, streamed Markdown answers with clickable [n], the composer.

The pane only shows state and emits what the user asked for; the main window does the work.
Each answer has its actions (copy, regenerate, good answer, correct…) beneath it; selecting an
answer shows its sources in the sources pane beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.answer.support import QUOTE_LEAD, is_span_answer
from assistant.gui import theme
from assistant.gui.composer import Composer, EmptyState
from assistant.gui.passages import link_citations
from assistant.ingest import places

RENDER_INTERVAL_MS = 50  # streamed text is re-rendered at most this often
COLUMN_WIDTH = 860  # the conversation column's greatest width, for readable lines


@dataclass
class TurnView:
    """What the pane shows for one question and its answer (hits are plain dicts)."""

    id: int
    question: str
    answer: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # [{"n": 1, "hit": {...}}]
    consulted: list[dict[str, Any]] = field(default_factory=list)
    not_found: bool = False
    not_found_reason: str = ""  # why a refusal refused (`Answer.not_found_reason`)
    streaming: bool = False
    stopped: bool = False
    status: str = ""
    rating: str | None = None
    correction: str | None = None
    error: str | None = None
    citation_source: str | None = None

    @property
    def grounding(self) -> str:
        """Which case the answer is: "answered", "quoted", "not_found" (or "" without sources).

        Read from what the turn holds, so saved conversations show it too.
        """
        if self.not_found:
            return "not_found"
        if self.answer.startswith(QUOTE_LEAD) or self.is_reader_quote:
            return "quoted"
        return "answered" if self.citations else ""

    @property
    def is_reader_quote(self) -> bool:
        """Whether the answer is the reader's span, quoted word for word (“…” [n])."""
        return bool(self.citations) and is_span_answer(self.answer)

    @property
    def cited_numbers(self) -> set[int]:
        return {int(c["n"]) for c in self.citations if c.get("n") is not None}


class AnswerBrowser(QTextBrowser):
    """A read-only rich-text view that is exactly as tall as its text (no scroll bar)."""

    citation_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AnswerText")
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.anchorClicked.connect(self._anchor)
        self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        self._fit()

    def _fit(self, *_: Any) -> None:
        height = int(self.document().size().height() + 0.999)
        margins = self.contentsMargins()
        self.setFixedHeight(max(8, height + margins.top() + margins.bottom()))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())

    def wheelEvent(self, event: Any) -> None:
        event.ignore()

    def _anchor(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            try:
                self.citation_clicked.emit(int(url.path()))
            except ValueError:
                pass
        elif url.scheme() in ("http", "https", "mailto", "file"):
            QDesktopServices.openUrl(url)


_emoji: bool | None = None


def has_emoji_font() -> bool:
    """Whether an emoji font is installed (bare systems draw boxes for 👍)."""
    global _emoji
    if _emoji is None:
        from PySide6.QtGui import QFontDatabase

        _emoji = any("emoji" in family.lower() for family in QFontDatabase.families())
    return _emoji


def _action(text: str, tip: str, checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setObjectName("Action")
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    button.setAutoRaise(True)
    return button


class TurnWidget(QFrame):
    """One question (in a bubble) and its answer with actions beneath."""

    selected = Signal(int)
    citation_clicked = Signal(int, int)
    regenerate = Signal(int)
    rate = Signal(int, object)  # turn id, "good" | "bad" | None
    correct = Signal(int)
    show_sources = Signal(int)

    def __init__(self, turn: TurnView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turn = turn
        self.setObjectName("TurnCard")
        self.setProperty("selected", False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.setSpacing(6)

        bubble_row = QHBoxLayout()
        bubble_row.addStretch(1)
        self.bubble = QFrame()
        self.bubble.setObjectName("QuestionBubble")
        bubble_layout = QVBoxLayout(self.bubble)
        bubble_layout.setContentsMargins(14, 9, 14, 9)
        self.question = QLabel()
        self.question.setWordWrap(True)
        self.question.setTextFormat(Qt.TextFormat.PlainText)
        self.question.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bubble_layout.addWidget(self.question)
        self.bubble.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        bubble_row.addWidget(self.bubble, 0)
        layout.addLayout(bubble_row)

        self.status = QLabel()
        self.status.setObjectName("Muted")
        layout.addWidget(self.status)

        self.browser = AnswerBrowser()
        reading = self.browser.font()
        reading.setPointSizeF(reading.pointSizeF() * 1.1)
        self.browser.setFont(reading)
        self.question.setFont(reading)
        self.browser.citation_clicked.connect(lambda n: self.citation_clicked.emit(self.turn.id, n))
        layout.addWidget(self.browser)

        self.footer = QWidget()
        row = QHBoxLayout(self.footer)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        emoji = has_emoji_font()
        self.sources_button = _action("Sources", "Show the passages this answer is based on")
        self.copy_button = _action("Copy", "Copy the answer (with its sources) to the clipboard")
        self.regen_button = _action("Regenerate", "Answer this question again")
        self.good_button = _action("👍 Good" if emoji else "✓ Good",
                                   "👍 Good answer: keep it as an example for fine-tuning",
                                   checkable=True)
        self.bad_button = _action("👎" if emoji else "✗", "Mark as a bad answer",
                                  checkable=True)
        self.correct_button = _action("Correct…", "Correct this answer: write the answer it "
                                      "should have given (kept for fine-tuning)")
        self.badge = QLabel()
        self.badge.setObjectName("Badge")
        self.badge.hide()
        for w in (self.sources_button, self.copy_button, self.regen_button, self.good_button,
                  self.bad_button, self.correct_button):
            row.addWidget(w)
        row.addStretch(1)
        badge_row = QHBoxLayout()
        badge_row.setContentsMargins(0, 0, 0, 0)
        badge_row.addWidget(self.badge)
        badge_row.addStretch(1)
        layout.addLayout(badge_row)
        layout.addWidget(self.footer)

        self.sources_button.clicked.connect(lambda: self.show_sources.emit(self.turn.id))
        self.copy_button.clicked.connect(self.copy)
        self.regen_button.clicked.connect(lambda: self.regenerate.emit(self.turn.id))
        self.good_button.clicked.connect(
            lambda on: self.rate.emit(self.turn.id, "good" if on else None))
        self.bad_button.clicked.connect(
            lambda on: self.rate.emit(self.turn.id, "bad" if on else None))
        self.correct_button.clicked.connect(lambda: self.correct.emit(self.turn.id))

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_answer)
        self._rendered: str | None = None
        self.refresh()

    def mousePressEvent(self, event: Any) -> None:
        self.selected.emit(self.turn.id)
        super().mousePressEvent(event)

    def set_selected(self, on: bool) -> None:
        if self.property("selected") != on:
            self.setProperty("selected", on)
            self.style().unpolish(self)
            self.style().polish(self)

    # --- rendering --------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the turn's current state (cheap parts now, the answer text throttled)."""
        t = self.turn
        self.question.setText(t.question)
        status = t.status if t.streaming else ""
        if t.error:
            status = t.error
        self.status.setText(status)
        self.status.setVisible(bool(status))
        self.footer.setVisible(not t.streaming)
        n = len(t.citations) or len(t.consulted)
        self.sources_button.setText(f"Sources ({len(t.citations)})" if t.citations else
                                    (f"Nearest passages ({n})" if n else "Sources"))
        self.sources_button.setEnabled(bool(n))
        self.good_button.setChecked(t.rating == "good")
        self.bad_button.setChecked(t.rating == "bad" and not t.correction)
        has_answer = bool(t.answer.strip())
        for b in (self.copy_button, self.good_button, self.bad_button, self.correct_button):
            b.setEnabled(has_answer)
        if t.correction:
            self.badge.setText("Corrected")
            self.badge.setToolTip("You corrected this answer")
            self.badge.show()
        elif t.stopped:
            self.badge.setText("Stopped")
            self.badge.setToolTip("Generation was stopped before the answer was complete")
            self.badge.show()
        elif t.grounding == "quoted" and not t.streaming and t.is_reader_quote:
            numbers = "".join(f"[{n}]" for n in sorted(t.cited_numbers))
            self.badge.setText(f"Quoted from {numbers}")
            self.badge.setToolTip("The passage's own words, where the app's reader found the "
                                  "answer (the model's answer disagreed or was not supported)")
            self.badge.show()
        elif t.grounding == "quoted" and not t.streaming:
            self.badge.setText("Quoted from a passage")
            self.badge.setToolTip("The model's own answer was not supported by the passages, so "
                                  "the sentence that best matches your question is quoted")
            self.badge.show()
        elif t.grounding == "not_found" and not t.streaming:
            self.badge.setText("Not in your documents")
            self.badge.setToolTip("No passage holds the answer; the nearest ones are shown")
            self.badge.show()
        elif t.grounding == "answered" and not t.streaming:
            numbers = "".join(f"[{n}]" for n in sorted(t.cited_numbers))
            self.badge.setText(f"Answered from {numbers}")
            self.badge.setToolTip(
                "Every sentence was checked against the passage it cites" +
                ("; the model did not cite its sources itself, so each sentence was matched "
                 "to the passage it repeats" if t.citation_source == "inferred" else ""))
            self.badge.show()
        else:
            self.badge.hide()
        self.schedule_render(immediate=not t.streaming)

    def schedule_render(self, immediate: bool = False) -> None:
        if immediate:
            self._render_timer.stop()
            self._render_answer()
        elif not self._render_timer.isActive():
            self._render_timer.start()

    def _markdown(self) -> str:
        t = self.turn
        text = t.correction or t.answer
        body = link_citations(text, t.cited_numbers)
        if t.correction:
            body += "\n\n*Corrected by you. The original answer is kept in the history.*"
        if t.streaming and not text:
            return ""
        if not text and t.stopped:
            return "*Stopped before the model wrote anything.*"
        if t.streaming:
            body += " ▍"
        return body

    def _render_answer(self) -> None:
        markdown = self._markdown()
        if markdown == self._rendered:
            return
        self._rendered = markdown
        doc = self.browser.document()
        doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownDialectGitHub |
                        QTextDocument.MarkdownFeature.MarkdownNoHTML)
        if self.turn.not_found and not self.turn.correction:
            self.browser.setStyleSheet(f"color: {theme.css(theme.muted())};")
        else:
            self.browser.setStyleSheet("")
        self.browser.setVisible(bool(markdown))

    def copy(self) -> None:
        t = self.turn
        text = t.correction or t.answer
        if t.citations:
            lines = [text.rstrip(), "", "Sources:"]
            for c in t.citations:
                hit = c.get("hit") or {}
                where = str(hit.get("path", ""))
                place = places.where(hit.get("page"), hit.get("place"))
                if place:
                    where += f", {place}"
                lines.append(f"[{c.get('n')}] {where}")
            text = "\n".join(lines)
        # setText, not setMimeData(QMimeData()): a Python-made QMimeData owned by the clipboard
        # is destroyed by Qt after Python has shut down, which crashed the process at exit.
        QGuiApplication.clipboard().setText(text)


class ChatView(QWidget):
    """The conversation: an empty state or the turns, and the composer beneath."""

    ask = Signal(str)
    stop = Signal()
    citation_clicked = Signal(int, int)
    turn_selected = Signal(int)
    regenerate = Signal(int)
    rate = Signal(int, object)
    correct = Signal(int)
    add_files = Signal()
    add_folder = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turns: dict[int, TurnWidget] = {}
        self.selected_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        self.stack = QStackedWidget()
        self.empty = EmptyState()
        self.empty.add_files.connect(self.add_files)
        self.empty.add_folder.connect(self.add_folder)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("ChatScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        contents = QWidget()
        contents.setObjectName("ChatContents")
        outer = QHBoxLayout(contents)
        outer.setContentsMargins(16, 12, 16, 12)
        self.column = QWidget()
        self.column.setMaximumWidth(COLUMN_WIDTH)
        self.column_layout = QVBoxLayout(self.column)
        self.column_layout.setContentsMargins(0, 0, 0, 0)
        self.column_layout.setSpacing(14)
        self.column_layout.addStretch(1)
        outer.addStretch(0)
        outer.addWidget(self.column, 1)
        outer.addStretch(0)
        self.scroll_area.setWidget(contents)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll_area)
        layout.addWidget(self.stack, 1)

        bottom = QWidget()
        bottom.setObjectName("ChatContents")
        bottom.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        b = QHBoxLayout(bottom)
        b.setContentsMargins(16, 8, 16, 12)
        self.composer = Composer()
        self.composer.setMaximumWidth(COLUMN_WIDTH)
        b.addWidget(self.composer)
        layout.addWidget(bottom)
        self.composer.ask.connect(self.ask)
        self.composer.stop.connect(self.stop)
        self._stick_to_bottom = True
        self.scroll_area.verticalScrollBar().rangeChanged.connect(self._range_changed)
        self.scroll_area.verticalScrollBar().valueChanged.connect(self._value_changed)

    # --- content ---------------------------------------------------------------------
    def clear(self) -> None:
        for widget in self.turns.values():
            widget.setParent(None)
            widget.deleteLater()
        self.turns.clear()
        self.selected_id = None
        self.stack.setCurrentWidget(self.empty)

    def set_turns(self, turns: list[TurnView]) -> None:
        self.clear()
        for turn in turns:
            self.add_turn(turn, select=False)
        if turns:
            self.select(turns[-1].id)
        self._stick_to_bottom = True
        QTimer.singleShot(0, self.scroll_to_bottom)

    def add_turn(self, turn: TurnView, select: bool = True) -> TurnWidget:
        widget = TurnWidget(turn)
        widget.selected.connect(self.select)
        widget.selected.connect(self.turn_selected)
        widget.citation_clicked.connect(self.citation_clicked)
        widget.regenerate.connect(self.regenerate)
        widget.rate.connect(self.rate)
        widget.correct.connect(self.correct)
        widget.show_sources.connect(self.select)
        widget.show_sources.connect(self.turn_selected)
        self.column_layout.insertWidget(self.column_layout.count() - 1, widget)
        self.turns[turn.id] = widget
        self.stack.setCurrentWidget(self.scroll_area)
        if select:
            self.select(turn.id)
            self._stick_to_bottom = True
            QTimer.singleShot(0, self.scroll_to_bottom)
        return widget

    def update_turn(self, turn: TurnView) -> None:
        widget = self.turns.get(turn.id)
        if widget is not None:
            widget.turn = turn
            widget.refresh()

    def append_token(self, turn_id: int, piece: str) -> None:
        widget = self.turns.get(turn_id)
        if widget is not None:
            widget.turn.answer += piece
            widget.schedule_render()

    def select(self, turn_id: int) -> None:
        self.selected_id = turn_id
        for tid, widget in self.turns.items():
            widget.set_selected(tid == turn_id)

    def turn(self, turn_id: int) -> TurnView | None:
        widget = self.turns.get(turn_id)
        return widget.turn if widget is not None else None

    def set_busy(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        for widget in self.turns.values():
            widget.regen_button.setEnabled(not busy)

    # --- scrolling: follow the stream while the user is at the bottom --------------------
    def _value_changed(self, value: int) -> None:
        bar = self.scroll_area.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 24

    def _range_changed(self, _low: int, high: int) -> None:
        if self._stick_to_bottom:
            self.scroll_area.verticalScrollBar().setValue(high)

    def scroll_to_bottom(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())

    def focus_question(self) -> None:
        self.composer.box.setFocus(Qt.FocusReason.ShortcutFocusReason)
