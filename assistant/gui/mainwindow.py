"""The main window: conversations, the chat beside its sources, the library, indexing progress.

Everything slow runs on the backend's workers (see `backend.py`); this class only turns user
actions into jobs and job results into widgets. It never blocks the event loop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from assistant.errors import UserError
from assistant.gui import desktop, dialogs, theme
from assistant.gui.backend import Backend, ModelState
from assistant.gui.chatview import ChatView, TurnView
from assistant.gui.dialogs import CorrectionDialog, FailuresDialog, show_bug, show_message
from assistant.gui.history import History, StoredTurn, hit_to_dict
from assistant.gui.libraryview import LibraryView
from assistant.gui.progress import IndexProgressArea, fmt_seconds
from assistant.gui.settingsdialog import SettingsDialog
from assistant.gui.sourcesview import SourcesView
from assistant.gui.tasks import Failure, Job, ResponsivenessProbe
from assistant.gui.teach import TeachPage
from assistant.gui.viewer import DocumentViewer, Target
from assistant.gui.watcher import FolderWatcher
from assistant.settings import Settings

LIBRARY_REFRESH_MS = 800  # listings refresh at most this often while indexing


def local_paths(mime: QMimeData) -> list[str]:
    """Local files and folders carried by a drag (or a paste)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def turn_view(stored: StoredTurn) -> TurnView:
    return TurnView(id=stored.id, question=stored.question, answer=stored.answer,
                    citations=stored.citations, consulted=stored.consulted,
                    not_found=stored.not_found, stopped=stored.stopped, rating=stored.rating,
                    correction=stored.correction, citation_source=stored.citation_source)


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
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect().adjusted(16, 16, -16, -16))
        self.raise_()
        self.show()


