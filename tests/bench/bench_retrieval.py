"""Retrieval latency at 10,000 and 100,000 chunks, against brute-force numpy in the same run.

Run: .venv/bin/python tests/bench/bench_retrieval.py [--sizes 10000 100000] [--queries 50]
Chunks are synthetic text with random unit vectors (scale, not quality, is measured here).
Reported: p50/p95 of the full hybrid search (query embedding included), of the store's part
alone (KNN + BM25 + fusion, with a precomputed query vector), and of a numpy brute-force
cosine top-k over the same vectors as the baseline. Target: p50 under 50 ms at 100,000.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, peak_rss_mb, percentile, prose, vocabulary


def build(store, size: int, dim: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    from assistant.store.store import ChunkRow

    rng = random.Random(size)
    nrng = np.random.default_rng(size)
    words = vocabulary()
    cid = store.collection_id("bench")
    vectors = nrng.normal(size=(size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    per_doc = 50
    for d in range(0, size, per_doc):
        chunks = [ChunkRow(None, 0, 0, prose(rng, words, rng.randint(4, 8)))
                  for _ in range(min(per_doc, size - d))]
        store.write_document(cid, f"/bench/doc{d // per_doc}.txt", size=1, mtime=1.0,
                             hash=str(d), kind="text", title=None, pages=0, warnings=[],
                             chunks=chunks, vectors=vectors[d:d + len(chunks)])
    return vectors


class FixedEmbedder:
    """Returns a precomputed vector, to time the store's part of the search alone."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def embed(self, text: str) -> np.ndarray:
        return self.vector


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()

    from assistant.search import Embedder, Retriever
    from assistant.store.store import Store

    embedder = Embedder()
    embedder.embed("warm up")
    rng = random.Random(99)
    words = vocabulary()
    queries = [" ".join(rng.choice(words[-3000:]) for _ in range(rng.randint(3, 8)))
               for _ in range(args.queries)]
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            store = Store(Path(tmp) / f"bench{size}.db")
            start = time.perf_counter()
            vectors = build(store, size, 384)
            print(f"\n{size} chunks: built in {time.perf_counter() - start:.1f} s")
            full, part, brute = [], [], []
            retriever = Retriever(store, embedder)
            fixed_embedder = FixedEmbedder(np.zeros(384, dtype=np.float32))
            fixed = Retriever(store, fixed_embedder)  # type: ignore[arg-type]
            t = time.perf_counter()
            retriever.vectors.refresh()  # type: ignore[union-attr]
            fixed.vectors.refresh()  # type: ignore[union-attr]
            print(f"  vectors loaded into memory in {time.perf_counter() - t:.1f} s (twice)")
            for q in queries:
                t = time.perf_counter()
                retriever.search(q, args.k)
                full.append((time.perf_counter() - t) * 1000)
                qv = embedder.embed(q)
                fixed_embedder.vector = qv
                t = time.perf_counter()
                fixed.search(q, args.k)
                part.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                scores = vectors @ qv
                np.argpartition(-scores, args.k)[: args.k]
                brute.append((time.perf_counter() - t) * 1000)
            sqlite_vec = []
            cid = [store.collection_id("bench")]
            for q in queries[:10]:
                t = time.perf_counter()
                store.knn(embedder.embed(q), 20, cid)
                sqlite_vec.append((time.perf_counter() - t) * 1000)
            for label, values in (("hybrid search, query embedding included", full),
                                  ("sqlite-vec vec0 KNN alone (not used for search)", sqlite_vec),
                                  ("hybrid search, store part only", part),
                                  ("baseline: numpy brute-force cosine top-k", brute)):
                print(f"  {label}: p50 {median(values):.1f} ms, p95 "
                      f"{percentile(values, 95):.1f} ms")
            print(f"  ratio store part / numpy brute force (p50): "
                  f"{median(part) / median(brute):.2f}")
            print(f"  target p50 < 50 ms: {'met' if median(full) < 50 else 'NOT met'}")
            store.close()
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
