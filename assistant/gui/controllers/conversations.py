"""Conversations and answering: the sidebar's list of conversations, the chat, and the answers
streamed into it from the model worker.

An answer's life: `ask` (or `regenerate`) stores the question and starts one job on the
model worker; tokens and status lines stream into the turn; `_answer_done` fills the turn from
the finished `Answer` (`fill_turn`), saves it, and emits `answer_finished`. Only one answer
runs at a time. To show more about an answer, add it to `TurnView` and set it in `fill_turn`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
)

from assistant.errors import UserError
from assistant.gui import dialogs
from assistant.gui.chatview import ChatView, TurnView
from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.indexing import IndexingController
from assistant.gui.controllers.library import LibraryController
from assistant.gui.controllers.settings import SettingsController
from assistant.gui.controllers.sources import SourcesController
from assistant.gui.dialogs import CorrectionDialog, show_bug
from assistant.gui.history import StoredTurn, hit_to_dict
from assistant.gui.passages import renumber_citations
from assistant.gui.tasks import Failure, Job
from assistant.gui.titlelist import SUFFIX_ROLE, TITLE_ROLE, TitleDelegate

WINDOW_TITLE = "Knowledge Assistant"


def turn_view(stored: StoredTurn) -> TurnView:
    """A saved turn as the chat shows it."""
    return TurnView(id=stored.id, question=stored.question, answer=stored.answer,
                    citations=stored.citations, consulted=stored.consulted,
                    not_found=stored.not_found, stopped=stored.stopped, rating=stored.rating,
                    correction=stored.correction, citation_source=stored.citation_source,
                    not_found_reason=stored.not_found_reason or "")


def _citation(citation: Any, answer: Any) -> dict[str, Any]:
    """A citation as the chat keeps it; the reader's answer span in its passage, where the
    answer has one there, rides along so the card and the viewer highlight those words."""
    out: dict[str, Any] = {"n": citation.n, "hit": hit_to_dict(citation.hit)}
    span = getattr(answer, "span", None)
    if span is not None and span.n == citation.n and span.end > span.start:
        out["span"] = [int(span.start), int(span.end)]
    return out


def fill_turn(turn: TurnView, answer: Any) -> None:
    """Copy a finished `Answer` (assistant.answer) into the turn the chat shows."""
    # citations are numbered by their order in the answer ([1] first), for display only
    turn.answer, turn.citations = renumber_citations(
        answer.text, [_citation(c, answer) for c in answer.citations])
    turn.consulted = [hit_to_dict(h) for h in answer.consulted]
    turn.not_found = bool(answer.not_found)
    turn.not_found_reason = str(getattr(answer, "not_found_reason", "") or "")
    turn.stopped = bool(getattr(answer, "cancelled", False))
    turn.citation_source = getattr(answer, "citation_source", None)


def when_text(ts: float, now: float | None = None) -> str:
    """"14:02" today, "yesterday", "3 Dec" this year, "3 Dec 2025" before."""
    t, today = time.localtime(ts), time.localtime(now)
    day = time.strftime("%Y-%m-%d", t)
    if day == time.strftime("%Y-%m-%d", today):
        return time.strftime("%H:%M", t)
    yesterday = time.localtime(time.mktime(today) - 86_400)
    if day == time.strftime("%Y-%m-%d", yesterday):
        return "yesterday"
    if t.tm_year == today.tm_year:
        return f"{t.tm_mday} {time.strftime('%b', t)}"
    return f"{t.tm_mday} {time.strftime('%b %Y', t)}"


def list_titles(conversations: list[Any], now: float | None = None,
                ) -> dict[int, tuple[str, str]]:
    """What the sidebar shows for each conversation: (its title, what tells it apart: a
    number where titles repeat, counted from the oldest, and when it was last used)."""
    seen: dict[str, int] = {}
    out: dict[int, tuple[str, str]] = {}
    for conv in sorted(conversations, key=lambda c: (c.created, c.id)):
        seen[conv.title] = seen.get(conv.title, 0) + 1
        number = f"({seen[conv.title]}) · " if seen[conv.title] > 1 else ""
        out[conv.id] = (conv.title, number + when_text(conv.updated, now))
    return out


def timing_note(turn: TurnView, seconds: float) -> str:
    """The status bar's note when an answer is done: what happened and how long it took."""
    took = "under 0.1 s" if seconds < 0.05 else f"{seconds:.1f} s"
    if turn.not_found:
        return f"Not found in your documents (searched in {took})"
    return f"Answered in {took}"


