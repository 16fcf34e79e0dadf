"""Many writers and readers on one PostgreSQL library at once (issue 23): transactions and
row locks, no file lock. Four writers index different folders (and all four write one shared
document, the contended row) while eight readers search; no errors, every document exactly
once, every chunk counted."""

from __future__ import annotations

import threading
import time

import numpy as np

from assistant.store.postgres import PgStore
from assistant.store.store import ChunkRow

SECONDS = 8.0
DIM = 384


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_four_writers_and_eight_readers(pg_url) -> None:
    store = PgStore(pg_url, max_connections=12)  # one store shared by all threads, as the app does
    cid = store.collection_id("Team")
    store.set_collection_embedder(cid, "model-a")
    errors: list[BaseException] = []
    written: list[list[str]] = [[] for _ in range(4)]
    searches = [0] * 8
    stop = threading.Event()

    def writer(w: int) -> None:
        rng = np.random.default_rng(w)
        n = 0
        try:
            while not stop.is_set():
                path = f"/team/folder{w}/doc{n}.txt"
                for target in (path, "/team/shared.txt"):
                    store.write_document(cid, target, size=n, mtime=float(n), hash=f"{w}-{n}",
                                         kind="text", title=None, pages=0, warnings=[],
                                         chunks=[ChunkRow(None, i, i + 1, f"writer {w} part {i}"
                                                          f" kettle warranty {n}")
                                                 for i in range(3)],
                                         vectors=_vectors(rng, 3), embedder="model-a")
                written[w].append(path)
                n += 1
        except BaseException as exc:  # the test counts every failure
            errors.append(exc)

    def reader(r: int) -> None:
        rng = np.random.default_rng(100 + r)
        try:
            while not stop.is_set():
                assert len(store.knn(_vectors(rng, 1)[0], 10, [cid])) <= 10
                hits = store.keyword("kettle warranty", 10, [cid])
                store.chunks_by_id([i for i, _ in hits])
                searches[r] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + \
        [threading.Thread(target=reader, args=(r,)) for r in range(8)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert all(n > 0 for n in searches) and all(w for w in written)
    docs = store.documents("Team")
    paths = [d.path for d in docs]
    expected = sorted({p for w in written for p in w} | {"/team/shared.txt"})
    assert sorted(paths) == expected  # each document exactly once
    assert store.stats()["chunks"] == 3 * len(expected)
    assert store.check_consistency() == []
    store.close()
