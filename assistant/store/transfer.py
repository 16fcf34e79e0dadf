"""Moving a collection between stores (`assistant library push` / `pull`), nothing re-embedded.

Documents travel with their chunks, vectors and ids, so a saved conversation's citations
(chunk ids) open on the copy, and the collection's embedder identity goes with them: a target
collection made by another embedder is refused. The copy runs in batches of whole documents,
each written on the target in one transaction together with the copy's progress (a `meta`
row keyed by source and collection), so a killed copy resumes after its last batch and a
replayed batch changes nothing. A finished copy clears its progress, so a later push copies
everything again (replacing what is there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.errors import UserError

BATCH_DOCUMENTS = 100


@dataclass
class TransferProgress:
    documents_done: int
    documents_total: int
    chunks_done: int
    seconds: float


@dataclass
class TransferSummary:
    collection: str
    source: str
    target: str
    embedder: str | None
    documents: int  # copied by this run
    chunks: int
    batches: int
    resumed: bool  # this run carried on from an interrupted one
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def store_name(store: Any) -> str:
    """How a store is named in progress keys and messages (never with a password)."""
    if getattr(store, "backend", "sqlite") == "sqlite":
        return str(Path(store.path).expanduser().resolve())
    return str(store.path)


def check_embedders(source: Any, target: Any, collection: str) -> str | None:
    """The source collection's embedder; UserError when the target's holds another's vectors."""
    embedder: str | None = source.collection_embedder(source.require_collection(collection))
    cid = target.collection_id(collection, create=False)
    if cid is None or embedder is None:
        return embedder
    theirs = target.collection_embedder(cid)
    if theirs is not None and theirs != embedder and target.reembed_counts(cid, "")[1] > 0:
        raise UserError(f"The collection '{collection}' at {store_name(target)} holds passages "
                        f"embedded by {theirs}, but these were embedded by {embedder}; copy "
                        "it under another name or into an empty collection.")
    return embedder


def check_ids(source: Any, target: Any, collection: str, src_cid: int) -> None:
    """UserError, before anything is written, when the target's other collections already
    use some of the document or passage numbers: kept numbers are what keep citations."""
    doc_ids = [d.id for d in source.documents(collection)]
    chunk_ids = [i for i, cid, _ in source.chunk_layout() if cid == src_cid]
    where = target.ids_in_use(collection, doc_ids, chunk_ids)
    if where is not None:
        raise UserError(
            f"{store_name(target)} already uses some of the passage numbers of "
            f"'{collection}' (for {where}), and saved citations find passages by number; "
            "copy it into a library without other collections (a new database, or a new "
            "file with --to).")


def transfer(source: Any, target: Any, collection: str, *, batch: int = BATCH_DOCUMENTS,
             progress: Callable[[TransferProgress], None] | None = None) -> TransferSummary:
    """Copy `collection` from `source` to `target` (either backend), resumably."""
    started = time.monotonic()
    src_cid = source.require_collection(collection)
    embedder = check_embedders(source, target, collection)
    check_ids(source, target, collection, src_cid)
    dst_cid = target.collection_id(collection)
    if embedder is not None:
        target.set_collection_embedder(dst_cid, embedder)
    key = f"transfer:{store_name(source)}:{collection}"
    after = int(target.meta_value(key) or 0)
    resumed = after > 0
    ids = [d.id for d in source.documents(collection)]
    total, done = len(ids), sum(1 for i in ids if i <= after)
    summary = TransferSummary(collection, store_name(source), store_name(target), embedder,
                              0, 0, 0, resumed, 0.0)
    while True:
        docs = source.export_documents(src_cid, after, batch)
        if not docs:
            break
        after = int(docs[-1]["id"])
        target.import_documents(dst_cid, docs, key, str(after))
        summary.documents += len(docs)
        summary.chunks += sum(len(d["chunks"]) for d in docs)
        summary.batches += 1
        done += len(docs)
        if progress is not None:
            progress(TransferProgress(done, max(total, done), summary.chunks,
                                      time.monotonic() - started))
    target.delete_meta(key)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary
