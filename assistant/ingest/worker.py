"""The part of indexing that runs in a separate process: hash, extract, chunk.

It runs out of process for two reasons: a malicious or broken file can hang or crash a
parser, and only a process can be killed at a time limit; and it overlaps with embedding,
which keeps the main process's CPU busy. It must stay light: no torch import here.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.ingest import ocr
from assistant.ingest.chunking import Chunk, Chunker
from assistant.ingest.extract import ExtractionError, extract
from assistant.ingest.formats.images import IMAGE_NOT_READ, IMAGE_OCR_OFF
from assistant.ingest.formats.pdf import SCAN_NOT_READ
from assistant.ingest.ocr import OcrOptions, cache_root
from assistant.settings import Settings

log = logging.getLogger(__name__)

_chunkers: dict[int, Chunker] = {}
_ocr_settings: tuple[bool, float] | None = None
_progress: Any = None  # a multiprocessing queue to the indexing process (init_worker)
_ocr_budget: float = ocr.FILE_BUDGET_S  # one file's OCR time: below the indexer's file limit


@dataclass
class Prepared:
    """A file ready to embed, or the reason it cannot be indexed."""

    path: str
    size: int
    mtime: float
    hash: str | None
    kind: str | None = None
    title: str | None = None
    pages: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes. Opened non-blocking and checked to be a regular file, so
    a file swapped for a named pipe after the scan cannot hang the reader."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ExtractionError("no longer a regular file (it was replaced while indexing)")
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file disappeared before it could be read"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    if exc.errno == errno.ELOOP:
        return "a link that leads back to itself (symbolic link loop)"
    if exc.errno == errno.ENAMETOOLONG:
        return "its path is too long for this system to open"
    return f"cannot be read ({exc.strerror or 'input/output error'})"


def _unexpected(exc: BaseException) -> str:
    """A parser failed in a way nobody foresaw: a sentence, never the exception's text."""
    log.debug("unexpected failure while reading a file", exc_info=exc)
    if isinstance(exc, MemoryError):
        return "too large to read with the memory available"
    if isinstance(exc, RecursionError):
        return "its content is nested too deeply to read"
    return "could not be read (its content confused the reader); skipped"


# Failures that OCR turns into text: such a file is tried again once OCR can run (turned on,
# or Tesseract installed since).
OCR_WOULD_READ = frozenset({"no extractable text; scanned?", SCAN_NOT_READ, IMAGE_OCR_OFF,
                            IMAGE_NOT_READ})


def _read_ocr_settings() -> tuple[bool, float]:
    try:
        values = Settings()
        return bool(values["ocr"]), float(values["ocr_page_seconds"])
    except Exception:  # unreadable settings: the defaults (OCR on)
        return True, 60.0


def ocr_enabled() -> bool:
    """Whether OCR would run now: the setting is on (read afresh: the user may just have
    turned it on) and Tesseract is there (it may just have been installed)."""
    return _read_ocr_settings()[0] and ocr.tesseract() is not None


def init_worker(queue: Any, ocr_budget: float = ocr.FILE_BUDGET_S) -> None:
    """Run in each new worker process: where to send per-page progress (OCR is slow), and how
    long one file's OCR may take (a share of the indexer's time limit for one file)."""
    global _progress, _ocr_budget
    _progress = queue
    _ocr_budget = ocr_budget


def _page_progress(path: str) -> Callable[[int, int], None] | None:
    queue = _progress
    if queue is None:
        return None

    def tell(done: int, total: int) -> None:
        try:
            queue.put_nowait((path, done, total))
        except Exception:  # progress is a courtesy; never fail a file over it
            pass
    return tell


def _ocr_options(file_key: str | None, path: str = "") -> OcrOptions | None:
    """OCR as the settings ask (read once per worker process: one per index run)."""
    global _ocr_settings
    if _ocr_settings is None:
        _ocr_settings = _read_ocr_settings()
    enabled, page_limit = _ocr_settings
    if not enabled:
        return None
    return OcrOptions(page_time_limit=min(page_limit, _ocr_budget), file_budget=_ocr_budget,
                      cache_dir=cache_root(), file_key=file_key, progress=_page_progress(path))


def prepare(path: str, max_tokens: int, max_bytes: int, known_hash: str | None = None) -> Prepared:
    """Hash, extract and chunk one file; expected failures come back as `error`.

    When the content hash equals `known_hash` the file is unchanged and is not extracted.
    Every failure is a short sentence for the user; no exception text leaves this function.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        return Prepared(path, 0, 0.0, None, error=_os_problem(exc))
    result = Prepared(path, st.st_size, st.st_mtime, None)
    if not stat.S_ISREG(st.st_mode):  # replaced by a folder, a pipe or a device since the scan
        result.error = "no longer a regular file (it was replaced while indexing)"
        return result
    try:
        if st.st_size <= max_bytes:
            result.hash = file_hash(p)
            if known_hash is not None and result.hash == known_hash:
                return result
        extracted = extract(p, max_bytes=max_bytes, ocr=_ocr_options(result.hash, path))
        chunker = _chunkers.get(max_tokens)
        if chunker is None:
            chunker = _chunkers[max_tokens] = Chunker(max_tokens=max_tokens)
        chunks = [chunk for page in extracted.pages
                  for chunk in chunker.chunk_page(page.text, page.number, page.label)]
    except ExtractionError as exc:
        result.error = exc.reason
        return result
    except OSError as exc:
        result.error = _os_problem(exc)
        return result
    except Exception as exc:  # a parser bug on a strange file: report it, keep going
        result.error = _unexpected(exc)
        return result
    result.kind = extracted.kind
    result.title = extracted.title
    result.warnings = list(extracted.warnings)
    result.pages = sum(1 for page in extracted.pages if page.number is not None)
    result.chunks = chunks
    if not result.chunks:
        result.error = "no text to index"
    return result
