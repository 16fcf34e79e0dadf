"""Re-embed collections whose vectors were made by another embedder than the current one.

Resumable and all-or-nothing per collection: new vectors are staged batch by batch in the
store (a batch is one transaction, so a kill loses at most the batch in hand), then swapped
in together with the collection's recorded embedder in one transaction. Until the swap the
collection stays wholly on its old embedder (searches use the old embedder's query vectors);
after it, wholly on the new one. The next start carries on from the staged vectors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.errors import Cancelled

if TYPE_CHECKING:
    from assistant.store.store import Store

BATCH = 128


class IdentifiedEncoder(Protocol):
    @property
    def identity(self) -> str: ...

    def embed_batch(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class ReembedProgress:
    collection: str
    done: int
    total: int


def stale_collections(store: Store, embedder: IdentifiedEncoder) -> list[str]:
    """Names of collections whose vectors another embedder made."""
    recorded = store.collection_embedders()
    names = {cid: name for name in store.collections()
             if (cid := store.collection_id(name, create=False)) is not None}
    return [names[cid] for cid, identity in recorded.items()
            if identity is not None and identity != embedder.identity and cid in names]


def reembed(store: Store, embedder: IdentifiedEncoder, collections: Sequence[str] | None = None,
            *, progress: Callable[[ReembedProgress], None] | None = None,
            cancel: threading.Event | None = None, batch: int = BATCH) -> list[str]:
    """Bring the named (default: all stale) collections onto `embedder`; returns those done."""
    names = list(collections) if collections is not None else stale_collections(store, embedder)
    done_names = []
    for name in names:
        cid = store.require_collection(name)
        if store.collection_embedder(cid) == embedder.identity:
            continue
        while True:
            done, total = store.reembed_counts(cid, embedder.identity)
            if progress is not None:
                progress(ReembedProgress(name, done, total))
            todo = store.reembed_todo(cid, embedder.identity, batch)
            if not todo:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled
            vectors = embedder.embed_batch([text for _, text in todo])
            store.stage_vectors(cid, embedder.identity, [i for i, _ in todo], vectors)
        if store.swap_vectors(cid, embedder.identity):
            done_names.append(name)
    return done_names
