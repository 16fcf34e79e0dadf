"""Sources and viewer: the tabs beside the chat, the passages an answer used and the documents
opened at them.

The first tab always shows the selected answer's sources, and is pinned: its button sits in the
tab bar's corner, always visible. Each document opened from a source, a citation or the library
gets a tab of its own, up to a handful.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QTabWidget, QToolButton

from assistant.gui.chatview import TurnView
from assistant.gui.controllers.context import AppContext
from assistant.gui.sourcesview import SourcesView
from assistant.gui.viewer import DocumentViewer, Target

MAX_TABS = 7  # the sources tab and six documents


class SourcesController(QObject):
    """Owns the right-hand tabs: `view` (the sources of one answer) and the document viewers."""

    def __init__(self, context: AppContext) -> None:
        super().__init__(context.window)
        self.context = context
        self.tabs = QTabWidget()
        self.tabs.setObjectName("RightTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setMinimumWidth(300)
        self.tabs.tabCloseRequested.connect(self._close_tab)
        self.tabs.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.view = SourcesView()
        self.view.open_requested.connect(self.open_source)
        self.tabs.addTab(self.view, "Sources")
        # The sources tab is pinned: its button sits in the tab bar's corner, so however many
        # documents are open (and however far their tabs scroll) it is one click away.
        self.tabs.tabBar().setTabVisible(0, False)
        self.sources_button = QToolButton()
        self.sources_button.setObjectName("SourcesTabButton")
        self.sources_button.setText("Sources")
        self.sources_button.setCheckable(True)
        self.sources_button.setAutoRaise(True)
        self.sources_button.setToolTip("The passages of the selected answer")
        self.sources_button.clicked.connect(self.bring_forward)
        self.tabs.setCornerWidget(self.sources_button, Qt.Corner.TopLeftCorner)
        self.tabs.currentChanged.connect(self._current_changed)
        self._current_changed(self.tabs.currentIndex())

    # ------------------------------------------------------------------ the sources tab
    def show_turn(self, turn: TurnView | None, *, bring_forward: bool = False) -> None:
        """Show `turn`'s sources (None: the hint shown before any answer)."""
        self.view.show_turn(turn)
        if bring_forward:
            self.tabs.setCurrentWidget(self.view)

    def bring_forward(self) -> None:
        self.tabs.setCurrentWidget(self.view)
        self.sources_button.setChecked(True)

    def _current_changed(self, _index: int) -> None:
        self.sources_button.setChecked(self.tabs.currentWidget() is self.view)

    def showing(self, turn_id: int) -> bool:
        return self.view.turn is not None and self.view.turn.id == turn_id

    def refresh(self) -> None:
        """Draw the shown sources again (their colours follow the palette)."""
        if self.view.turn is not None:
            self.view.show_turn(self.view.turn)

    def open_citation(self, turn: TurnView, n: int) -> DocumentViewer | None:
        """Mark citation [n] of `turn` among its sources and open its document at the passage."""
        if not self.showing(turn.id):
            self.view.show_turn(turn)
        card = self.view.highlight(n)
        hit = next((c.get("hit") for c in turn.citations if int(c.get("n", -1)) == n), None)
        if hit:
            return self.open_source(hit, card.span if card is not None else None)
        return None

    # ------------------------------------------------------------------ documents
    def viewer_for(self, path: str) -> DocumentViewer:
        """The tab showing `path`, opened if need be (the oldest document tab makes room)."""
        for i in range(self.tabs.count()):
            widget = self.tabs.widget(i)
            if isinstance(widget, DocumentViewer) and str(widget.path) == str(path):
                return widget
        viewer = DocumentViewer(path)
        index = self.tabs.addTab(viewer, Path(path).name)
        self.tabs.setTabToolTip(index, str(path))
        while self.tabs.count() > MAX_TABS:
            oldest = next(i for i in range(self.tabs.count())
                          if self.tabs.widget(i) is not self.view)
            old = self.tabs.widget(oldest)
            self.tabs.removeTab(oldest)
            if old is not None:
                old.deleteLater()
        return viewer

    def open_source(self, hit: dict[str, Any], span: Any = None) -> DocumentViewer | None:
        """Open a passage's document at the passage (`span`: the part to mark within it)."""
        path = str(hit.get("path", ""))
        if not Path(path).exists():
            self.context.tell(f"'{path}' is no longer there; it may have been moved or "
                              "deleted. Re-index its folder to update the library.")
            return None
        self.context.show_page("chat")
        viewer = self.viewer_for(path)
        self.tabs.setCurrentWidget(viewer)
        viewer.show_passage(Target(page=hit.get("page"), start=int(hit.get("start") or 0),
                                   end=int(hit.get("end") or 0), text=str(hit.get("text", "")),
                                   span=tuple(span) if span else None,
                                   place=hit.get("place")))
        return viewer

    def open_document(self, path: str) -> None:
        """Open a document at its start (from the library)."""
        if not Path(path).exists():
            self.context.tell(f"'{path}' is no longer there.")
            return
        self.context.show_page("chat")
        viewer = self.viewer_for(path)
        self.tabs.setCurrentWidget(viewer)
        viewer.show_passage(Target(page=1 if viewer.is_pdf else None, start=0, end=0, text=""))

    def _close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.view:
            return
        self.tabs.removeTab(index)
        if widget is not None:
            widget.deleteLater()
