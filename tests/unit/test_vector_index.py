"""The memory-resident vector copy returns exactly what sqlite-vec returns, after any writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.search import VectorIndex
from assistant.store.store import ChunkRow, Store


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _write(store: Store, cid: int, name: str, vectors: np.ndarray, kind: str = "text") -> int:
    chunks = [ChunkRow(None, i, i + 1, f"{name} chunk {i}") for i in range(len(vectors))]
    return store.write_document(cid, f"/d/{name}", size=1, mtime=1, hash=name, kind=kind,
                                title=None, pages=0, warnings=[], chunks=chunks, vectors=vectors)


def test_matches_sqlite_vec_through_writes_and_deletes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    store = Store(tmp_path / "s.db")
    a, b = store.collection_id("A"), store.collection_id("B")
    assert a is not None and b is not None
    index = VectorIndex(store)
    docs = [_write(store, a, f"a{i}", _unit(rng, 7), kind="pdf" if i % 2 else "text")
            for i in range(6)]
    _write(store, b, "b0", _unit(rng, 5))

    def same(query: np.ndarray, cids: list[int], kind: str | None = None) -> None:
        ours = index.search(query, 10, cids, kind=kind)
        theirs = store.knn(query, 10, cids, kind=kind)
        assert [i for i, _ in ours] == [i for i, _ in theirs]
        assert np.allclose([d for _, d in ours], [d for _, d in theirs], atol=1e-5)

    for q in _unit(rng, 3):
        same(q, [a])
        same(q, [a, b])
        same(q, [a], kind="pdf")
    store.remove_document(docs[1])
    _write(store, a, "a1", _unit(rng, 4))  # re-added: new chunk ids
    store.mark_failed(a, "/d/a2", size=1, mtime=2, hash=None, error="gone")
    for q in _unit(rng, 3):
        same(q, [a])
        same(q, [b])
    store.delete_collection("B")
    found = index.search(_unit(rng, 1)[0], 50, [a, b])
    rows = store.chunks_by_id([i for i, _ in found])
    assert found and {row["collection"] for row in rows.values()} == {"A"}
    assert len(index.search(_unit(rng, 1)[0], 100, [b])) == 0


def test_another_connection_sees_new_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    writer = Store(tmp_path / "s.db")
    reader = Store(tmp_path / "s.db")
    cid = writer.collection_id("A")
    assert cid is not None
    index = VectorIndex(reader)
    assert index.search(_unit(rng, 1)[0], 5, [cid]) == []
    vecs = _unit(rng, 3)
    _write(writer, cid, "x", vecs)
    hits = index.search(vecs[2], 1, [cid])
    assert hits and hits[0][1] < 1e-5


def test_similarities_match_the_stored_vectors(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    store = Store(tmp_path / "s.db")
    cid = store.collection_id("A")
    assert cid is not None
    vecs = _unit(rng, 4)
    doc = _write(store, cid, "x", vecs)
    ids = [row[0] for row in store.chunk_texts(doc)]
    q = _unit(rng, 1)[0]
    sims = VectorIndex(store).similarities([*ids, 999_999], q)
    assert set(sims) == set(ids)
    for i, chunk_id in enumerate(ids):
        assert abs(sims[chunk_id] - float(vecs[i] @ q)) < 1e-5