class ConversationsController(QObject):
    """Owns `chat`, the sidebar's `new_button`, `search` and `conversation_list`, and the
    conversation actions (new, rename, delete, export, focus, stop)."""

    answer_finished = Signal(int)  # turn id

    def __init__(self, context: AppContext, sources: SourcesController,
                 library: LibraryController, indexing: IndexingController,
                 settings: SettingsController) -> None:
        super().__init__(context.window)
        self.context = context
        self.history = context.history
        self.backend = context.backend
        self.sources = sources
        self.library = library
        self.indexing = indexing
        self.settings_controller = settings
        self.conversation_id: int | None = None
        self.answer_job: Job | None = None
        self.answer_turn: int | None = None

        action = context.action
        self.new_action = action("New conversation", self.new_conversation, "Ctrl+N",
                                 "Start a new conversation (Ctrl+N)")
        self.export_action = action("Export conversation…", self.export_conversation,
                                    "Ctrl+E", "Save this conversation as Markdown")
        self.focus_action = action("Focus the question box", self.focus_question, "Ctrl+L")
        self.stop_action = action("Stop generating", self.stop_answer, "Esc")
        self.stop_action.setEnabled(False)
        self.rename_action = action("Rename conversation…", self.rename_conversation, "F2")
        self.delete_action = action("Delete conversation…", self.delete_conversation)

        self.new_button = QPushButton("+  New conversation")
        self.new_button.setObjectName("Primary")
        self.new_button.clicked.connect(self.new_conversation)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _: self.refresh())
        self.search_shortcut = QShortcut(QKeySequence("Ctrl+K"), context.window)
        self.search_shortcut.activated.connect(lambda: self.search.setFocus())
        self.conversation_list = QListWidget()
        self.conversation_list.setObjectName("Conversations")
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # the title is cut where it must be; its number and time beside it never are
        self.conversation_list.setItemDelegate(TitleDelegate(self.conversation_list))
        self.conversation_list.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setUniformItemSizes(True)
        self.conversation_list.itemClicked.connect(self._conversation_clicked)
        self.conversation_list.itemActivated.connect(self._conversation_clicked)
        self.conversation_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversation_list.customContextMenuRequested.connect(self._conversation_menu)

        self.chat = ChatView()
        self.chat.setMinimumWidth(420)
        self.chat.ask.connect(self.ask)
        self.chat.stop.connect(self.stop_answer)
        self.chat.citation_clicked.connect(self.open_citation)
        self.chat.turn_selected.connect(self._turn_selected)
        self.chat.regenerate.connect(self.regenerate)
        self.chat.rate.connect(self.rate)
        self.chat.correct.connect(self.correct)
        self.chat.add_files.connect(indexing.choose_files)
        self.chat.add_folder.connect(indexing.choose_folder)
        # the empty chat says what the library holds ("drop your documents here", ...)
        library.refreshed.connect(lambda _: self._show_library_state())
        indexing.files_indexed.connect(self._documents_arriving)

    def _show_library_state(self) -> None:
        self.chat.empty.set_library(self.library.active_documents, self.context.collection,
                                    indexing=self.indexing.running)

    def _documents_arriving(self) -> None:
        if not self.library.active_documents:
            self.chat.empty.set_library(0, self.context.collection, indexing=True)

    # ------------------------------------------------------------------ conversations
    def refresh(self) -> None:
        """List the conversations that match the search box."""
        self.conversation_list.blockSignals(True)
        self.conversation_list.clear()
        names = list_titles(self.history.conversations())
        for conv in self.history.conversations(self.search.text()):
            title, suffix = names.get(conv.id, (conv.title, ""))
            item = QListWidgetItem(f"{title} · {suffix}" if suffix else title)
            item.setData(TITLE_ROLE, title)
            item.setData(SUFFIX_ROLE, suffix)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated))
            item.setToolTip(f"{conv.title}\n{conv.turns} question"
                            f"{'s' if conv.turns != 1 else ''} · {when}")
            self.conversation_list.addItem(item)
            if conv.id == self.conversation_id:
                self.conversation_list.setCurrentItem(item)
        self.conversation_list.blockSignals(False)
        has = self.conversation_id is not None
        for a in (self.export_action, self.rename_action, self.delete_action):
            a.setEnabled(has)

    def _conversation_clicked(self, item: QListWidgetItem) -> None:
        cid = item.data(Qt.ItemDataRole.UserRole)
        if cid != self.conversation_id:
            self.open_conversation(int(cid))
        self.context.show_page("chat")

    def open_conversation(self, conversation_id: int) -> None:
        if self.answer_job is not None:
            self.stop_answer()
        self.conversation_id = conversation_id
        turns = [turn_view(t) for t in self.history.turns(conversation_id)]
        self.chat.set_turns(turns)
        self.sources.show_turn(turns[-1] if turns else None)
        self.refresh()
        conv = self.history.conversation(conversation_id)
        self.context.window.setWindowTitle(f"{conv.title} — {WINDOW_TITLE}" if conv else
                                           WINDOW_TITLE)

    def new_conversation(self) -> None:
        if self.answer_job is not None:
            self.stop_answer()
        self.conversation_id = None
        self.chat.clear()
        self.sources.show_turn(None)
        self.refresh()
        self.conversation_list.clearSelection()
        self.context.window.setWindowTitle(WINDOW_TITLE)
        self.context.show_page("chat")
        self.focus_question()

    def _conversation_menu(self, pos: Any) -> None:
        item = self.conversation_list.itemAt(pos)
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self.context.window)
        menu.addAction("Rename…").triggered.connect(lambda: self.rename_conversation(cid))
        menu.addAction("Export to Markdown…").triggered.connect(
            lambda: self.export_conversation(cid))
        menu.addSeparator()
        menu.addAction("Delete…").triggered.connect(lambda: self.delete_conversation(cid))
        menu.exec(self.conversation_list.viewport().mapToGlobal(pos))

    def _conversation(self, conversation_id: Any) -> Any:
        """The conversation named (by a context menu) or else the open one, or None."""
        cid = conversation_id if isinstance(conversation_id, int) else self.conversation_id
        return self.history.conversation(cid) if cid is not None else None

    def rename_conversation(self, conversation_id: Any = None) -> None:
        conv = self._conversation(conversation_id)
        if conv is None:
            return
        title, ok = QInputDialog.getText(self.context.window, "Rename conversation", "Title:",
                                         QLineEdit.EchoMode.Normal, conv.title)
        if ok:
            try:
                self.history.rename(conv.id, title)
            except UserError as exc:
                self.context.tell(str(exc))
            self.refresh()

    def delete_conversation(self, conversation_id: Any = None) -> None:
        conv = self._conversation(conversation_id)
        if conv is None:
            return
        if not dialogs.confirm(self.context.window, "Delete conversation",
                               f"Delete “{conv.title}” and its {conv.turns} answer"
                               f"{'s' if conv.turns != 1 else ''}? This cannot be undone.",
                               "Delete"):
            return
        self.history.delete(conv.id)
        if conv.id == self.conversation_id:
            self.new_conversation()
        self.refresh()

    def export_conversation(self, conversation_id: Any = None) -> None:
        conv = self._conversation(conversation_id)
        if conv is None:
            self.context.tell("Open a conversation to export it.",
                              icon=QMessageBox.Icon.Information)
            return
        safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in conv.title).strip()
        default = str(Path.home() / f"{safe or 'conversation'}.md")
        path, _ = QFileDialog.getSaveFileName(self.context.window, "Export conversation",
                                              default, "Markdown (*.md);;All files (*)")
        if not path:
            return
        try:
            Path(path).write_text(self.history.export_markdown(conv.id), encoding="utf-8")
        except OSError as exc:
            self.context.tell(f"The conversation could not be saved to {path}: "
                              f"{exc.strerror or exc}.")
            return
        self.context.notify(f"Exported “{conv.title}” to {path}", 8000)

    # ------------------------------------------------------------------ answering
    def focus_question(self) -> None:
        self.context.show_page("chat")
        self.chat.focus_question()

    def _history_for(self, turn_id: int | None = None) -> list[Any]:
        """The earlier questions and answers the model sees (those before `turn_id`)."""
        from assistant.answer import Turn

        if self.conversation_id is None:
            return []
        turns = []
        for stored in self.history.turns(self.conversation_id):
            if turn_id is not None and stored.id == turn_id:
                break
            if stored.best_answer.strip():
                turns.append(Turn(question=stored.question, answer=stored.best_answer))
        return turns

    def ask(self, question: str) -> int | None:
        """Ask `question` in the current conversation; returns the new turn's id."""
        if self.answer_job is not None:
            return None
        if self.conversation_id is None:
            self.conversation_id = self.history.create().id
        history = self._history_for()
        stored = self.history.add_turn(self.conversation_id, question,
                                       collection=self.context.collection,
                                       adapter=self.context.settings["lora_path"] or None)
        waiting = self.backend.state.phase in ("preparing", "loading")
        turn = TurnView(id=stored.id, question=question, streaming=True,
                        status="Waiting for the model to load…" if waiting
                        else "Searching your documents…")
        self.chat.add_turn(turn)
        self.sources.show_turn(turn, bring_forward=True)
        self.refresh()
        self._start_answer(turn, history)
        return turn.id

    def regenerate(self, turn_id: int) -> None:
        """Answer a question again, in place (its rating and correction are cleared)."""
        if self.answer_job is not None:
            return
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        history = self._history_for(turn_id)
        fresh = TurnView(id=turn.id, question=turn.question, streaming=True,
                         status="Answering again…")
        self.chat.update_turn(fresh)
        self.chat.select(turn.id)
        self.sources.show_turn(fresh)
        self._start_answer(fresh, history)

    def _start_answer(self, turn: TurnView, history: list[Any]) -> None:
        self.answer_turn = turn.id
        self.chat.set_busy(True)
        self.stop_action.setEnabled(True)
        started = time.monotonic()

        def on_token(piece: str) -> None:
            if turn.status:
                turn.status = ""
                self.chat.update_turn(turn)
            self.chat.append_token(turn.id, piece)

        def on_status(text: str) -> None:
            turn.status = text
            self.chat.update_turn(turn)

        def success(answer: Any) -> None:
            self._answer_done(turn, answer, stopped=False, seconds=time.monotonic() - started)

        def failure(fail: Failure) -> None:
            if fail.is_cancelled:
                self._answer_done(turn, None, stopped=True)
                return
            self._answer_done(turn, None, stopped=False,
                              error=str(fail.exception) if isinstance(fail.exception, UserError)
                              else "The answer failed because of a bug; see the report.")
            if not isinstance(fail.exception, UserError):
                show_bug(self.context.window, fail.exception, fail.traceback)

        self.answer_job = self.backend.ask(
            turn.question, history=history, collection=self.context.collection,
            on_token=on_token, on_status=on_status, success=success, failure=failure)

    def _answer_done(self, turn: TurnView, answer: Any, *, stopped: bool,
                     error: str | None = None, seconds: float = 0.0) -> None:
        self.answer_job = None
        self.answer_turn = None
        self.chat.set_busy(False)
        self.stop_action.setEnabled(False)
        turn.streaming = False
        turn.status = ""
        turn.error = error
        turn.rating = None
        turn.correction = None
        if answer is not None:
            fill_turn(turn, answer)
        else:
            turn.stopped = stopped
        self.history.save_answer(turn.id, turn.answer, citations=turn.citations,
                                 consulted=turn.consulted, not_found=turn.not_found,
                                 stopped=turn.stopped, citation_source=turn.citation_source,
                                 not_found_reason=turn.not_found_reason,
                                 model=self.settings_controller.model_name,
                                 adapter=self.context.settings["lora_path"] or None)
        self.chat.update_turn(turn)
        if self.chat.selected_id == turn.id:
            self.sources.show_turn(turn)
        self.refresh()
        if seconds:
            self.context.notify(timing_note(turn, seconds), 6000)
        self.answer_finished.emit(turn.id)

    def stop_answer(self) -> None:
        if self.answer_job is not None:
            self.answer_job.cancel()
            self.context.notify("Stopping…", 2000)

    def shutdown(self) -> None:
        """At close: stop a running answer (the model worker stops with the backend)."""
        if self.answer_job is not None:
            self.answer_job.cancel()

    # ------------------------------------------------------------------ one answer
    def _turn_selected(self, turn_id: int) -> None:
        turn = self.chat.turn(turn_id)
        if turn is not None:
            self.sources.show_turn(turn, bring_forward=True)

    def open_citation(self, turn_id: int, n: int) -> None:
        """[n] clicked in an answer: select that answer and open the cited passage."""
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        if not self.sources.showing(turn_id):
            self.chat.select(turn_id)
        self.sources.open_citation(turn, n)

    def rate(self, turn_id: int, rating: Any) -> None:
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        self.history.set_rating(turn_id, rating)
        turn.rating = rating
        if rating == "good" and turn.correction:
            self.history.set_correction(turn_id, None)
            self.history.set_rating(turn_id, "good")
            turn.correction = None
        self.chat.update_turn(turn)
        if rating == "good":
            self.context.notify("Marked as a good answer; it can be used to fine-tune the "
                                "model.", 6000)

    def correct(self, turn_id: int) -> None:
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        dialog = CorrectionDialog(turn.question, turn.correction or turn.answer,
                                  self.context.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def save() -> None:
            text = dialog.text().strip()
            if text == turn.answer.strip():
                text = ""
            self.history.set_correction(turn_id, text or None)
            turn.correction = text or None
            turn.rating = "bad" if text else turn.rating
            self.chat.update_turn(turn)
            if self.chat.selected_id == turn_id:
                self.sources.show_turn(turn)

        dialog.accepted.connect(save)
        dialog.open()
