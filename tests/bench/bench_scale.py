"""Vector search at up to 1,000,000 chunks: memory, latency, recall of the quantised stage.

Run: .venv/bin/python tests/bench/bench_scale.py [--sizes 1000000] [--queries 100]
Builds a store holding N chunks (tiny texts, clustered synthetic unit vectors: 2,000 centres
plus noise, so nearest neighbours mean something) straight through SQL, then measures:
- store open: time to the first answer (sqlite-vec, while the index loads in the background)
  and time until the in-memory index is ready;
- the in-memory index's bytes and the process's peak RSS;
- p50/p95 of the vector search (quantised layout, exact rescoring from sqlite-vec included)
  and of the whole hybrid search with a fixed query vector, against a baseline numpy
  float32 brute-force top-k over the same vectors in the same run;
- recall@10 of the quantised stages alone and of the returned top 10 against exact search.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, peak_rss_mb, percentile


def vectors_for(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, 384)).astype(np.float32)
    out = np.empty((n, 384), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        block = centres[rng.integers(0, len(centres), m)] + \
            0.8 * rng.normal(size=(m, 384)).astype(np.float32)
        out[s:s + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def build(path: Path, vectors: np.ndarray) -> None:
    from assistant.store.store import Store

    with Store(path) as store:
        cid = store.collection_id("bench")
        conn = store.conn
        per_doc = 100
        with conn:
            for d in range(0, len(vectors), per_doc):
                conn.execute("INSERT INTO documents(collection_id, path, status, chunks, kind) "
                             "VALUES (?, ?, 'indexed', ?, 'text')",
                             (cid, f"/bench/{d}.txt", min(per_doc, len(vectors) - d)))
                doc = conn.last_insert_rowid()
                rows = [(doc, i, f"w{(d + i) % 5000} w{(d * 7 + i) % 3000} passage {d + i}")
                        for i in range(min(per_doc, len(vectors) - d))]
                conn.executemany('INSERT INTO chunks(document_id, seq, page, start, "end", '
                                 "text) VALUES (?, ?, NULL, 0, 1, ?)", rows)
            first = int(conn.execute("SELECT min(id) FROM chunks").fetchone()[0])
            conn.executemany(
                "INSERT INTO chunks_vec(chunk_id, collection_id, embedding, kind) "
                "VALUES (?, ?, ?, 'text')",
                ((first + i, cid, vectors[i].tobytes()) for i in range(len(vectors))))
            store._bump()


class FixedEmbedder:
    def __init__(self) -> None:
        self.vector = np.zeros(384, dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        return self.vector


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dir", help="keep the stores here (default: a temp folder)")
    args = parser.parse_args()

    from assistant.search import Retriever, VectorIndex
    from assistant.store.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.dir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            vectors = vectors_for(size)
            path = root / f"scale{size}.sqlite3"
            if not path.exists():
                t = time.perf_counter()
                build(path, vectors)
                print(f"\n{size} chunks: store built in {time.perf_counter() - t:.0f} s "
                      f"({path.stat().st_size >> 20} MB)")
            rss0 = peak_rss_mb()
            rng = np.random.default_rng(7)
            picks = rng.integers(0, size, args.queries)
            queries = vectors[picks] + 0.25 * rng.normal(size=(args.queries, 384))
            queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
            t = time.perf_counter()
            store = Store(path)
            fixed = FixedEmbedder()
            retriever = Retriever(store, fixed, background_load=True)
            assert retriever.vectors is not None
            fixed.vector = queries[0]
            retriever.search("w12 passage", 5)
            first_answer = time.perf_counter() - t
            retriever.vectors.wait()
            ready = time.perf_counter() - t
            index: VectorIndex = retriever.vectors
            print(f"  open: first answer (sqlite-vec, index loading) after {first_answer:.2f} s; "
                  f"in-memory index ready after {ready:.1f} s")
            print(f"  in-memory index: {index.memory_bytes() / 1e6:.0f} MB "
                  f"({'quantised' if index.snap.quantised else 'exact float32'}); "
                  f"peak RSS of the process {peak_rss_mb():.0f} MB (before: {rss0:.0f} MB, "
                  "the benchmark's own float copy of the vectors included)")
            cids = [store.collection_id("bench")]
            first = int(store.conn.execute("SELECT min(id) FROM chunks").fetchone()[0])
            vec_ms, full_ms, brute_ms = [], [], []
            recall_final = recall_approx = 0.0
            for q in queries:
                t = time.perf_counter()
                got = index.search(q, 10, cids)
                vec_ms.append((time.perf_counter() - t) * 1000)
                fixed.vector = q
                t = time.perf_counter()
                retriever.search("w12 passage", 5)
                full_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                scores = vectors @ q
                top = np.argpartition(-scores, 10)[:10]
                brute_ms.append((time.perf_counter() - t) * 1000)
                exact = {int(i) + first for i in top}
                recall_final += len(exact & {i for i, _ in got}) / 10
                if index.snap.quantised:
                    recall_approx += len(exact & set(index.approximate(q, 10, cids))) / 10
            n = len(queries)
            for label, values in (("vector search (index)", vec_ms),
                                  ("hybrid search, fixed query vector", full_ms),
                                  ("baseline: numpy float32 brute force", brute_ms)):
                print(f"  {label}: p50 {median(values):.1f} ms, p95 {percentile(values, 95):.1f} ms")
            print(f"  ratio vector search / brute force (p50): "
                  f"{median(vec_ms) / median(brute_ms):.2f}")
            print(f"  recall@10 against exact: returned top 10 {recall_final / n:.3f}"
                  + (f", int8 stage before rescoring {recall_approx / n:.3f}"
                     if index.snap.quantised else ""))
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
