"""The main window: it builds one controller per area, lays out their widgets, holds the menus
and the toolbar, keeps the window's layout across runs, and routes dropped files.

The areas (see `gui/controllers/`): conversations and answering, sources and viewer, library
and collections, indexing and watched folders, teach, settings. Each owns its widgets' signals
and its background jobs (all through the backend's workers, `gui/tasks.py`), so this class
never blocks the event loop and holds no behaviour of its own beyond the window's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from assistant.gui import theme
from assistant.gui.backend import Backend
from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.conversations import WINDOW_TITLE, ConversationsController
from assistant.gui.controllers.indexing import IndexingController
from assistant.gui.controllers.library import LibraryController
from assistant.gui.controllers.settings import SettingsController
from assistant.gui.controllers.sharing import SharingController
from assistant.gui.controllers.sources import SourcesController
from assistant.gui.controllers.teach import TeachController
from assistant.gui.dropoverlay import DropOverlay, local_paths
from assistant.gui.history import History
from assistant.gui.tasks import ResponsivenessProbe
from assistant.gui.windowstate import restore_layout, save_layout
from assistant.settings import Settings

PAGES = ("chat", "library", "teach")


class MainWindow(QMainWindow):
    """The app's window. `embedder` and `model_path` may be injected (tests, tools)."""

    def __init__(self, settings: Settings | None = None, *, embedder: Any = None,
                 model_path: Path | str | None = None, watch: bool = True,
                 load_model: bool = True, check_watched: bool = True,
                 initial_paths: list[str] | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        # An explicit minimum keeps the layout from re-imposing one whenever a panel shows.
        self.setMinimumSize(760, 520)
        self.backend = Backend(self.settings, embedder=embedder,
                               model_path=Path(model_path) if model_path else None, parent=self)
        self.history = History()
        self.context = AppContext(self, self.settings, self.backend, self.history,
                                  self.show_page)
        self.backend.on_failure = self.context.report
        self.probe = ResponsivenessProbe(parent=self)
        if os.environ.get("ASSISTANT_PROBE"):
            self.probe.start()
        self._closed = False

        # each controller gets the ones it calls, so they are built bottom-up
        ctx = self.context
        self.sources = SourcesController(ctx)
        self.library = LibraryController(ctx, self.sources)
        self.settings_controller = SettingsController(ctx, self.library)
        self.indexing = IndexingController(ctx, self.library, watch=watch)
        self.conversations = ConversationsController(ctx, self.sources, self.library,
                                                     self.indexing, self.settings_controller)
        self.teach = TeachController(ctx, self.settings_controller)
        self.sharing = SharingController(ctx)
        self.settings_controller.applied.connect(self.sharing.settings_changed)
        self.backend.library_changed.connect(self.library.schedule_refresh)

        self._build_actions()
        self._build_toolbar()
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self.show_page("chat")

        self._restore_state()
        self.conversations.refresh()
        self.library.refresh()
        if check_watched:
            self.indexing.check_watched_folders()
        if self.settings.problems:
            QTimer.singleShot(0, lambda: self.context.notify(
                " ".join(self.settings.problems), 20_000))
        if load_model:
            self.backend.load_model()
        if self.settings["serve_library"]:
            QTimer.singleShot(0, self.sharing.apply)
        if initial_paths:
            QTimer.singleShot(0, lambda: self.indexing.add_paths(initial_paths))

    # ------------------------------------------------------------------ construction
    def _build_actions(self) -> None:
        """The window's own actions: the pages, quitting, About."""
        action = self.context.action
        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit)
        # The platform's Quit key is empty on desktops Qt does not recognise (a bare X
        # server, some window managers): Ctrl+Q always quits as well.
        quit_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        if QKeySequence("Ctrl+Q") not in quit_keys:
            quit_keys.append(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcuts(quit_keys)
        self.chat_action = action("Chat", lambda: self.show_page("chat"), "Ctrl+1",
                                  "Conversations with your documents (Ctrl+1)")
        self.library_action = action("Library", lambda: self.show_page("library"), "Ctrl+2",
                                     "Collections, documents and watched folders (Ctrl+2)")
        self.teach_action = action("Teach", lambda: self.show_page("teach"), "Ctrl+3",
                                   "Train an adapter on your own examples (Ctrl+3)")
        self.page_actions = (self.chat_action, self.library_action, self.teach_action)
        for a in self.page_actions:
            a.setCheckable(True)
        self.about_action = action("About Knowledge Assistant", self.about)

    def _build_menus(self) -> None:
        c, i, s = self.conversations, self.indexing, self.settings_controller
        menus = {
            "&File": (c.new_action, i.add_files_action, i.add_folder_action, None,
                      c.export_action, None, s.settings_action, None, self.quit_action),
            "&Conversation": (c.focus_action, c.stop_action, None, c.rename_action,
                              c.delete_action, c.export_action),
            "&View": (*self.page_actions, None, self.sharing.log_action),
            "&Help": (self.about_action,),
        }
        bar = self.menuBar()
        for title, actions in menus.items():
            menu = bar.addMenu(title)
            for a in actions:
                menu.addSeparator() if a is None else menu.addAction(a)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.setIconSize(QSize(18, 18))
        self.addToolBar(toolbar)
        toolbar.addAction(self.conversations.new_action)
        toolbar.addSeparator()
        for a in self.page_actions:
            toolbar.addAction(a)
        toolbar.addSeparator()
        toolbar.addAction(self.indexing.add_files_action)
        toolbar.addAction(self.indexing.add_folder_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Collection: "))
        toolbar.addWidget(self.library.collection_box)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.settings_controller.settings_action)
        self.toolbar = toolbar

    def _build_sidebar(self) -> QWidget:
        sidebar = QWidget()
        sidebar.setObjectName("Sidebar")
        sidebar.setMinimumWidth(180)
        column = QVBoxLayout(sidebar)
        column.setContentsMargins(10, 10, 6, 10)
        column.setSpacing(6)
        column.addWidget(self.conversations.new_button)
        column.addWidget(self.conversations.search)
        title = QLabel("CONVERSATIONS")
        title.setObjectName("SidebarTitle")
        column.addWidget(title)
        column.addWidget(self.conversations.conversation_list, 1)
        column.addWidget(self.library.status_label)
        return sidebar

    def _build_layout(self) -> None:
        """Sidebar | pages (chat beside its sources, library, teach); progress beneath."""
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("MainSplitter")
        self.main_splitter.setChildrenCollapsible(False)
        self.main_splitter.addWidget(self._build_sidebar())

        self.chat_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.chat_splitter.setObjectName("ChatSplitter")
        self.chat_splitter.setChildrenCollapsible(False)
        self.chat_splitter.addWidget(self.conversations.chat)
        self.chat_splitter.addWidget(self.sources.tabs)
        self.chat_splitter.setStretchFactor(0, 3)
        self.chat_splitter.setStretchFactor(1, 2)
        self.pages = QStackedWidget()
        for page in (self.chat_splitter, self.library.view, self.teach.page):
            self.pages.addWidget(page)
        self.main_splitter.addWidget(self.pages)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([240, 1100])
        self.chat_splitter.setSizes([640, 460])
        outer.addWidget(self.main_splitter, 1)
        outer.addWidget(self.indexing.progress)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setSizeGripEnabled(True)
        status.addPermanentWidget(self.sharing.label)
        status.addPermanentWidget(self.indexing.embedder_notice)
        status.addPermanentWidget(self.settings_controller.model_bar)
        status.addPermanentWidget(self.settings_controller.model_label)

    def show_page(self, page: str) -> None:
        """Switch to "chat", "library" or "teach" (anything else: chat)."""
        index = PAGES.index(page) if page in PAGES else 0
        self.pages.setCurrentIndex(index)
        for name, a in zip(PAGES, self.page_actions, strict=True):
            a.setChecked(name == page)
        if page == "library":
            self.library.refresh()
        elif page == "teach":
            self.teach.refresh()

    def about(self) -> None:
        from assistant import __version__

        QMessageBox.about(self, "About Knowledge Assistant",
                          f"<b>Knowledge Assistant {__version__}</b><p>Chat with your own "
                          "documents, fully offline. Answers cite the passages they come "
                          "from.</p>")

    # ------------------------------------------------------------------ state & layout
    def _splitters(self) -> dict[str, QSplitter]:
        return {"main_splitter": self.main_splitter, "chat_splitter": self.chat_splitter,
                "library_splitter": self.library.view.splitter}

    def _restore_state(self) -> None:
        restore_layout(self, self._splitters(), self.settings)
        conversation = self.settings.extra.get("conversation")
        if isinstance(conversation, int) and self.history.conversation(conversation):
            self.conversations.open_conversation(conversation)

    def save_state(self) -> None:
        save_layout(self, self._splitters(), self.settings)
        self.settings.extra["conversation"] = self.conversations.conversation_id
        try:
            self.settings.save()
        except OSError as exc:
            print(f"Knowledge Assistant: the window layout could not be saved: {exc}")

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.overlay.show_for(paths, self.context.collection)
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
        self.indexing.add_paths(paths)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.fit()

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
                self.sources.refresh()

    def shutdown(self) -> None:
        """Stop everything in the background and close the stores (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.save_state()
        self.sharing.shutdown()
        self.indexing.stop()
        self.conversations.shutdown()
        self.teach.shutdown()
        self.backend.shutdown()
        self.history.close()
        if self.probe.running:
            self.probe.stop()
            print(self.probe.report())

    def closeEvent(self, event: QCloseEvent) -> None:
        # Quitting mid-index is safe: each document is written in one transaction, and the
        # rest is picked up at the next start.
        self.shutdown()
        super().closeEvent(event)
