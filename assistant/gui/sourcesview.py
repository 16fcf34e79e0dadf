"""The sources pane: the passages an answer cites, then the ones consulted but not cited.

Each card shows the file, its place (page, slide, sheet range, chapter or message) and the
passage, with the span the answer leans on highlighted. Clicking a card opens the document at
that passage. When the answer was not found in the documents, the pane shows the nearest
passages instead, marked as such.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from assistant.answer.lacking import because, lacking
from assistant.gui import desktop, theme
from assistant.gui.chatview import TurnView
from assistant.gui.passages import cited_span, citing_text, question_coverage
from assistant.ingest import places

PASSAGE_CHARS = 700  # how much of a passage a card shows (around the highlighted span)


def hit_key(hit: dict[str, Any]) -> tuple[Any, ...]:
    return (hit.get("path"), hit.get("page"), hit.get("start"), hit.get("end"))


def _valid_span(span: Any, text: str) -> tuple[int, int] | None:
    try:
        start, end = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (start, end) if 0 <= start < end <= len(text) else None


def passage_html(text: str, span: tuple[int, int] | None, limit: int = PASSAGE_CHARS) -> str:
    """The passage as HTML with `span` marked, trimmed to about `limit` characters around it."""
    start, end = span if span else (0, 0)
    lo, hi = 0, len(text)
    if len(text) > limit:
        if span:
            room = max(0, limit - (end - start))
            lo = max(0, start - room // 3)
            hi = min(len(text), max(end, lo + limit))
        else:
            hi = limit
        # move to word boundaries
        while lo > 0 and not text[lo - 1].isspace() and lo < start:
            lo -= 1
        while hi < len(text) and not text[hi].isspace():
            hi += 1
    mark = theme.css(theme.mark_solid())

    def esc(s: str) -> str:
        # reflow: single line breaks (PDF lines) become spaces, blank lines stay paragraphs
        paragraphs = [" ".join(p.split()) for p in s.replace("\r", "").split("\n\n")]
        out = "<br><br>".join(html.escape(p) for p in paragraphs)
        if s[:1].isspace() and out:
            out = " " + out
        if s[-1:].isspace() and out:
            out += " "
        return out

    parts = ["…" if lo > 0 else ""]
    if span and lo <= start < hi:
        parts.append(esc(text[lo:start]))
        parts.append(f'<span style="background-color:{mark};">{esc(text[start:min(end, hi)])}'
                     "</span>")
        parts.append(esc(text[min(end, hi):hi]))
    else:
        parts.append(esc(text[lo:hi]))
    parts.append("…" if hi < len(text) else "")
    return "".join(parts)


MAY_HOLD_IT = 0.6  # share of the question's content words in the closest passage's best match


def nearest_note(hits: list[dict[str, Any]], question: str, reason: str = "") -> str:
    """What to say above the nearest passages of a refusal, true to what they show: what none
    of them gives, when something is (`lacking`: a day, a month, a number, the kind of answer
    asked), else why the answer found was withheld where a check on it refused (`because`:
    `reason` is the refusal's), otherwise whether the closest passage may hold the answer."""
    texts = [str(h.get("text") or "") for h in hits]
    said = lacking(question, [(str(h.get("path") or ""), t)
                              for h, t in zip(hits, texts, strict=True)])
    if said is not None:
        return f"{said}; they are the closest ones found."
    why = because(reason)
    if why is not None:
        return f"{why} These are the closest passages found."
    best = max((question_coverage(t, question) for t in texts[:3]), default=0.0)
    if best >= MAY_HOLD_IT:
        return ("The app was not sure enough to answer, but the closest passage may hold it: "
                "its best match to your question is highlighted.")
    return ("The app was not sure any of these answers the question; they are the closest "
            "passages it found.")


class SourceCard(QFrame):
    """One passage: where it is, its text with the cited span marked; click to open."""

    open_requested = Signal(object, object)  # hit dict, span in the hit text (or None)

    def __init__(self, hit: dict[str, Any], label: str, reference: str, *,
                 dimmed: bool = False, span: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hit = hit
        self.setObjectName("SourceCard")
        self.setProperty("current", False)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        text = str(hit.get("text") or "")
        # The reader's answer span when the answer has one here (the exact words), else the
        # passage sentences the answer leans on most.
        self.span = _valid_span(span, text) or (cited_span(text, reference)
                                                if reference and not dimmed else None)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 9, 12, 10)
        layout.setSpacing(4)
        head = QHBoxLayout()
        head.setSpacing(8)
        self.label = QLabel(label)
        self.label.setObjectName("Badge")
        path = Path(str(hit.get("path", "")))
        where = html.escape(path.name)
        place = places.where(hit.get("page"), hit.get("place"))
        if place:
            where += (f" <span style='color:{theme.css(theme.muted())}'>· "
                      f"{html.escape(place)}</span>")
        self.title = QLabel(f"<b>{where}</b>")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setToolTip(f"{path}\n{place}" if place else str(path))
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        sim = hit.get("similarity")
        # "match" read as the chance that the passage answers, and a cited passage often shows
        # a lower figure than uncited ones: say what it is.
        self.score = QLabel(f"{float(sim) * 100:.0f}% similar" if sim is not None else "")
        self.score.setObjectName("Muted")
        self.score.setToolTip("How similar the passage's meaning is to the question's (search's "
                              "measure). It is not the chance that the passage holds the answer: "
                              "the one that does can score lower than others.")
        if label:
            head.addWidget(self.label)
        head.addWidget(self.title, 1)
        head.addWidget(self.score)
        layout.addLayout(head)
        self.folder = QLabel(str(path.parent))
        self.folder.setObjectName("Muted")
        self.folder.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.folder.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        self.folder.setFont(font)
        layout.addWidget(self.folder)
        self.passage = QLabel(passage_html(text, self.span))
        self.passage.setTextFormat(Qt.TextFormat.RichText)
        self.passage.setWordWrap(True)
        self.passage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        if dimmed:
            self.passage.setStyleSheet(f"color: {theme.css(theme.muted())};")
        layout.addWidget(self.passage)
        self.setToolTip("Click to open the document at this passage")

    def mouseReleaseEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
                event.position().toPoint()):
            self.open_requested.emit(self.hit, self.span)
        super().mouseReleaseEvent(event)

    def set_current(self, on: bool) -> None:
        self.setProperty("current", on)
        self.style().unpolish(self)
        self.style().polish(self)

    def _menu(self, pos: Any) -> None:
        menu = QMenu(self)
        path = str(self.hit.get("path", ""))
        open_here = QAction("Open at this passage", menu)
        open_here.triggered.connect(lambda: self.open_requested.emit(self.hit, self.span))
        system = QAction("Open in the system's app", menu)
        system.triggered.connect(lambda: desktop.open_with_system(path))
        reveal = QAction("Show in folder", menu)
        reveal.triggered.connect(lambda: desktop.show_in_folder(path))
        copy = QAction("Copy passage", menu)
        copy.triggered.connect(
            lambda: QGuiApplication.clipboard().setText(str(self.hit.get("text", ""))))
        for action in (open_here, system, reveal, copy):
            menu.addAction(action)
        menu.exec(self.mapToGlobal(pos))


class SourcesView(QWidget):
    """Sources of the selected answer."""

    open_requested = Signal(object, object)  # hit dict, span within its text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: list[SourceCard] = []
        self.turn: TurnView | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("SourcesScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.contents = QWidget()
        self.contents.setObjectName("SourcesContents")
        self.column = QVBoxLayout(self.contents)
        self.column.setContentsMargins(12, 12, 12, 12)
        self.column.setSpacing(8)
        self.scroll_area.setWidget(self.contents)
        layout.addWidget(self.scroll_area)
        self.show_turn(None)

    def _clear(self) -> None:
        while self.column.count():
            item = self.column.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        self.cards = []

    def _heading(self, text: str, note: str = "") -> None:
        label = QLabel(text)
        label.setObjectName("PaneTitle")
        self.column.addWidget(label)
        if note:
            n = QLabel(note)
            n.setObjectName("Muted")
            n.setWordWrap(True)
            self.column.addWidget(n)

    def _card(self, hit: dict[str, Any], label: str, reference: str, dimmed: bool,
              span: Any = None) -> None:
        card = SourceCard(hit, label, reference, dimmed=dimmed, span=span)
        card.open_requested.connect(self._open)
        self.cards.append(card)
        self.column.addWidget(card)

    def show_turn(self, turn: TurnView | None) -> None:
        self.turn = turn
        self._clear()
        if turn is None or (not turn.citations and not turn.consulted):
            text = ("Sources appear here beside each answer: the passages it cites, then the "
                    "ones it consulted.") if turn is None or not turn.streaming else \
                "Looking for passages…"
            label = QLabel(text)
            label.setObjectName("Muted")
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            self.column.addWidget(label)
            self.column.addStretch(1)
            return
        answer = turn.correction or turn.answer
        cited_keys = set()
        if turn.citations:
            self._heading("Cited in the answer")
            for c in turn.citations:
                hit = c.get("hit") or {}
                cited_keys.add(hit_key(hit))
                self._card(hit, f"[{c.get('n')}]", citing_text(answer, int(c.get("n") or 0)),
                           dimmed=False, span=c.get("span"))
        rest = [h for h in turn.consulted if hit_key(h) not in cited_keys]
        if rest:
            if turn.not_found:
                self._heading("Nearest passages",
                              nearest_note(rest, turn.question, turn.not_found_reason))
            elif not turn.citations:
                self._heading("Passages consulted")
            else:
                self.column.addSpacing(10)
                self._heading("Consulted, not cited",
                              "Given to the model, but the answer does not rely on them.")
            for hit in rest:
                self._card(hit, "", turn.question, dimmed=bool(turn.citations))
        self.column.addStretch(1)
        self.scroll_area.verticalScrollBar().setValue(0)

    def highlight(self, n: int) -> SourceCard | None:
        """Mark citation `n`'s card as current and scroll to it."""
        found = None
        label = f"[{n}]"
        for card in self.cards:
            on = card.label.text() == label
            card.set_current(on)
            if on:
                found = card
        if found is not None:
            self.scroll_area.ensureWidgetVisible(found, 0, 12)
        return found

    def _open(self, hit: dict[str, Any], span: Any) -> None:
        for card in self.cards:
            card.set_current(card.hit is hit)
        self.open_requested.emit(hit, span)
