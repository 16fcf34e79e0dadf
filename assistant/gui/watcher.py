"""Watched folders: changes on disk trigger an incremental re-index of that folder.

`watchdog` watches each folder recursively on its own thread; its events are passed to the GUI
thread through a queued signal and gathered by a debounce timer, so saving a file (which often
writes it several times) or copying in a hundred files leads to one incremental index run per
folder, after things have settled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from assistant.ingest.extract import is_supported

DEBOUNCE_MS = 1500
_RELEVANT = {"created", "modified", "deleted", "moved", "closed"}


def _hidden(path: str, root: str) -> bool:
    rel = os.path.relpath(path, root)
    return any(part.startswith((".", "~$")) for part in Path(rel).parts)


class _Handler:
    """A watchdog event handler for one folder (runs on watchdog's thread)."""

    def __init__(self, watcher: FolderWatcher, folder: str, collection: str) -> None:
        from assistant import paths

        self.watcher = watcher
        self.folder = folder
        self.collection = collection
        # the app's own files (settings, store) may live inside a watched folder
        self.own = str(paths.home())

    def dispatch(self, event: Any) -> None:
        if event.event_type not in _RELEVANT:
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        for raw in paths:
            if not raw:
                continue
            path = os.fsdecode(raw)
            if _hidden(path, self.folder) or path == self.own or \
                    path.startswith(self.own.rstrip(os.sep) + os.sep):
                continue
            if event.is_directory:
                if event.event_type == "modified":  # a file inside changed: reported itself
                    continue
            elif not is_supported(Path(path)):
                continue
            self.watcher._raw.emit(self.folder, self.collection)
            return


class FolderWatcher(QObject):
    """Emits `changed(folder, collection)` once a watched folder's files settle after a change."""

    changed = Signal(str, str)
    _raw = Signal(str, str)

    def __init__(self, debounce_ms: int = DEBOUNCE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._observer: Any = None
        self._folders: list[tuple[str, str]] = []
        self._pending: dict[tuple[str, str], None] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._flush)
        self._raw.connect(self._event, Qt.ConnectionType.QueuedConnection)
        self.paused = False

    @property
    def folders(self) -> list[tuple[str, str]]:
        return list(self._folders)

    def set_folders(self, watched: list[tuple[str, str]]) -> None:
        """Watch exactly these (collection, folder) pairs."""
        wanted = [(c, f) for c, f in watched if Path(f).is_dir()]
        if wanted == self._folders and self._observer is not None:
            return
        self._stop_observer()
        self._folders = wanted
        if not wanted:
            return
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        for collection, folder in wanted:
            try:
                observer.schedule(_Handler(self, folder, collection),  # type: ignore[arg-type]
                                  folder, recursive=True)
            except OSError:  # gone, or the system's watch limit is reached
                continue
        observer.start()
        self._observer = observer

    @Slot(str, str)
    def _event(self, folder: str, collection: str) -> None:
        if self.paused:
            return
        self._pending[(folder, collection)] = None
        self._timer.start()

    def _flush(self) -> None:
        pending, self._pending = list(self._pending), {}
        for folder, collection in pending:
            self.changed.emit(folder, collection)

    def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        self._timer.stop()
        self._pending.clear()
        self._stop_observer()
        self._folders = []