class MainWindow(QMainWindow):
    """The app's window. `embedder` and `model_path` may be injected (tests, tools)."""

    answer_finished = Signal(int)  # turn id
    indexing_finished = Signal(object)  # IndexSummary (or None when cancelled/failed)
    library_refreshed = Signal()

    def __init__(self, settings: Settings | None = None, *, embedder: Any = None,
                 model_path: Path | str | None = None, watch: bool = True,
                 load_model: bool = True, check_watched: bool = True,
                 initial_paths: list[str] | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle("Knowledge Assistant")
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        # An explicit minimum keeps the layout from re-imposing one whenever a panel shows.
        self.setMinimumSize(760, 520)
        self.backend = Backend(self.settings, embedder=embedder,
                               model_path=Path(model_path) if model_path else None, parent=self)
        self.backend.on_failure = self._bug
        self.backend.model_state.connect(self._model_state)
        self.backend.library_changed.connect(self.schedule_library_refresh)
        self.history = History()
        self.conversation_id: int | None = None
        self.answer_job: Job | None = None
        self.answer_turn: int | None = None
        self.index_jobs: dict[int, dict[str, Any]] = {}
        self.index_summaries: list[Any] = []  # every finished run (None when it failed)
        self.failures: list[Failure] = []  # errors shown to the user (for tests and logs)
        self.collection_counts: dict[str, int] = {}
        self.active_documents = 0
        self.probe = ResponsivenessProbe(parent=self)
        if os.environ.get("ASSISTANT_PROBE"):
            self.probe.start()
        self._closing = False
        self._closed = False
        self._warming = False

        self._build_actions()
        self._build_ui()
        self._build_menus()
        self.watcher = FolderWatcher(parent=self)
        self.watcher.changed.connect(self._watched_folder_changed)
        self.watch_enabled = watch

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(LIBRARY_REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh_library)

        self._restore_state()
        self.refresh_conversations()
        self.refresh_library()
        if check_watched:
            self._startup_check()
        if self.settings.problems:
            QTimer.singleShot(0, lambda: self.statusBar().showMessage(
                " ".join(self.settings.problems), 20_000))
        if load_model:
            self.backend.load_model()
        if initial_paths:
            QTimer.singleShot(0, lambda: self.add_paths(initial_paths))

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.new_action = self._action("New conversation", self.new_conversation, "Ctrl+N",
                                       "Start a new conversation (Ctrl+N)")
        self.add_files_action = self._action("Add files…", self.choose_files, "Ctrl+O",
                                             "Add documents to the library (Ctrl+O)")
        self.add_folder_action = self._action("Add folder…", self.choose_folder, "Ctrl+Shift+O",
                                              "Add a folder and keep it in sync (Ctrl+Shift+O)")
        self.export_action = self._action("Export conversation…", self.export_conversation,
                                          "Ctrl+E", "Save this conversation as Markdown")
        self.settings_action = self._action("Settings…", self.open_settings, "Ctrl+,",
                                            "Model, adapter and answer settings")
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.focus_action = self._action("Focus the question box", self.focus_question,
                                         "Ctrl+L")
        self.stop_action = self._action("Stop generating", self.stop_answer, "Esc")
        self.stop_action.setEnabled(False)
        self.chat_action = self._action("Chat", lambda: self.show_page("chat"), "Ctrl+1",
                                        "Conversations with your documents (Ctrl+1)")
        self.library_action = self._action("Library", lambda: self.show_page("library"),
                                           "Ctrl+2", "Collections, documents and watched "
                                           "folders (Ctrl+2)")
        self.teach_action = self._action("Teach", lambda: self.show_page("teach"), "Ctrl+3",
                                         "Train an adapter on your own examples (Ctrl+3)")
        for a in (self.chat_action, self.library_action, self.teach_action):
            a.setCheckable(True)
        self.rename_action = self._action("Rename conversation…", self.rename_conversation,
                                          "F2")
        self.delete_action = self._action("Delete conversation…", self.delete_conversation)
        self.about_action = self._action("About Knowledge Assistant", self.about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.new_action, self.add_files_action, self.add_folder_action, None,
                  self.export_action, None, self.settings_action, None, self.quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        conv = bar.addMenu("&Conversation")
        for a in (self.focus_action, self.stop_action, None, self.rename_action,
                  self.delete_action, self.export_action):
            conv.addSeparator() if a is None else conv.addAction(a)
        view = bar.addMenu("&View")
        view.addAction(self.chat_action)
        view.addAction(self.library_action)
        view.addAction(self.teach_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_ui(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.setIconSize(QSize(18, 18))
        self.addToolBar(toolbar)
        toolbar.addAction(self.new_action)
        toolbar.addSeparator()
        toolbar.addAction(self.chat_action)
        toolbar.addAction(self.library_action)
        toolbar.addAction(self.teach_action)
        toolbar.addSeparator()
        toolbar.addAction(self.add_files_action)
        toolbar.addAction(self.add_folder_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Collection: "))
        self.collection_box = QComboBox()
        self.collection_box.setObjectName("CollectionBox")
        self.collection_box.setMinimumContentsLength(12)
        self.collection_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.collection_box.setToolTip("Questions are answered from this collection, and "
                                       "documents you add go into it")
        self.collection_box.activated.connect(self._collection_picked)
        toolbar.addWidget(self.collection_box)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.settings_action)
        self.toolbar = toolbar

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("MainSplitter")
        self.main_splitter.setChildrenCollapsible(False)

        # sidebar: conversations
        sidebar = QWidget()
        sidebar.setObjectName("Sidebar")
        sidebar.setMinimumWidth(180)
        sv = QVBoxLayout(sidebar)
        sv.setContentsMargins(10, 10, 6, 10)
        sv.setSpacing(6)
        new_button = QPushButton("+  New conversation")
        new_button.setObjectName("Primary")
        new_button.clicked.connect(self.new_conversation)
        sv.addWidget(new_button)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _: self.refresh_conversations())
        sv.addWidget(self.search)
        title = QLabel("CONVERSATIONS")
        title.setObjectName("SidebarTitle")
        sv.addWidget(title)
        self.conversation_list = QListWidget()
        self.conversation_list.setObjectName("Conversations")
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversation_list.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setUniformItemSizes(True)
        self.conversation_list.itemClicked.connect(self._conversation_clicked)
        self.conversation_list.itemActivated.connect(self._conversation_clicked)
        self.conversation_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversation_list.customContextMenuRequested.connect(self._conversation_menu)
        sv.addWidget(self.conversation_list, 1)
        self.library_status = QLabel()
        self.library_status.setObjectName("Muted")
        self.library_status.setWordWrap(True)
        sv.addWidget(self.library_status)
        self.main_splitter.addWidget(sidebar)

        # pages
        self.pages = QStackedWidget()
        self.chat_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.chat_splitter.setObjectName("ChatSplitter")
        self.chat_splitter.setChildrenCollapsible(False)
        self.chat = ChatView()
        self.chat.setMinimumWidth(420)
        self.chat.ask.connect(self.ask)
        self.chat.stop.connect(self.stop_answer)
        self.chat.citation_clicked.connect(self.open_citation)
        self.chat.turn_selected.connect(self._turn_selected)
        self.chat.regenerate.connect(self.regenerate)
        self.chat.rate.connect(self.rate)
        self.chat.correct.connect(self.correct)
        self.chat.add_files.connect(self.choose_files)
        self.chat.add_folder.connect(self.choose_folder)
        self.right_tabs = QTabWidget()
        self.right_tabs.setObjectName("RightTabs")
        self.right_tabs.setDocumentMode(True)
        self.right_tabs.setTabsClosable(True)
        self.right_tabs.setMovable(True)
        self.right_tabs.setMinimumWidth(300)
        self.right_tabs.tabCloseRequested.connect(self._close_tab)
        self.sources = SourcesView()
        self.sources.open_requested.connect(self.open_source)
        self.right_tabs.addTab(self.sources, "Sources")
        close_button = self.right_tabs.tabBar().tabButton(
            0, self.right_tabs.tabBar().ButtonPosition.RightSide)
        if close_button is not None:
            close_button.hide()
        self.chat_splitter.addWidget(self.chat)
        self.chat_splitter.addWidget(self.right_tabs)
        self.chat_splitter.setStretchFactor(0, 3)
        self.chat_splitter.setStretchFactor(1, 2)
        self.library = LibraryView()
        self.library.add_files.connect(self.choose_files)
        self.library.add_folder.connect(self.choose_folder)
        self.library.remove.connect(self.remove_documents)
        self.library.reindex.connect(self.reindex)
        self.library.reveal.connect(lambda p: self._desktop(desktop.show_in_folder, p))
        self.library.open_document.connect(self.open_document)
        self.library.new_collection.connect(self.new_collection)
        self.library.rename_collection.connect(self.rename_collection)
        self.library.delete_collection.connect(self.delete_collection)
        self.library.collection_chosen.connect(lambda _: self.refresh_library())
        self.library.unwatch.connect(self.unwatch)
        self.library.rescan.connect(lambda f, c: self._index_folder(f, c, quiet=False))
        self.pages.addWidget(self.chat_splitter)
        self.pages.addWidget(self.library)
        self.teach = TeachPage(self.settings, history=self.history,
                               model_path=self.backend.default_model_path)
        self.teach.use_adapter.connect(self.use_adapter)
        self.pages.addWidget(self.teach)
        self.main_splitter.addWidget(self.pages)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([240, 1100])
        self.chat_splitter.setSizes([640, 460])
        outer.addWidget(self.main_splitter, 1)

        self.progress = IndexProgressArea()
        self.progress.cancel_requested.connect(self.cancel_indexing)
        self.progress.show_failures.connect(self.show_failures)
        outer.addWidget(self.progress)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)

        status = self.statusBar()
        status.setSizeGripEnabled(True)
        self.model_label = QLabel()
        self.model_label.setObjectName("Muted")
        self.model_bar = QProgressBar()
        self.model_bar.setFixedWidth(140)
        self.model_bar.setMaximumHeight(10)
        self.model_bar.setTextVisible(False)
        self.model_bar.hide()
        status.addPermanentWidget(self.model_bar)
        status.addPermanentWidget(self.model_label)
        self._model_state(self.backend.state)
        self.show_page("chat")

        self.focus_shortcut = QShortcut(QKeySequence("Ctrl+K"), self)
        self.focus_shortcut.activated.connect(lambda: self.search.setFocus())

    # ------------------------------------------------------------------ state & layout
    def _restore_state(self) -> None:
        window = self.settings.extra.get("window", {})
        geometry = window.get("geometry")
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        else:
            self.resize(1320, 840)
        state = window.get("state")
        if state:
            self.restoreState(QByteArray.fromBase64(state.encode()))
        for name, splitter in self._splitters().items():
            saved = window.get(name)
            if saved:
                splitter.restoreState(QByteArray.fromBase64(saved.encode()))
        conversation = self.settings.extra.get("conversation")
        if isinstance(conversation, int) and self.history.conversation(conversation):
            self.open_conversation(conversation)

    def _splitters(self) -> dict[str, QSplitter]:
        return {"main_splitter": self.main_splitter, "chat_splitter": self.chat_splitter,
                "library_splitter": self.library.splitter}

    def save_state(self) -> None:
        def b64(data: QByteArray) -> str:
            return bytes(data.toBase64().data()).decode("ascii")

        window = {"geometry": b64(self.saveGeometry()), "state": b64(self.saveState())}
        for name, splitter in self._splitters().items():
            window[name] = b64(splitter.saveState())
        self.settings.extra["window"] = window
        self.settings.extra["conversation"] = self.conversation_id
        try:
            self.settings.save()
        except OSError as exc:
            print(f"Knowledge Assistant: the window layout could not be saved: {exc}")

    def show_page(self, page: str) -> None:
        self.pages.setCurrentIndex({"chat": 0, "library": 1, "teach": 2}.get(page, 0))
        self.chat_action.setChecked(page == "chat")
        self.library_action.setChecked(page == "library")
        self.teach_action.setChecked(page == "teach")
        if page == "library":
            self.refresh_library()
        elif page == "teach":
            self.teach.refresh_adapters()

    # ------------------------------------------------------------------ errors
    def _bug(self, failure: Failure) -> None:
        if failure.is_cancelled:
            return
        self.failures.append(failure)
        exc = failure.exception
        if isinstance(exc, UserError):
            show_message(self, str(exc))
        else:
            show_bug(self, exc, failure.traceback)

    def _desktop(self, fn: Any, path: str) -> None:
        try:
            fn(path)
        except UserError as exc:
            show_message(self, str(exc))

    # ------------------------------------------------------------------ model status
    def _model_state(self, state: ModelState) -> None:
        self.model_label.setText(state.message)
        self.model_label.setToolTip(state.message)
        if state.phase == "preparing" and state.total:
            self.model_bar.setRange(0, 1000)
            self.model_bar.setValue(int(1000 * state.done / state.total))
            self.model_bar.show()
            mb = 1024 * 1024
            self.model_label.setText(f"{state.message} {state.done // mb} of "
                                     f"{state.total // mb} MB")
        elif state.phase == "loading":
            self.model_bar.setRange(0, 0)
            self.model_bar.show()
        else:
            self.model_bar.hide()
        if state.phase == "failed":
            self.model_label.setText(f"⚠ {state.message}")
            self.statusBar().showMessage(state.message, 30_000)
        elif state.phase == "ready" and not self.backend.embedder.loaded and \
                not self._warming:
            # Every question and every drop needs the embedder; loading it now, while the
            # window is still new, keeps its ~10 s load out of the first question.
            self._warming = True
            self.backend.warm_up_embedder()

    # ------------------------------------------------------------------ conversations
    def refresh_conversations(self) -> None:
        self.conversation_list.blockSignals(True)
        self.conversation_list.clear()
        for conv in self.history.conversations(self.search.text()):
            item = QListWidgetItem(conv.title)
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
        self.show_page("chat")

    def open_conversation(self, conversation_id: int) -> None:
        if self.answer_job is not None:
            self.stop_answer()
        self.conversation_id = conversation_id
        turns = [turn_view(t) for t in self.history.turns(conversation_id)]
        self.chat.set_turns(turns)
        self.sources.show_turn(turns[-1] if turns else None)
        self.refresh_conversations()
        conv = self.history.conversation(conversation_id)
        self.setWindowTitle(f"{conv.title} — Knowledge Assistant" if conv else
                            "Knowledge Assistant")

    def new_conversation(self) -> None:
        if self.answer_job is not None:
            self.stop_answer()
        self.conversation_id = None
        self.chat.clear()
        self.sources.show_turn(None)
        self.refresh_conversations()
        self.conversation_list.clearSelection()
        self.setWindowTitle("Knowledge Assistant")
        self.show_page("chat")
        self.focus_question()

    def _conversation_menu(self, pos: Any) -> None:
        item = self.conversation_list.itemAt(pos)
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Rename…").triggered.connect(lambda: self.rename_conversation(cid))
        menu.addAction("Export to Markdown…").triggered.connect(
            lambda: self.export_conversation(cid))
        menu.addSeparator()
        menu.addAction("Delete…").triggered.connect(lambda: self.delete_conversation(cid))
        menu.exec(self.conversation_list.viewport().mapToGlobal(pos))

    def rename_conversation(self, conversation_id: Any = None) -> None:
        cid = conversation_id if isinstance(conversation_id, int) else self.conversation_id
        conv = self.history.conversation(cid) if cid is not None else None
        if conv is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:",
                                         QLineEdit.EchoMode.Normal, conv.title)
        if ok:
            try:
                self.history.rename(conv.id, title)
            except UserError as exc:
                show_message(self, str(exc))
            self.refresh_conversations()

    def delete_conversation(self, conversation_id: Any = None) -> None:
        cid = conversation_id if isinstance(conversation_id, int) else self.conversation_id
        conv = self.history.conversation(cid) if cid is not None else None
        if conv is None:
            return
        if not dialogs.confirm(self, "Delete conversation",
                               f"Delete “{conv.title}” and its {conv.turns} answer"
                               f"{'s' if conv.turns != 1 else ''}? This cannot be undone.",
                               "Delete"):
            return
        self.history.delete(conv.id)
        if conv.id == self.conversation_id:
            self.new_conversation()
        self.refresh_conversations()

    def export_conversation(self, conversation_id: Any = None) -> None:
        cid = conversation_id if isinstance(conversation_id, int) else self.conversation_id
        conv = self.history.conversation(cid) if cid is not None else None
        if conv is None:
            show_message(self, "Open a conversation to export it.",
                         icon=QMessageBox.Icon.Information)
            return
        safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in conv.title).strip()
        default = str(Path.home() / f"{safe or 'conversation'}.md")
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", default,
                                              "Markdown (*.md);;All files (*)")
        if not path:
            return
        try:
            Path(path).write_text(self.history.export_markdown(conv.id), encoding="utf-8")
        except OSError as exc:
            show_message(self, f"The conversation could not be saved to {path}: "
                               f"{exc.strerror or exc}.")
            return
        self.statusBar().showMessage(f"Exported “{conv.title}” to {path}", 8000)

    # ------------------------------------------------------------------ asking
    def focus_question(self) -> None:
        self.show_page("chat")
        self.chat.focus_question()

    def _history_for(self, turn_id: int | None = None) -> list[Any]:
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
                                       collection=self.collection,
                                       adapter=self.settings["lora_path"] or None)
        waiting = self.backend.state.phase in ("preparing", "loading")
        turn = TurnView(id=stored.id, question=question, streaming=True,
                        status="Waiting for the model to load…" if waiting
                        else "Searching your documents…")
        self.chat.add_turn(turn)
        self.sources.show_turn(turn)
        self.right_tabs.setCurrentWidget(self.sources)
        self.refresh_conversations()
        self._start_answer(turn, history)
        return turn.id

    def regenerate(self, turn_id: int) -> None:
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
                show_bug(self, fail.exception, fail.traceback)

        self.answer_job = self.backend.ask(
            turn.question, history=history, collection=self.collection, on_token=on_token,
            on_status=on_status, success=success, failure=failure)

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
            turn.answer = answer.text
            turn.citations = [{"n": c.n, "hit": hit_to_dict(c.hit)} for c in answer.citations]
            turn.consulted = [hit_to_dict(h) for h in answer.consulted]
            turn.not_found = bool(answer.not_found)
            turn.stopped = bool(getattr(answer, "cancelled", False))
            turn.citation_source = getattr(answer, "citation_source", None)
        else:
            turn.stopped = stopped
        self.history.save_answer(turn.id, turn.answer, citations=turn.citations,
                                 consulted=turn.consulted, not_found=turn.not_found,
                                 stopped=turn.stopped, citation_source=turn.citation_source,
                                 model=self.model_label.text().removeprefix("Model ready: "),
                                 adapter=self.settings["lora_path"] or None)
        self.chat.update_turn(turn)
        if self.chat.selected_id == turn.id:
            self.sources.show_turn(turn)
        self.refresh_conversations()
        if seconds:
            self.statusBar().showMessage(f"Answered in {seconds:.1f} s", 6000)
        self.answer_finished.emit(turn.id)

    def stop_answer(self) -> None:
        if self.answer_job is not None:
            self.answer_job.cancel()
            self.statusBar().showMessage("Stopping…", 2000)

    def _turn_selected(self, turn_id: int) -> None:
        turn = self.chat.turn(turn_id)
        if turn is not None:
            self.sources.show_turn(turn)
            self.right_tabs.setCurrentWidget(self.sources)

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
            self.statusBar().showMessage("Marked as a good answer; it can be used to fine-tune "
                                         "the model.", 6000)

    def correct(self, turn_id: int) -> None:
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        dialog = CorrectionDialog(turn.question, turn.correction or turn.answer, self)
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

    # ------------------------------------------------------------------ sources & viewer
    def open_citation(self, turn_id: int, n: int) -> None:
        turn = self.chat.turn(turn_id)
        if turn is None:
            return
        if self.sources.turn is None or self.sources.turn.id != turn_id:
            self.chat.select(turn_id)
            self.sources.show_turn(turn)
        card = self.sources.highlight(n)
        hit = next((c.get("hit") for c in turn.citations if int(c.get("n", -1)) == n), None)
        if hit:
            self.open_source(hit, card.span if card is not None else None)

    def viewer_for(self, path: str) -> DocumentViewer:
        for i in range(1, self.right_tabs.count()):
            widget = self.right_tabs.widget(i)
            if isinstance(widget, DocumentViewer) and str(widget.path) == str(path):
                return widget
        viewer = DocumentViewer(path)
        index = self.right_tabs.addTab(viewer, Path(path).name)
        self.right_tabs.setTabToolTip(index, str(path))
        while self.right_tabs.count() > 7:  # keep a handful of documents open
            old = self.right_tabs.widget(1)
            self.right_tabs.removeTab(1)
            if old is not None:
                old.deleteLater()
        return viewer

    def open_source(self, hit: dict[str, Any], span: Any = None) -> DocumentViewer | None:
        path = str(hit.get("path", ""))
        if not Path(path).exists():
            show_message(self, f"'{path}' is no longer there; it may have been moved or "
                               "deleted. Re-index its folder to update the library.")
            return None
        self.show_page("chat")
        viewer = self.viewer_for(path)
        self.right_tabs.setCurrentWidget(viewer)
        viewer.show_passage(Target(page=hit.get("page"), start=int(hit.get("start") or 0),
                                   end=int(hit.get("end") or 0), text=str(hit.get("text", "")),
                                   span=tuple(span) if span else None))
        return viewer

    def open_document(self, path: str) -> None:
        if not Path(path).exists():
            show_message(self, f"'{path}' is no longer there.")
            return
        self.show_page("chat")
        viewer = self.viewer_for(path)
        self.right_tabs.setCurrentWidget(viewer)
        viewer.show_passage(Target(page=1 if viewer.is_pdf else None, start=0, end=0, text=""))

    def _close_tab(self, index: int) -> None:
        if index == 0:
            return
        widget = self.right_tabs.widget(index)
        self.right_tabs.removeTab(index)
        if widget is not None:
            widget.deleteLater()

    # ------------------------------------------------------------------ collections
    @property
    def collection(self) -> str:
        return str(self.settings["collection"])

    def _fill_collection_box(self) -> None:
        box = self.collection_box
        box.blockSignals(True)
        box.clear()
        names = sorted(set(self.collection_counts) | {self.collection})
        for name in names:
            n = self.collection_counts.get(name, 0)
            box.addItem(f"{name} ({n})", name)
        box.insertSeparator(box.count())
        box.addItem("New collection…", None)
        box.setCurrentIndex(names.index(self.collection))
        box.blockSignals(False)

    def _collection_picked(self, index: int) -> None:
        name = self.collection_box.itemData(index)
        if name is None:
            self.new_collection()
            return
        self.set_collection(str(name))

    def set_collection(self, name: str) -> None:
        try:
            self.settings.set("collection", name)
            self.settings.save()
        except (UserError, OSError) as exc:
            show_message(self, str(exc))
            return
        self.library.collection = name
        self.refresh_library()

    def new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection",
                                        "Name of the new collection:")
        name = name.strip()
        if not ok or not name:
            self._fill_collection_box()
            return
        self.backend.write(lambda store: store.collection_id(name),
                           success=lambda _: self.set_collection(name), name="collection")

    def rename_collection(self, old: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename collection", "New name:",
                                       QLineEdit.EchoMode.Normal, old)
        new = new.strip()
        if not ok or not new or new == old:
            return

        def done(_: Any) -> None:
            if self.collection == old:
                self.set_collection(new)
            self.library.collection = new

        self.backend.write(lambda store: store.rename_collection(old, new), success=done,
                           failure=self._bug, name="collection")

    def delete_collection(self, name: str) -> None:
        n = self.collection_counts.get(name, 0)
        if not dialogs.confirm(self, "Delete collection",
                               f"Delete the collection “{name}” and forget its {n} document"
                               f"{'s' if n != 1 else ''}? The files themselves stay where they "
                               "are.", "Delete collection"):
            return

        def work(store: Any) -> None:
            for collection, folder in store.watched():
                if collection == name:
                    store.unwatch(folder, collection)
            if store.collection_id(name, create=False) is not None:
                store.delete_collection(name)

        def done(_: Any) -> None:
            self.library.collection = None
            if self.collection == name:
                self.set_collection("default")

        self.backend.write(work, success=done, failure=self._bug, name="collection")

    # ------------------------------------------------------------------ library
    def schedule_library_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh_library(self) -> None:
        """Read listings on the reader worker, then show them."""
        shown = self.library.collection or self.collection
        active = self.collection

        def read(store: Any) -> dict[str, Any]:
            counts = {name: 0 for name in store.collections()}
            active_docs = 0
            for doc in store.documents():
                counts[doc.collection] = counts.get(doc.collection, 0) + 1
                if doc.collection == active and doc.status == "indexed":
                    active_docs += 1
            documents = store.documents(shown)
            return {"counts": counts, "documents": documents, "watched": store.watched(),
                    "active_docs": active_docs, "stats": store.stats()}

        def show(result: dict[str, Any]) -> None:
            self.collection_counts = result["counts"]
            self.active_documents = result["active_docs"]
            self._fill_collection_box()
            self.library.set_collections(result["counts"], shown)
            self.library.set_documents(shown, result["documents"])
            self.library.set_watched(result["watched"])
            self.chat.empty.set_library(self.active_documents, self.collection,
                                        indexing=self.progress.running)
            stats = result["stats"]
            text = f"{stats['documents']} documents · {stats['chunks']} passages"
            if stats["failed"]:
                text += f" · {stats['failed']} failed"
            self.library_status.setText(text)
            if self.watch_enabled:
                self.watcher.set_folders(result["watched"])
            self.library_refreshed.emit()

        self.backend.read(read, success=show, owner=self, name="listing")

    def _startup_check(self) -> Job:
        """At start: pick up what changed in watched folders while the app was closed."""
        return self._submit_index([], self.collection, title="Updating watched folders",
                                  quiet=True, startup=True)

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add documents", str(Path.home()),
            "Documents (*.pdf *.docx *.md *.markdown *.html *.htm *.txt *.rst *.py *.json "
            "*.csv);;All files (*)")
        if paths:
            self.add_paths(paths)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder (kept in sync)",
                                                  str(Path.home()))
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: list[str]) -> Job | None:
        """Index files and folders into the active collection; folders are watched."""
        paths = [p for p in paths if p]
        if not paths:
            return None
        n = len(paths)
        what = f"“{Path(paths[0]).name}”" if n == 1 else f"{n} items"
        return self._submit_index(paths, self.collection,
                                  title=f"Adding {what} to “{self.collection}”", watch=True)

    def reindex(self, paths: list[str]) -> None:
        if paths:
            n = len(paths)
            self._submit_index(paths, self.library.collection or self.collection,
                               title=f"Re-indexing {n} document{'s' if n != 1 else ''}",
                               force=True)

    def _index_folder(self, folder: str, collection: str, quiet: bool = True) -> Job | None:
        for info in self.index_jobs.values():
            if not info["job"].started and info["paths"] == [folder]:
                return None  # already queued
        return self._submit_index([folder], collection,
                                  title=f"Updating “{Path(folder).name}” in “{collection}”",
                                  quiet=quiet)

    def _watched_folder_changed(self, folder: str, collection: str) -> None:
        self._index_folder(folder, collection, quiet=True)

    def _submit_index(self, paths: list[str], collection: str, *, title: str,
                      quiet: bool = False, watch: bool = False, force: bool = False,
                      startup: bool = False) -> Job:
        info: dict[str, Any] = {"title": title, "quiet": quiet, "paths": list(paths),
                                "shown": False, "collection": collection}

        def progress(p: Any) -> None:
            if not info["shown"]:
                if quiet and (p is None or not p.files_total):
                    return
                info["shown"] = True
                self.progress.start(title, queued=self._queued_index_jobs(info))
            self.progress.set_queued(self._queued_index_jobs(info))
            self.progress.update_progress(p, embedder_loading=not self.backend.embedder.loaded)
            if p is not None and p.files_done:
                self.schedule_library_refresh()
                if not self.active_documents:
                    self.chat.empty.set_library(0, self.collection, indexing=True)

        def success(summary: Any) -> None:
            self._index_done(info, summary)

        def failure(fail: Failure) -> None:
            self._index_done(info, None, fail)

        if startup:
            job = self.backend.check_library(progress=progress, success=success,
                                             failure=failure)
        else:
            job = self.backend.index(paths, collection, progress=progress, success=success,
                                     failure=failure, watch=watch, force=force, name="index")
        info["job"] = job
        self.index_jobs[job.id] = info
        if not quiet and not self.progress.running:
            self.progress.start(title, queued=self._queued_index_jobs(info))
            info["shown"] = True
        elif self.progress.running:
            self.progress.set_queued(self._queued_index_jobs(None))
        return job

    def _queued_index_jobs(self, current: dict[str, Any] | None) -> int:
        return sum(1 for i in self.index_jobs.values()
                   if i is not current and not i["job"].done and not i["job"].started)

    def _index_done(self, info: dict[str, Any], summary: Any,
                    fail: Failure | None = None) -> None:
        self.index_jobs.pop(info["job"].id, None)
        if fail is not None:
            if fail.is_cancelled:
                if info["shown"] or not info["quiet"]:
                    self.progress.finish("Indexing cancelled",
                                         "What was indexed so far is kept.", [])
            else:
                self.progress.finish("Indexing stopped", str(fail.exception)
                                     if isinstance(fail.exception, UserError)
                                     else "A bug stopped indexing; see the report.", [])
                self._bug(fail)
            self.index_summaries.append(None)
            self.indexing_finished.emit(None)
            return
        changed = summary.indexed or summary.removed or summary.failed
        failures = [(f.path, f.reason) for f in summary.failed]
        if summary.cancelled:
            title = "Indexing cancelled"
        else:
            title = f"Done: {info['title'][0].lower()}{info['title'][1:]}"
        parts = [f"{len(summary.indexed)} indexed"]
        if summary.unchanged:
            parts.append(f"{len(summary.unchanged)} unchanged")
        if summary.removed:
            parts.append(f"{len(summary.removed)} removed")
        if summary.failed:
            parts.append(f"{len(summary.failed)} could not be read")
        parts.append(f"{summary.chunks} passages in {fmt_seconds(summary.seconds) or '0 s'}")
        detail = " · ".join(parts)
        if summary.cancelled:
            detail = "What was indexed so far is kept. " + detail
        if info["shown"] or changed:
            self.progress.finish(title, detail, failures)
        elif failures:
            self.progress.failures.extend(failures)
        self.refresh_library()
        self.index_summaries.append(summary)
        self.indexing_finished.emit(summary)

    def cancel_indexing(self) -> None:
        self.backend.cancel_indexing()

    def show_failures(self) -> None:
        dialog = FailuresDialog(self.progress.failures, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def remove_documents(self, rows: list[tuple[int, str]]) -> None:
        if not rows:
            return
        n = len(rows)
        what = f"“{Path(rows[0][1]).name}”" if n == 1 else f"{n} documents"
        if not dialogs.confirm(self, "Remove from the library",
                               f"Remove {what} from the library? The files stay on disk (a "
                               "file in a watched folder comes back when it changes).",
                               "Remove"):
            return
        ids = [doc_id for doc_id, _ in rows]

        def work(store: Any) -> int:
            for doc_id in ids:
                store.remove_document(doc_id)
            return len(ids)

        self.backend.write(work, success=lambda k: self.statusBar().showMessage(
            f"Removed {k} document{'s' if k != 1 else ''} from the library.", 6000),
            failure=self._bug, name="remove")

    def unwatch(self, folder: str, collection: str) -> None:
        self.backend.write(lambda store: store.unwatch(folder, collection),
                           success=lambda _: self.statusBar().showMessage(
                               f"No longer watching {folder}; its documents stay in the "
                               "library.", 8000), failure=self._bug, name="unwatch")

    # ------------------------------------------------------------------ settings
    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, sorted(self.collection_counts), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.changed))
        dialog.open()
        return dialog

    def apply_settings(self, changed: set[str]) -> None:
        if not changed:
            return
        self.backend.apply_settings(changed)
        if "collection" in changed:
            self.library.collection = self.collection
            self.refresh_library()
        if changed & {"lora_path", "lora_scale"}:
            self.statusBar().showMessage("The adapter applies from the next answer.", 6000)

    def use_adapter(self, path: str) -> None:
        """Switch the adapter (empty: none) as the settings dialog would: saved, and applied
        on the live model from the next answer, without reloading it."""
        values: dict[str, Any] = {"lora_path": path}
        if path and not float(self.settings["lora_scale"]) > 0:
            values["lora_scale"] = 1.0
        changed = {n for n, v in values.items() if self.settings.values.get(n) != v}
        for name, value in values.items():
            self.settings.values[name] = value
        try:
            self.settings.save()
        except OSError as exc:
            show_message(self, f"The settings could not be saved to {self.settings.path}: "
                               f"{exc.strerror or exc}.")
        self.apply_settings(changed)
        self.teach.refresh_adapters()
        if changed:
            self.statusBar().showMessage(
                f"Adapter {Path(path).parent.name} in use from the next answer." if path
                else "Adapter turned off from the next answer.", 8000)

    def about(self) -> None:
        from assistant import __version__

        QMessageBox.about(self, "About Knowledge Assistant",
                          f"<b>Knowledge Assistant {__version__}</b><p>Chat with your own "
                          "documents, fully offline. Answers cite the passages they come "
                          "from.</p>")

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.overlay.show_for(paths, self.collection)
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if local_paths(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: Any) -> None:
        self.overlay.hide()
        event.accept()

    def dropEvent(self, event: Any) -> None:
        self.overlay.hide()
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.add_paths(paths)

    # ------------------------------------------------------------------ theme & closing
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
                            QEvent.Type.ThemeChange):
            QTimer.singleShot(0, self._retheme)
        super().changeEvent(event)

    def _retheme(self) -> None:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if isinstance(app, QApplication):
            sheet = theme.style_sheet()
            if app.styleSheet() != sheet:
                app.setStyleSheet(sheet)
                if self.sources.turn is not None:
                    self.sources.show_turn(self.sources.turn)

    def shutdown(self) -> None:
        """Stop everything in the background and close the stores (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.save_state()
        self.watcher.stop()
        if self.answer_job is not None:
            self.answer_job.cancel()
        self.teach.shutdown()
        self.backend.shutdown()
        self.history.close()
        if self.probe.running:
            self.probe.stop()
            print(self.probe.report())

    def closeEvent(self, event: QCloseEvent) -> None:
        # Quitting mid-index is safe: each document is written in one transaction, and the
        # rest is picked up at the next start.
        self._closing = True
        self.shutdown()
        super().closeEvent(event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        central = self.centralWidget()
        if self.overlay.isVisible() and central is not None:
            self.overlay.setGeometry(central.rect().adjusted(16, 16, -16, -16))


def file_urls(paths: list[str]) -> QMimeData:
    """Mime data carrying local files, as a file manager's drag does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime
