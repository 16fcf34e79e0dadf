"""Index files and folders into a collection: incremental, resumable, never stalled by one file.

The pipeline:
    scan (stat) -> worker process: hash, extract, chunk -> embed (batched) -> write (one
    transaction per document).
Extraction of the next files runs in the worker process while this process embeds, so the
embedder is kept busy. Each file has a time limit enforced by killing the worker; a file
that hangs or crashes its parser is reported and the rest carries on. A kill at any moment
leaves each document either at its old version or its new one; the next run picks up
whatever was not finished, because unchanged files are recognised by size and mtime (and,
if those moved, by content hash).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.ingest.chunking import DEFAULT_MAX_TOKENS
from assistant.ingest.extract import MAX_FILE_BYTES, is_supported
from assistant.ingest.worker import (
    OCR_WOULD_READ,
    Prepared,
    init_worker,
    ocr_enabled,
    prepare,
)
from assistant.paths import home, is_under
from assistant.store.store import ChunkRow, Store

FILE_TIME_LIMIT_S = 120.0
# OCR of one file stops at this share of the file's time limit (90 s of 120 s), so a long scan
# is indexed with the pages read so far, never killed at the limit with nothing.
OCR_SHARE = 0.75
EMBED_BUFFER_CHUNKS = 256  # chunks gathered before one encode call (it sorts them by length)
MAX_IN_FLIGHT = 6  # files handed to the worker ahead of the embedder


class ChunkEncoder(Protocol):
    """What indexing needs from an embedding model (`assistant.search.Embedder` is one).

    A protocol rather than an import: ingest sits below search, and the caller hands the
    indexer whichever embedder the collection uses.
    """

    def embed_batch(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Failure:
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Skipped:
    """A file in an added folder that is not indexed because of its type."""

    path: str
    type: str  # its extension (".pptx"), or "no extension"
    reason: str = "this type is not supported"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "type": self.type, "reason": self.reason}


@dataclass
class IndexProgress:
    files_done: int
    files_total: int
    chunks_done: int
    current: str
    elapsed: float
    failed: int
    detail: str = ""  # what is happening inside the current file ("OCR page 3 of 12")

    @property
    def rate(self) -> float:
        """Chunks per second so far."""
        return self.chunks_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from files done so far; None until there is a basis."""
        if self.files_done == 0 or self.elapsed <= 0:
            return None
        return self.elapsed / self.files_done * (self.files_total - self.files_done)


@dataclass
class IndexSummary:
    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"indexed": len(self.indexed), "unchanged": len(self.unchanged),
                "removed": len(self.removed), "failed": [f.to_json() for f in self.failed],
                "skipped": [s.to_json() for s in self.skipped]}


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name.startswith("~$")


def _printable(path: str) -> str:
    """A path that can be printed and stored (bytes that are not UTF-8 become U+FFFD)."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def scan(paths: Iterable[Path], skipped: list[Skipped] | None = None,
         ) -> tuple[list[Path], list[Path], list[Failure]]:
    """Files to consider, the roots they came from, and paths that cannot be indexed at all
    (not there, a folder that cannot be opened, a broken link, a name that is not text).

    Files in a folder whose type is not indexed go to `skipped`; hidden files and folders and
    the app's own data folder are left out without a mention."""
    files: dict[str, Path] = {}
    own_data = os.path.abspath(home())
    roots: list[Path] = []
    missing: list[Failure] = []

    def consider(candidate: Path) -> None:
        key = str(candidate)
        if candidate.is_file():
            if key != _printable(key):  # SQLite stores text, and this name is not text
                missing.append(Failure(_printable(key), "its name is not valid UTF-8 text; "
                                       "rename the file to index it"))
            else:
                files[key] = candidate
        elif candidate.is_symlink() and not candidate.exists():
            missing.append(Failure(_printable(key), "a broken link, or a link that leads "
                                   "back to itself"))

    def unreadable(err: OSError) -> None:
        if err.filename is not None:
            missing.append(Failure(_printable(os.fsdecode(err.filename)),
                                   "this folder cannot be opened (permission denied)"
                                   if isinstance(err, PermissionError) else
                                   f"this folder cannot be read ({err.strerror})"))

    for raw in paths:
        path = Path(os.path.abspath(Path(raw).expanduser()))
        roots.append(path)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable):
                dirnames[:] = sorted(d for d in dirnames if not _is_hidden(Path(d)) and
                                     os.path.join(dirpath, d) != own_data)
                for name in sorted(filenames):
                    candidate = Path(dirpath) / name
                    if _is_hidden(candidate):
                        continue
                    if is_supported(candidate):
                        consider(candidate)
                    elif skipped is not None and (candidate.is_file() or
                                                  candidate.is_symlink()):
                        skipped.append(Skipped(_printable(str(candidate)),
                                               candidate.suffix.lower() or "no extension"))
        elif path.is_file() or path.is_symlink():
            consider(path)
        else:
            missing.append(Failure(_printable(str(path)), "no such file or folder"))
    return list(files.values()), roots, missing


