"""Indexing and watched folders: adding files and folders, re-indexing, the start-up check of
watched folders, the progress area under the pages, and the folder watcher.

Every run goes to the backend's index worker, one after another; the progress area shows the
running one and how many wait. A quiet run (a watched folder that changed, the start-up check)
shows itself only once it finds files to index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog

from assistant.errors import UserError
from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.library import LibraryController, Listing
from assistant.gui.dialogs import FailuresDialog
from assistant.gui.progress import EmbedderNotice, IndexProgressArea, fmt_seconds
from assistant.gui.tasks import Failure, Job
from assistant.gui.watcher import FolderWatcher
from assistant.gui.wording import plural, skipped_text
from assistant.ingest.extract import SUPPORTED_EXTENSIONS
from assistant.paths import is_under
from assistant.search.reembed import ReembedProgress

# Every type the indexer reads (from its own table, so the two never disagree).
DOCUMENT_FILTER = (f"Documents ({' '.join(f'*{ext}' for ext in sorted(SUPPORTED_EXTENSIONS))})"
                   ";;All files (*)")


class IndexingController(QObject):
    """Owns `progress`, `watcher` and the add-files / add-folder actions."""

    finished = Signal(object)  # IndexSummary (or None when cancelled/failed)
    files_indexed = Signal()  # a running job has put documents in the library

    def __init__(self, context: AppContext, library: LibraryController, *,
                 watch: bool = True) -> None:
        super().__init__(context.window)
        self.context = context
        self.backend = context.backend
        self.library = library
        self.jobs: dict[int, dict[str, Any]] = {}
        self.summaries: list[Any] = []  # every finished run (None when it failed)
        self.watch_enabled = watch

        action = context.action
        self.add_files_action = action("Add files…", self.choose_files, "Ctrl+O",
                                       "Add documents to the library (Ctrl+O)")
        self.add_folder_action = action("Add folder…", self.choose_folder, "Ctrl+Shift+O",
                                        "Add a folder and keep it in sync (Ctrl+Shift+O)")
        self.progress = IndexProgressArea()
        self.progress.cancel_requested.connect(self.cancel)
        self.progress.show_failures.connect(self.show_failures)
        self.progress.show_skipped.connect(self.show_skipped)
        self.embedder_notice = EmbedderNotice(lambda: self.backend.embedder.loaded)
        self.backend.embedder_notice.connect(self._embedder_notice)
        self.watcher = FolderWatcher(parent=self)
        self.watcher.changed.connect(self._watched_folder_changed)

        view = library.view
        view.add_files.connect(self.choose_files)
        view.add_folder.connect(self.choose_folder)
        view.reindex.connect(self.reindex)
        view.unwatch.connect(self.unwatch)
        view.rescan.connect(lambda f, c: self.index_folder(f, c, quiet=False))
        view.show_skipped.connect(
            lambda c: self.show_skipped(list(self.skipped.get(c, {}).items())))
        library.refreshed.connect(self._listed)
        # files skipped for their type, per collection ({path: type}), from this session's
        # runs (the start-up check of watched folders finds them again after a restart)
        self.skipped: dict[str, dict[str, str]] = {}

    @property
    def running(self) -> bool:
        return self.progress.running

    # ------------------------------------------------------------------ what to index
    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.context.window, "Add documents",
                                                str(Path.home()), DOCUMENT_FILTER)
        if paths:
            self.add_paths(paths)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.context.window,
                                                  "Add a folder (kept in sync)",
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
        collection = self.context.collection
        return self._submit(paths, collection, title=f"Adding {what} to “{collection}”",
                            watch=True)

    def reindex(self, paths: list[str]) -> None:
        if paths:
            n = len(paths)
            self._submit(paths, self.library.shown_collection,
                         title=f"Re-indexing {n} document{'s' if n != 1 else ''}", force=True)

    def index_folder(self, folder: str, collection: str, quiet: bool = True) -> Job | None:
        """Bring a watched folder up to date (unless that is already queued)."""
        for info in self.jobs.values():
            if not info["job"].started and info["paths"] == [folder]:
                return None  # already queued
        return self._submit([folder], collection,
                            title=f"Updating “{Path(folder).name}” in “{collection}”",
                            quiet=quiet)

    def check_watched_folders(self) -> Job:
        """At start: pick up what changed in watched folders while the app was closed."""
        return self._submit([], self.context.collection, title="Updating watched folders",
                            quiet=True, startup=True)

    def _watched_folder_changed(self, folder: str, collection: str) -> None:
        self.index_folder(folder, collection, quiet=True)

    def _listed(self, listing: Listing) -> None:
        if self.watch_enabled:
            self.watcher.set_folders(listing.watched)
        self.library.view.set_skipped(len(self.skipped.get(self.library.shown_collection, {})))

    def _remember_skipped(self, summary: Any, collection: str) -> None:
        """Keep what a run skipped for the Library: a run replaces what was known under the
        folders it looked at."""
        known = self.skipped.setdefault(getattr(summary, "collection", collection), {})
        roots = getattr(summary, "paths", None) or []
        for path in [p for p in known if any(is_under(p, r) for r in roots)]:
            del known[path]
        known.update((s.path, s.type) for s in summary.skipped)

    def unwatch(self, folder: str, collection: str) -> None:
        self.backend.write(lambda store: store.unwatch(folder, collection),
                           success=lambda _: self.context.notify(
                               f"No longer watching {folder}; its documents stay in the "
                               "library.", 8000), failure=self.context.report, name="unwatch")

    # ------------------------------------------------------------------ runs
    def _submit(self, paths: list[str], collection: str, *, title: str, quiet: bool = False,
                watch: bool = False, force: bool = False, startup: bool = False) -> Job:
        info: dict[str, Any] = {"title": title, "quiet": quiet, "paths": list(paths),
                                "shown": False, "collection": collection}

        def progress(p: Any) -> None:
            reembedding = isinstance(p, ReembedProgress)
            if not info["shown"]:
                if quiet and (p is None or not (p.total if reembedding else p.files_total)):
                    return
                info["shown"] = True
                self.progress.start("Updating the library for the new embedding model"
                                    if reembedding else title, queued=self._queued(info))
            self.progress.set_queued(self._queued(info))
            self.progress.update_progress(p, embedder_loading=not self.backend.embedder.loaded)
            if p is not None and not reembedding and p.files_done:
                self.library.schedule_refresh()
                self.files_indexed.emit()

        def success(summary: Any) -> None:
            self._done(info, summary)

        def failure(fail: Failure) -> None:
            self._done(info, None, fail)

        if startup:
            job = self.backend.check_library(progress=progress, success=success,
                                             failure=failure)
        else:
            job = self.backend.index(paths, collection, progress=progress, success=success,
                                     failure=failure, watch=watch, force=force, name="index")
        info["job"] = job
        self.jobs[job.id] = info
        if not quiet and not self.progress.running:
            self.progress.start(title, queued=self._queued(info))
            info["shown"] = True
        elif self.progress.running:
            self.progress.set_queued(self._queued(None))
        return job

    def _queued(self, current: dict[str, Any] | None) -> int:
        return sum(1 for i in self.jobs.values()
                   if i is not current and not i["job"].done and not i["job"].started)

    def _done(self, info: dict[str, Any], summary: Any, fail: Failure | None = None) -> None:
        self.jobs.pop(info["job"].id, None)
        if fail is not None:
            if fail.is_cancelled:
                if info["shown"] or not info["quiet"]:
                    self.progress.finish("Indexing cancelled",
                                         "What was indexed so far is kept.", [])
            else:
                self.progress.finish("Indexing stopped", str(fail.exception)
                                     if isinstance(fail.exception, UserError)
                                     else "A bug stopped indexing; see the report.", [])
                self.context.report(fail)
            self.summaries.append(None)
            self.finished.emit(None)
            return
        self._remember_skipped(summary, info["collection"])
        # a run the user asked for names every file it skipped; a quiet re-check does not
        skipped = [] if info["quiet"] else [(s.path, s.type) for s in summary.skipped]
        changed = summary.indexed or summary.removed or summary.failed or skipped
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
        if skipped:
            parts.append(f"{len(skipped)} skipped (type not supported)")
        parts.append(f"{summary.chunks} passages in {fmt_seconds(summary.seconds) or '0 s'}")
        detail = " · ".join(parts)
        if summary.cancelled:
            detail = "What was indexed so far is kept. " + detail
        if info["shown"] or changed:
            self.progress.finish(title, detail, failures, skipped)
        elif failures:
            self.progress.add_failures(failures)
        self.library.refresh()
        self.summaries.append(summary)
        self.finished.emit(summary)

    def cancel(self) -> None:
        self.backend.cancel_indexing()

    def _embedder_notice(self, text: str) -> None:
        """The embedder prepares itself (once): say so in the window, not only the terminal."""
        self.embedder_notice.show_notice(text)
        if self.progress.running:
            self.progress.detail.setText(text)

    def show_failures(self) -> None:
        dialog = FailuresDialog(self.progress.failures, self.context.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def show_skipped(self, skipped: list[tuple[str, str]] | None = None) -> None:
        """List files skipped for their type: the last runs' (or `skipped`: (path, type))."""
        chosen = self.progress.skipped if skipped is None else skipped
        rows = [(path, skipped_text(kind)) for path, kind in chosen]
        n = len(rows)
        dialog = FailuresDialog(
            rows, self.context.window, title="Files skipped",
            intro=f"{plural(n, 'file')} in the folder {'is' if n == 1 else 'are'} of a type "
                  "the app does not read, so nothing in "
                  f"{'it' if n == 1 else 'them'} can be searched. Hidden files and the app's "
                  "own data are left out without a mention.")
        dialog.setObjectName("SkippedDialog")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def stop(self) -> None:
        """At close: stop watching (the index worker itself stops with the backend)."""
        self.watcher.stop()
