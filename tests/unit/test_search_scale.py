"""Quantised in-memory vectors, background loading, and collapsing near-duplicates."""

from __future__ import annotations

import numpy as np

from assistant.search import Retriever, VectorIndex
from assistant.search.retrieval import Hit, collapse_duplicates
from assistant.store.store import ChunkRow, Store


def _fill(store: Store, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    a, b = store.collection_id("a"), store.collection_id("b")
    for d in range(0, n, 100):
        cid = a if d % 200 == 0 else b
        part = vectors[d:d + 100]
        store.write_document(cid, f"/doc{d}.txt", size=1, mtime=1.0, hash=str(d),
                             kind="text" if d % 300 else "markdown", title=None, pages=0,
                             warnings=[], chunks=[ChunkRow(None, 0, 1, f"t{d} {i}")
                                                  for i in range(len(part))], vectors=part)
    return vectors


def test_quantised_layout_matches_exact_search(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        vectors = _fill(store, 3000)
        exact = VectorIndex(store, layout="exact")
        quant = VectorIndex(store, layout="quantised")
        cids = [store.collection_id("a"), store.collection_id("b")]
        rng = np.random.default_rng(9)
        agree = total = 0
        for _ in range(20):
            q = vectors[rng.integers(0, len(vectors))] + 0.3 * rng.normal(size=384)
            q = (q / np.linalg.norm(q)).astype(np.float32)
            for sel, kind in (([cids[0], cids[1]], None), ([cids[1]], None), (cids, "markdown")):
                e = exact.search(q, 10, sel, kind=kind)
                g = quant.search(q, 10, sel, kind=kind)
                agree += len({i for i, _ in e} & {i for i, _ in g})
                total += len(e)
                # distances of the quantised path are exact ones
                d_exact = dict(e)
                for i, d in g:
                    if i in d_exact:
                        assert abs(d - d_exact[i]) < 1e-5
        assert agree / total >= 0.99
        assert quant.memory_bytes() < exact.memory_bytes() / 3


def test_background_load_answers_from_sqlite_vec_meanwhile(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        vectors = _fill(store, 600)
        index = VectorIndex(store, background=True)
        cids = [store.collection_id("a"), store.collection_id("b")]
        first = index.search(vectors[5], 3, cids)  # sqlite-vec, or the index if it was fast
        assert first[0][0] == store.conn.execute(
            "SELECT min(id) FROM chunks").fetchone()[0] + 5
        assert index.wait(60) and index.ready
        assert index.search(vectors[5], 3, cids)[0][0] == first[0][0]


def _hit(i: int, path: str, text: str) -> Hit:
    return Hit(chunk_id=i, document_id=i, path=path, page=None, start=0, end=len(text),
               text=text, score=1.0 / i)


def test_duplicates_collapse_into_also_in():
    text = "Employees must upload receipts within thirty days of a trip."
    hits = [_hit(1, "/a/policy.pdf", text), _hit(2, "/b/other.txt", "Something else."),
            _hit(3, "/c/copy.docx", "employees MUST upload receipts within thirty days of a "
                                    "trip!"), _hit(4, "/d/more.txt", "More.")]
    kept = collapse_duplicates(hits, 3)
    assert [h.chunk_id for h in kept] == [1, 2, 4]
    assert kept[0].also_in == [{"path": "/c/copy.docx", "page": None, "collection": "default"}]
    assert kept[0].to_json()["also_in"] == kept[0].also_in and kept[1].to_json()["also_in"] == []


def test_search_collapses_copies_of_a_file(tmp_path, embedder):
    from assistant.ingest.indexer import Indexer

    folder = tmp_path / "docs"
    folder.mkdir()
    text = "The Acme kettle has a two-year warranty covering the heating element and switch."
    for name in ("one.txt", "two.txt", "three.md"):
        (folder / name).write_text(text + "\n", encoding="utf-8")
    (folder / "tea.txt").write_text("Green tea is best brewed at 80 degrees.\n", encoding="utf-8")
    with Store(tmp_path / "s.sqlite3") as store:
        Indexer(store, embedder).index([folder], "c")
        hits = Retriever(store, embedder).search("kettle warranty", 3)
        assert len([h for h in hits if "kettle" in h.text.lower()]) == 1
        assert len(hits[0].also_in) == 2