class _Workers:
    """One extraction process, replaced when a file hangs or crashes it."""

    def __init__(self, max_tokens: int, max_bytes: int, ocr_budget: float) -> None:
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes
        self.ocr_budget = ocr_budget
        self.pool: cf.ProcessPoolExecutor | None = None
        self.queue: Any = None  # per-page progress from the worker; new with each process

    def _ensure(self) -> cf.ProcessPoolExecutor:
        if self.pool is None:
            ctx = multiprocessing.get_context("spawn")
            # A fresh queue per process: one killed mid-write may leave its lock held.
            self.queue = ctx.Queue()
            self.pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                               initializer=init_worker,
                                               initargs=(self.queue, self.ocr_budget))
            # Start the process now, so its start-up never counts against a file's time limit.
            self.pool.submit(os.getpid).result(timeout=300)
        return self.pool

    def submit(self, path: str, known_hash: str | None) -> cf.Future[Prepared]:
        return self._ensure().submit(prepare, path, self.max_tokens, self.max_bytes, known_hash)

    def news(self) -> list[tuple[str, int, int]]:
        """Per-page progress the worker sent since the last call: (path, page, pages)."""
        found: list[tuple[str, int, int]] = []
        while self.queue is not None:
            try:
                found.append(self.queue.get_nowait())
            except Exception:  # empty (or a queue left broken by a kill)
                break
        return found

    def kill(self) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        for proc in processes:
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.join(timeout=5)

    def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class Indexer:
    """Indexes into one store; reuse it (and its loaded embedder) across runs."""

    def __init__(self, store: Store, embedder: ChunkEncoder, *, max_tokens: int = DEFAULT_MAX_TOKENS,
                 max_bytes: int = MAX_FILE_BYTES,
                 file_time_limit: float = FILE_TIME_LIMIT_S) -> None:
        self.store = store
        self.embedder = embedder
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes
        self.file_time_limit = file_time_limit

    def index(self, paths: Iterable[Path | str], collection: str = "default", *,
              progress: Callable[[IndexProgress], None] | None = None,
              cancel: threading.Event | None = None, remove_missing: bool = True) -> IndexSummary:
        started = time.monotonic()
        summary = IndexSummary()
        cid = self.store.collection_id(collection)
        assert cid is not None
        files, roots, missing = scan((Path(p) for p in paths), summary.skipped)
        known = {doc.path: doc for doc in self.store.documents(collection)}

        if remove_missing:
            present = {str(f) for f in files}
            for doc_path, doc in known.items():
                if doc_path not in present and any(is_under(doc_path, r) for r in roots) \
                        and not Path(doc_path).exists():
                    self.store.remove_document(doc.id)
                    summary.removed.append(doc_path)
        # A path that is gone is only a failure if nothing was indexed under it.
        summary.failed.extend(m for m in missing
                              if not any(is_under(r, m.path) for r in summary.removed))

        todo: list[tuple[str, str | None]] = []
        ocr_on = ocr_enabled()  # scans that failed while OCR was off are read now
        for path in files:
            key = str(path)
            existing = known.get(key)
            try:
                st = path.stat()
            except OSError as exc:
                summary.failed.append(Failure(key, f"cannot be read ({exc.strerror})"))
                continue
            if existing is not None and existing.status in ("indexed", "failed") and \
                    existing.size == st.st_size and existing.mtime == st.st_mtime and \
                    not (existing.status == "failed" and existing.error in OCR_WOULD_READ
                         and ocr_on):
                if existing.status == "indexed":
                    summary.unchanged.append(key)
                else:
                    summary.failed.append(Failure(key, existing.error or "failed earlier"))
                continue
            todo.append((key, existing.hash if existing is not None and existing.status == "indexed" else None))
        total = len(todo)
        self.store.mark_pending_many(cid, [p for p, _ in todo if p not in known])

        def report(current: str, done: int, detail: str = "") -> None:
            if progress is not None:
                progress(IndexProgress(done, total, summary.chunks, current,
                                       time.monotonic() - started, len(summary.failed),
                                       detail))

        report("", 0)
        done = 0

        def pages(path: str, page: int, of: int) -> None:
            report(path, done, f"OCR page {page} of {of}")

        try:
            for batch in self._prepared_batches(todo, summary, cancel, pages):
                done += self._embed_and_write(batch, cid, known, summary, report, done)
        finally:
            summary.seconds = time.monotonic() - started
        summary.cancelled = bool(cancel and cancel.is_set())
        return summary

    def _prepared_batches(self, todo: list[tuple[str, str | None]], summary: IndexSummary,
                          cancel: threading.Event | None,
                          pages: Callable[[str, int, int], None] | None = None,
                          ) -> Iterator[list[Prepared]]:
        """Prepared files in order, grouped so each group holds enough chunks to embed well."""
        workers = _Workers(self.max_tokens, self.max_bytes,
                           self.file_time_limit * OCR_SHARE)
        pending: deque[tuple[str, str | None]] = deque(todo)
        in_flight: deque[tuple[str, cf.Future[Prepared]]] = deque()
        batch: list[Prepared] = []
        buffered = 0
        try:
            while pending or in_flight:
                if cancel is not None and cancel.is_set():
                    workers.kill()
                    return
                while pending and len(in_flight) < MAX_IN_FLIGHT:
                    path, known_hash = pending.popleft()
                    in_flight.append((path, workers.submit(path, known_hash)))
                path, future = in_flight.popleft()
                try:
                    prepared = self._wait(future, cancel, lambda: [
                        pages(*news) for news in workers.news() if pages is not None])
                except cf.TimeoutError:
                    prepared = Prepared(path, 0, 0.0, None, error=(
                        f"took too long to read (over {self.file_time_limit:.0f} s); skipped"))
                    self._restart(workers, in_flight, pending)
                except cf.process.BrokenProcessPool:
                    prepared = Prepared(path, 0, 0.0, None,
                                        error="the reader crashed on this file; skipped")
                    self._restart(workers, in_flight, pending)
                if prepared is None:  # cancelled while waiting
                    workers.kill()
                    return
                batch.append(prepared)
                buffered += len(prepared.chunks)
                if buffered >= EMBED_BUFFER_CHUNKS or (not in_flight and not pending) or \
                        (in_flight and not in_flight[0][1].done() and buffered > 0):
                    yield batch
                    batch, buffered = [], 0
            if batch:
                yield batch
        finally:
            if cancel is not None and cancel.is_set():
                workers.kill()
            else:
                workers.close()

    def _wait(self, future: cf.Future[Prepared], cancel: threading.Event | None,
              poll: Callable[[], object] | None = None) -> Prepared | None:
        deadline = time.monotonic() + self.file_time_limit
        while True:
            if poll is not None:
                poll()
            if cancel is not None and cancel.is_set():
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise cf.TimeoutError
            try:
                prepared = future.result(timeout=min(0.2, remaining))
            except cf.TimeoutError:
                continue
            if poll is not None:
                poll()  # the last pages' news, sent while the file finished
            return prepared

    @staticmethod
    def _restart(workers: _Workers, in_flight: deque[tuple[str, cf.Future[Prepared]]],
                 pending: deque[tuple[str, str | None]]) -> None:
        """Kill the stuck worker and hand the files it still held to a fresh one."""
        requeue = [(path, None) for path, _ in in_flight]
        in_flight.clear()
        workers.kill()
        pending.extendleft(reversed(requeue))

    def _embed_and_write(self, batch: list[Prepared], cid: int, known: dict[str, Any],
                         summary: IndexSummary, report: Callable[[str, int], None],
                         done: int) -> int:
        texts = [c.text for p in batch if p.error is None for c in p.chunks]
        vectors = self.embedder.embed_batch(texts) if texts else np.zeros((0, 0), np.float32)
        offset = 0
        for prepared in batch:
            doc = known.get(prepared.path)
            if prepared.error is not None:
                self.store.mark_failed(cid, prepared.path, size=prepared.size,
                                       mtime=prepared.mtime, hash=prepared.hash,
                                       error=prepared.error, kind=prepared.kind)
                summary.failed.append(Failure(prepared.path, prepared.error))
            elif not prepared.chunks:  # same content as stored: only the mtime moved
                if doc is not None:
                    self.store.touch(doc.id, prepared.size, prepared.mtime)
                summary.unchanged.append(prepared.path)
            else:
                n = len(prepared.chunks)
                self.store.write_document(
                    cid, prepared.path, size=prepared.size, mtime=prepared.mtime,
                    hash=prepared.hash or "", kind=prepared.kind or "text", title=prepared.title,
                    pages=prepared.pages, warnings=prepared.warnings,
                    chunks=[ChunkRow(c.page, c.start, c.end, c.text, c.place)
                            for c in prepared.chunks],
                    vectors=vectors[offset:offset + n],
                    embedder=getattr(self.embedder, "identity", None))
                offset += n
                summary.indexed.append(prepared.path)
                summary.chunks += n
            done += 1
            report(prepared.path, done)
        return len(batch)
