"""The library: collections, their documents with status, and the watched folders.

Listings are read on the reader worker (its own Store) and shown here; changes (remove,
re-index, collections, watching) are requested through signals and run on the index worker.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from assistant.gui import theme
from assistant.gui.wording import Counts, reason_text
from assistant.gui.wrapping import PathDelegate, WrapDelegate

COLUMNS = ("Name", "Status", "Size", "Pages", "Chunks", "Indexed", "Folder")
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
DOC_ROLE = Qt.ItemDataRole.UserRole + 2
SORT_ROLE = Qt.ItemDataRole.UserRole + 3


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def human_time(ts: float | None) -> str:
    if not ts:
        return ""
    t = time.localtime(ts)
    if time.strftime("%Y-%m-%d", t) == time.strftime("%Y-%m-%d"):
        return time.strftime("today %H:%M", t)
    return time.strftime("%Y-%m-%d %H:%M", t)


class LibraryView(QWidget):
    add_files = Signal()
    add_folder = Signal()
    remove = Signal(list)  # [(doc id, path)]
    reindex = Signal(list)  # [path]
    reveal = Signal(str)
    open_document = Signal(str)
    new_collection = Signal()
    rename_collection = Signal(str)
    delete_collection = Signal(str)
    collection_chosen = Signal(str)
    unwatch = Signal(str, str)  # folder, collection
    rescan = Signal(str, str)
    show_failures = Signal()
    show_skipped = Signal(str)  # collection

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.collection: str | None = None
        self.documents: list[Any] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("LibrarySplitter")
        layout.addWidget(self.splitter)

        # collections
        left = QWidget()
        left.setObjectName("Sidebar")
        left.setMinimumWidth(230)
        left.setMaximumWidth(320)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(10, 12, 6, 10)
        title = QLabel("COLLECTIONS")
        title.setObjectName("SidebarTitle")
        lv.addWidget(title)
        self.collections = QListWidget()
        self.collections.setObjectName("Conversations")
        self.collections.currentItemChanged.connect(self._collection_changed)
        self.collections.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.collections.customContextMenuRequested.connect(self._collection_menu)
        lv.addWidget(self.collections, 1)
        row = QHBoxLayout()
        self.new_button = QPushButton("New…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        for b in (self.new_button, self.rename_button, self.delete_button):
            row.addWidget(b)
        lv.addLayout(row)
        self.new_button.clicked.connect(self.new_collection)
        self.rename_button.clicked.connect(lambda: self.collection and
                                           self.rename_collection.emit(self.collection))
        self.delete_button.clicked.connect(lambda: self.collection and
                                           self.delete_collection.emit(self.collection))
        self.splitter.addWidget(left)

        # documents
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(12, 12, 12, 10)
        head = QHBoxLayout()
        self.heading = QLabel()
        self.heading.setObjectName("EmptyTitle")
        font = self.heading.font()
        self.heading.setFont(font)
        head.addWidget(self.heading)
        head.addStretch(1)
        self.summary = QLabel()
        self.summary.setObjectName("Muted")
        head.addWidget(self.summary)
        # files of an added folder that are not read: not in the table, but not silent either
        self.skipped_button = QPushButton()
        self.skipped_button.setObjectName("SkippedButton")
        self.skipped_button.setToolTip("Files in the added folders whose type the app does "
                                       "not read")
        self.skipped_button.clicked.connect(
            lambda: self.collection and self.show_skipped.emit(self.collection))
        self.skipped_button.hide()
        head.addWidget(self.skipped_button)
        rv.addLayout(head)

        tools = QHBoxLayout()
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.setObjectName("Primary")
        self.add_folder_button = QPushButton("Add folder…")
        self.reindex_button = QPushButton("Re-index")
        self.remove_button = QPushButton("Remove")
        self.reveal_button = QPushButton("Show in folder")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, folder or status")
        self.filter.setClearButtonEnabled(True)
        for b in (self.add_files_button, self.add_folder_button, self.reindex_button,
                  self.remove_button, self.reveal_button):
            tools.addWidget(b)
        tools.addStretch(1)
        tools.addWidget(self.filter, 1)
        rv.addLayout(tools)
        self.add_files_button.clicked.connect(self.add_files)
        self.add_folder_button.clicked.connect(self.add_folder)
        self.reindex_button.clicked.connect(
            lambda: self.reindex.emit([p for _, p in self.selected()]))
        self.remove_button.clicked.connect(lambda: self.remove.emit(self.selected()))
        self.reveal_button.clicked.connect(self._reveal_selected)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortRole(SORT_ROLE)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTreeView()
        self.table.setObjectName("Documents")
        self.table.setModel(self.proxy)
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # long reasons wrap inside the Status column instead of being cut
        self.table.setItemDelegateForColumn(1, WrapDelegate(self.table))
        self.table.setItemDelegateForColumn(6, PathDelegate(self.table))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._document_menu)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        header = self.table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 190), (2, 72), (3, 50), (4, 56), (5, 108), (6, 120)):
            header.resizeSection(col, width)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        rv.addWidget(self.table, 1)
        delete = QAction("Remove", self.table)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(lambda: self.remove.emit(self.selected()))
        self.table.addAction(delete)

        watched_title = QLabel("WATCHED FOLDERS — kept in sync while the app runs, and "
                               "checked at every start")
        watched_title.setObjectName("SidebarTitle")
        rv.addWidget(watched_title)
        wrow = QHBoxLayout()
        self.watched = QListWidget()
        self.watched.setMaximumHeight(110)
        wrow.addWidget(self.watched, 1)
        wbuttons = QVBoxLayout()
        self.rescan_button = QPushButton("Check now")
        self.unwatch_button = QPushButton("Stop watching")
        wbuttons.addWidget(self.rescan_button)
        wbuttons.addWidget(self.unwatch_button)
        wbuttons.addStretch(1)
        wrow.addLayout(wbuttons)
        rv.addLayout(wrow)
        self.rescan_button.clicked.connect(lambda: self._watched_action(self.rescan))
        self.unwatch_button.clicked.connect(lambda: self._watched_action(self.unwatch))
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([230, 900])
        self._update_buttons()

    # --- data ------------------------------------------------------------------------
    def set_collections(self, counts: dict[str, Counts], current: str) -> None:
        self.collections.blockSignals(True)
        self.collections.clear()
        names = sorted(set(counts) | {current})
        for name in names:
            held = counts.get(name, Counts())
            item = QListWidgetItem(f"{name}  ·  {held.documents}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(held.text())
            self.collections.addItem(item)
            if name == (self.collection or current):
                self.collections.setCurrentItem(item)
        self.collections.blockSignals(False)
        if self.collection is None or self.collection not in names:
            self.collection = current
            for i in range(self.collections.count()):
                if self.collections.item(i).data(Qt.ItemDataRole.UserRole) == current:
                    self.collections.setCurrentRow(i)
        self.delete_button.setEnabled(bool(self.collection))
        self.rename_button.setEnabled(bool(self.collection))

    def set_documents(self, collection: str, documents: list[Any]) -> None:
        if collection != self.collection:
            return
        self.documents = documents
        selected = {p for _, p in self.selected()}
        self.model.removeRows(0, self.model.rowCount())
        for doc in documents:
            path = Path(doc.path)
            name = QStandardItem(path.name)
            name.setToolTip(f"{doc.title}\n{doc.path}" if doc.title else doc.path)
            if doc.status == "indexed":
                status_text, color = "Indexed", theme.good()
                if doc.warnings:
                    status_text = f"Indexed — {reason_text(doc.warnings[0])}"
            elif doc.status == "failed":
                status_text = f"Could not be read — {reason_text(doc.error or 'unknown reason')}"
                color = theme.bad()
            else:
                status_text, color = "Waiting to be indexed", theme.warn()
            status = QStandardItem(f"● {status_text}")
            status.setForeground(color)
            status.setToolTip(html.escape(status_text))
            size = QStandardItem(human_size(doc.size) if doc.size else "")
            pages = QStandardItem(str(doc.pages) if doc.pages else "")
            chunks = QStandardItem(str(doc.chunks) if doc.chunks else "")
            when = QStandardItem(human_time(doc.indexed_at))
            folder = QStandardItem(str(path.parent))
            folder.setToolTip(str(path.parent))
            sort_keys = (path.name.lower(), f"{doc.status} {status_text}", doc.size, doc.pages,
                         doc.chunks, doc.indexed_at or 0.0, str(path.parent).lower())
            row = [name, status, size, pages, chunks, when, folder]
            for item, key in zip(row, sort_keys, strict=True):
                item.setEditable(False)
                item.setData(key, SORT_ROLE)
                item.setData(doc.path, PATH_ROLE)
                item.setData(doc.id, DOC_ROLE)
            for item in (size, pages, chunks):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow(row)
        counts = Counts.of(documents)
        self.summary.setText("No documents yet" if counts.empty else counts.text())
        self.heading.setText(collection)
        if selected:
            sel = self.table.selectionModel()
            for r in range(self.proxy.rowCount()):
                idx = self.proxy.index(r, 0)
                if idx.data(PATH_ROLE) in selected:
                    sel.select(idx, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
        self._update_buttons()

    def set_skipped(self, n: int) -> None:
        """How many files of the shown collection's folders were skipped for their type."""
        self.skipped_button.setText(f"Show {n} skipped")
        self.skipped_button.setVisible(n > 0)

    def set_watched(self, watched: list[tuple[str, str]]) -> None:
        self.watched.clear()
        for collection, folder in watched:
            item = QListWidgetItem(f"{folder}    →  {collection}")
            item.setData(Qt.ItemDataRole.UserRole, (folder, collection))
            item.setToolTip(f"{folder} is indexed into “{collection}” and kept in sync")
            self.watched.addItem(item)
        if not watched:
            item = QListWidgetItem("No watched folders. Folders you add or drop are watched.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.watched.addItem(item)
        has = bool(watched)
        self.rescan_button.setEnabled(has)
        self.unwatch_button.setEnabled(has)

    # --- helpers ---------------------------------------------------------------------
    def selected(self) -> list[tuple[int, str]]:
        rows = self.table.selectionModel().selectedRows(0)
        return [(int(i.data(DOC_ROLE)), str(i.data(PATH_ROLE))) for i in rows]

    def _update_buttons(self, *_: Any) -> None:
        has = bool(self.table.selectionModel().selectedRows(0))
        for b in (self.reindex_button, self.remove_button, self.reveal_button):
            b.setEnabled(has)

    def _collection_changed(self, current: QListWidgetItem | None, _prev: Any) -> None:
        if current is None:
            return
        name = current.data(Qt.ItemDataRole.UserRole)
        if name != self.collection:
            self.collection = name
            self.model.removeRows(0, self.model.rowCount())
            self.collection_chosen.emit(name)

    def _reveal_selected(self) -> None:
        rows = self.selected()
        if rows:
            self.reveal.emit(rows[0][1])

    def _double_clicked(self, index: QModelIndex) -> None:
        path = index.data(PATH_ROLE)
        if path:
            self.open_document.emit(str(path))

    def _watched_action(self, signal: Any) -> None:
        item = self.watched.currentItem() or (self.watched.item(0)
                                              if self.watched.count() == 1 else None)
        data = item.data(Qt.ItemDataRole.UserRole) if item else None
        if data:
            signal.emit(*data)

    def _document_menu(self, pos: Any) -> None:
        rows = self.selected()
        if not rows:
            return
        menu = QMenu(self)
        open_action = menu.addAction("Open")
        open_action.triggered.connect(lambda: self.open_document.emit(rows[0][1]))
        reveal = menu.addAction("Show in folder")
        reveal.triggered.connect(lambda: self.reveal.emit(rows[0][1]))
        menu.addSeparator()
        reindex = menu.addAction("Re-index")
        reindex.triggered.connect(lambda: self.reindex.emit([p for _, p in rows]))
        remove = menu.addAction("Remove from the library")
        remove.triggered.connect(lambda: self.remove.emit(rows))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _collection_menu(self, pos: Any) -> None:
        item = self.collections.itemAt(pos)
        menu = QMenu(self)
        menu.addAction("New collection…").triggered.connect(self.new_collection)
        if item is not None:
            name = item.data(Qt.ItemDataRole.UserRole)
            menu.addAction("Rename…").triggered.connect(
                lambda: self.rename_collection.emit(name))
            menu.addAction("Delete…").triggered.connect(
                lambda: self.delete_collection.emit(name))
        menu.exec(self.collections.viewport().mapToGlobal(pos))
