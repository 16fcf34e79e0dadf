"""Library and collections: the Library page, the toolbar's collection box and the sidebar's
one-line summary, all filled from one listing read on the reader worker.

Listings are re-read at most every LIBRARY_REFRESH_MS while documents arrive, so a large
indexing run does not flood the reader. Other areas follow the library through `refreshed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QInputDialog, QLabel, QLineEdit

from assistant.errors import UserError
from assistant.gui import desktop, dialogs
from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.sources import SourcesController
from assistant.gui.libraryview import LibraryView
from assistant.gui.wording import Counts

LIBRARY_REFRESH_MS = 800  # listings refresh at most this often while indexing
TEAM_POLL_MS = 10_000  # a team library: what other copies of the app wrote shows this soon


@dataclass
class Listing:
    """One read of the library: what the page, the box and the summary show."""

    counts: dict[str, Counts]  # per collection (documents are the indexed files)
    documents: list[Any]  # of the collection shown on the page
    watched: list[tuple[str, str]]  # (collection, folder)
    active_documents: int  # indexed documents in the active collection


class LibraryController(QObject):
    """Owns `view` (the Library page), `collection_box` and `status_label`."""

    refreshed = Signal(object)  # Listing, once every widget shows it

    def __init__(self, context: AppContext, sources: SourcesController) -> None:
        super().__init__(context.window)
        self.context = context
        self.backend = context.backend
        self.collection_counts: dict[str, Counts] = {}
        self.active_documents = 0

        self.view = LibraryView()
        self.view.remove.connect(self.remove_documents)
        self.view.reveal.connect(self.reveal)
        self.view.open_document.connect(sources.open_document)
        self.view.new_collection.connect(self.new_collection)
        self.view.rename_collection.connect(self.rename_collection)
        self.view.delete_collection.connect(self.delete_collection)
        self.view.collection_chosen.connect(lambda _: self.refresh())

        self.collection_box = QComboBox()
        self.collection_box.setObjectName("CollectionBox")
        self.collection_box.setMinimumContentsLength(12)
        self.collection_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.collection_box.setToolTip("Questions are answered from this collection, and "
                                       "documents you add go into it")
        self.collection_box.activated.connect(self._collection_picked)

        self.status_label = QLabel()
        self.status_label.setObjectName("Muted")
        self.status_label.setWordWrap(True)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(LIBRARY_REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        # other copies of the app write to a team library too: its change counter is read
        # now and then, and a change refreshes the listings
        self._seen_generation: int | None = None
        self._polling = False
        self._team_timer = QTimer(self)
        self._team_timer.setInterval(TEAM_POLL_MS)
        self._team_timer.timeout.connect(self._look_for_other_copies)
        self._team_timer.start()

    # ------------------------------------------------------------------ listings
    @property
    def shown_collection(self) -> str:
        """The collection the Library page shows (the active one unless another was picked)."""
        return self.view.collection or self.context.collection

    def collection_names(self) -> list[str]:
        return sorted(self.collection_counts)

    def schedule_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Read listings on the reader worker, then show them."""
        shown = self.shown_collection
        active = self.context.collection

        def read(store: Any) -> Listing:
            every: dict[str, list[Any]] = {name: [] for name in store.collections()}
            for doc in store.documents():
                every.setdefault(doc.collection, []).append(doc)
            counts = {name: Counts.of(docs) for name, docs in every.items()}
            active_docs = counts[active].documents if active in counts else 0
            return Listing(counts=counts, documents=every.get(shown, []),
                           watched=store.watched(), active_documents=active_docs)

        def show(listing: Listing) -> None:
            self.collection_counts = listing.counts
            self.active_documents = listing.active_documents
            self._fill_collection_box()
            self.view.set_collections(listing.counts, shown)
            self.view.set_documents(shown, listing.documents)
            self.view.set_watched(listing.watched)
            counts = listing.counts.get(active, Counts())
            self.status_label.setText(f"“{active}”: {counts.text()}")
            self.status_label.setToolTip(
                "Documents are the files you can ask about; files that could not be read "
                "are listed in the Library with the reason.")
            self.refreshed.emit(listing)

        self.backend.read(read, success=show, owner=self, name="listing")

    def _look_for_other_copies(self) -> None:
        from assistant.store.backend import default_target

        if self._polling or default_target(self.context.settings) is None:
            self._seen_generation = None
            return
        self._polling = True

        def read(store: Any) -> int | None:
            return int(store.generation()) if store.backend == "postgresql" else None

        def seen(generation: int | None) -> None:
            if generation is not None and self._seen_generation is not None and \
                    generation != self._seen_generation:
                self.schedule_refresh()
            self._seen_generation = generation

        def done() -> None:
            self._polling = False

        # a server that does not answer is said by the work the user asked for, not here
        self.backend.read(read, success=seen, failure=lambda _: None, finished=done,
                          owner=self, name="team-changes")

    def show_active_collection(self) -> None:
        """The active collection changed in the settings: show it on the page."""
        self.view.collection = self.context.collection
        self.refresh()

    def reveal(self, path: str) -> None:
        try:
            desktop.show_in_folder(path)
        except UserError as exc:
            self.context.tell(str(exc))

    def remove_documents(self, rows: list[tuple[int, str]]) -> None:
        if not rows:
            return
        n = len(rows)
        what = f"“{Path(rows[0][1]).name}”" if n == 1 else f"{n} documents"
        if not dialogs.confirm(self.context.window, "Remove from the library",
                               f"Remove {what} from the library? The files stay on disk (a "
                               "file in a watched folder comes back when it changes).",
                               "Remove"):
            return
        ids = [doc_id for doc_id, _ in rows]

        def work(store: Any) -> int:
            for doc_id in ids:
                store.remove_document(doc_id)
            return len(ids)

        self.backend.write(work, success=lambda k: self.context.notify(
            f"Removed {k} document{'s' if k != 1 else ''} from the library.", 6000),
            failure=self.context.report, name="remove")

    # ------------------------------------------------------------------ collections
    def _fill_collection_box(self) -> None:
        box = self.collection_box
        active = self.context.collection
        box.blockSignals(True)
        box.clear()
        names = sorted(set(self.collection_counts) | {active})
        for name in names:
            counts = self.collection_counts.get(name, Counts())
            box.addItem(f"{name} ({counts.documents})", name)
            box.setItemData(box.count() - 1, counts.text(), Qt.ItemDataRole.ToolTipRole)
        box.insertSeparator(box.count())
        box.addItem("New collection…", None)
        box.setCurrentIndex(names.index(active))
        box.blockSignals(False)

    def _collection_picked(self, index: int) -> None:
        name = self.collection_box.itemData(index)
        if name is None:
            self.new_collection()
            return
        self.set_collection(str(name))

    def set_collection(self, name: str) -> None:
        """Make `name` the active collection (saved in the settings)."""
        try:
            self.context.settings.set("collection", name)
            self.context.settings.save()
        except (UserError, OSError) as exc:
            self.context.tell(str(exc))
            return
        self.view.collection = name
        self.refresh()

    def new_collection(self) -> None:
        name, ok = QInputDialog.getText(self.context.window, "New collection",
                                        "Name of the new collection:")
        name = name.strip()
        if not ok or not name:
            self._fill_collection_box()
            return
        self.backend.write(lambda store: store.collection_id(name),
                           success=lambda _: self.set_collection(name), name="collection")

    def rename_collection(self, old: str) -> None:
        new, ok = QInputDialog.getText(self.context.window, "Rename collection", "New name:",
                                       QLineEdit.EchoMode.Normal, old)
        new = new.strip()
        if not ok or not new or new == old:
            return

        def done(_: Any) -> None:
            if self.context.collection == old:
                self.set_collection(new)
            self.view.collection = new

        self.backend.write(lambda store: store.rename_collection(old, new), success=done,
                           failure=self.context.report, name="collection")

    def delete_collection(self, name: str) -> None:
        n = self.collection_counts.get(name, Counts()).documents
        if not dialogs.confirm(self.context.window, "Delete collection",
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
            self.view.collection = None
            if self.context.collection == name:
                self.set_collection("default")

        self.backend.write(work, success=done, failure=self.context.report, name="collection")
