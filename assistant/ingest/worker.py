"""The part of indexing that runs in a separate process: hash, extract, chunk.

It runs out of process for two reasons: a malicious or broken file can hang or crash a
parser, and only a process can be killed at a time limit; and it overlaps with embedding,
which keeps the main process's CPU busy. It must stay light: no torch import here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from assistant.ingest.chunking import Chunk, Chunker
from assistant.ingest.extract import ExtractionError, extract

_chunkers: dict[int, Chunker] = {}


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
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare(path: str, max_tokens: int, max_bytes: int, known_hash: str | None = None) -> Prepared:
    """Hash, extract and chunk one file; expected failures come back as `error`.

    When the content hash equals `known_hash` the file is unchanged and is not extracted.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        return Prepared(path, 0, 0.0, None, error=f"cannot be read ({exc.strerror or exc})")
    result = Prepared(path, st.st_size, st.st_mtime, None)
    try:
        if st.st_size <= max_bytes:
            result.hash = file_hash(p)
            if known_hash is not None and result.hash == known_hash:
                return result
        extracted = extract(p, max_bytes=max_bytes)
    except ExtractionError as exc:
        result.error = exc.reason
        return result
    except OSError as exc:
        result.error = f"cannot be read ({exc.strerror or exc})"
        return result
    except Exception as exc:  # a parser bug on a strange file: report it, keep going
        result.error = f"could not be read ({type(exc).__name__}: {exc})"[:300]
        return result
    chunker = _chunkers.get(max_tokens)
    if chunker is None:
        chunker = _chunkers[max_tokens] = Chunker(max_tokens=max_tokens)
    result.kind = extracted.kind
    result.title = extracted.title
    result.warnings = list(extracted.warnings)
    result.pages = sum(1 for page in extracted.pages if page.number is not None)
    for page in extracted.pages:
        result.chunks.extend(chunker.chunk_page(page.text, page.number))
    if not result.chunks:
        result.error = "no text to index"
    return result
