"""The PostgreSQL store (issue 23) against the SQLite one, in one run.

Run: .venv/bin/python tests/bench/bench_postgres.py [--nfcorpus DIR] [--chunks 100000]
     [--queries 200] [--skip-quality] [--skip-scale] [--url postgresql://...]

1. Quality: NFCorpus is indexed into SQLite by the app's own path (`assistant eval
   retrieval`'s `build_store`), pushed to PostgreSQL with `library push` (the same vectors,
   nothing re-embedded), and the test queries are searched on both: nDCG@10, recall@10 and
   MRR@10 for hybrid, keyword and vector search. Also the push's speed, both disk sizes and
   the HNSW index's recall@10 against exact search for the real query vectors.
2. Scale: `--chunks` synthetic chunks (prose from a fixed vocabulary; vectors drawn around
   2,000 random centres, as real embeddings cluster by topic) written 50 to a document
   through `PgStore.write_document` with the HNSW and GIN indexes live (the indexing cost a
   user sees); then the HNSW index rebuilt from scratch (REINDEX), hybrid search p50/p95
   (the store's part: a precomputed query vector), HNSW recall@10 against exact search
   (queries are stored vectors plus noise), and disk used.

Without --url a private server is started with pgserver in a temp folder and stopped after.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, prose, vocabulary

DEFAULT_NFCORPUS = Path("/work/shared/data/nfcorpus")
DIM = 384


class FixedEmbedder:
    """A precomputed query vector: times the store's part of the search alone."""

    def __init__(self) -> None:
        self.vector = np.zeros(DIM, dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        return self.vector


def start_server(folder: Path) -> tuple[object, str]:
    import warnings

    import pgserver

    folder.chmod(0o755)  # as root, pgserver runs the server as another user
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    return server, str(server.get_uri())


def new_database(url: str, name: str) -> str:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return make_conninfo(**dict(conninfo_to_dict(url), dbname=name))


def quality(args: argparse.Namespace, url: str, work: Path) -> dict:
    from assistant.evaluation.metrics import evaluate
    from assistant.evaluation.retrieval import MODES, build_store, load_beir, run_queries
    from assistant.search import Embedder, Retriever
    from assistant.store.postgres import PgStore
    from assistant.store.transfer import transfer

    data = load_beir(args.nfcorpus, "test", args.limit)
    embedder = Embedder()
    print(f"NFCorpus: {len(data.corpus)} documents, {len(data.qrels)} test queries, "
          f"embedder {embedder.identity}", file=sys.stderr)
    t = time.perf_counter()
    local, doc_of = build_store(data, work, embedder)
    indexed = time.perf_counter() - t
    server = PgStore(new_database(url, "nfcorpus"))
    t = time.perf_counter()
    moved = transfer(local, server, "eval")
    pushed = time.perf_counter() - t
    out: dict = {"documents": len(data.corpus), "queries": len(data.qrels),
                 "chunks": local.stats()["chunks"], "embedder": embedder.identity,
                 "sqlite_index_s": round(indexed, 1), "push_s": round(pushed, 1),
                 "push_chunks_per_s": round(moved.chunks / pushed, 1),
                 "sqlite_bytes": (work / "eval.sqlite3").stat().st_size,
                 "postgres_bytes": server.disk_bytes(), "metrics": {}, "search_s": {}}
    for name, store in (("sqlite", local), ("postgresql", server)):
        retriever = Retriever(store, embedder)
        t = time.perf_counter()
        runs = run_queries(data, retriever, doc_of, MODES)
        out["search_s"][name] = round(time.perf_counter() - t, 1)
        out["metrics"][name] = {m: evaluate(runs[m], data.qrels) for m in MODES}
        print(name, json.dumps(out["metrics"][name]), file=sys.stderr)
    recalls = []
    for qid in data.qrels:
        q = np.asarray(embedder.embed(data.queries[qid]), dtype=np.float32)
        approx = {c for c, _ in server.knn(q, 10, [server.require_collection("eval")])}
        recalls.append(len(approx & set(server.exact_knn(q, 10))) / 10)
    out["hnsw_recall_at_10"] = round(float(np.mean(recalls)), 4)
    local.close()
    server.close()
    return out


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centres), size=n)
    v = centres[picks] + rng.normal(scale=0.6 / np.sqrt(DIM), size=(n, DIM))
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def scale(args: argparse.Namespace, url: str) -> dict:
    from assistant.search import Retriever
    from assistant.store.postgres import PgStore
    from assistant.store.store import ChunkRow

    store = PgStore(new_database(url, f"scale{args.chunks}"))
    rng, nrng = random.Random(7), np.random.default_rng(7)
    words = vocabulary()
    centres = nrng.normal(size=(2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cid = store.collection_id("bench")
    per_doc, t = 50, time.perf_counter()
    for d in range(0, args.chunks, per_doc):
        n = min(per_doc, args.chunks - d)
        chunks = [ChunkRow(None, 0, 0, prose(rng, words, rng.randint(4, 8))) for _ in range(n)]
        store.write_document(cid, f"/bench/doc{d // per_doc}.txt", size=1, mtime=1.0,
                             hash=str(d), kind="text", title=None, pages=0, warnings=[],
                             chunks=chunks, vectors=clustered(n, nrng, centres),
                             embedder="bench")
        if (d // per_doc) % 200 == 0:
            print(f"  {d + n} chunks written, {time.perf_counter() - t:.0f} s", file=sys.stderr)
    written = time.perf_counter() - t
    with store.db.connect_once() as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        t = time.perf_counter()
        conn.execute("REINDEX INDEX chunks_embedding")
        rebuilt = time.perf_counter() - t
        conn.execute("VACUUM ANALYZE chunks")
    ids = [i for i, _, _ in store.chunk_layout()]
    sample = rng.sample(ids, args.queries)
    stored = store.embeddings(sample)
    fixed = FixedEmbedder()
    retriever = Retriever(store, fixed)  # type: ignore[arg-type]
    texts = [" ".join(rng.choice(words[-3000:]) for _ in range(rng.randint(3, 8)))
             for _ in range(args.queries)]
    latencies, recalls = [], []
    for i, chunk_id in enumerate(sample):
        q = stored[chunk_id] + nrng.normal(scale=0.3 / np.sqrt(DIM), size=DIM)
        q = (q / np.linalg.norm(q)).astype(np.float32)
        fixed.vector = q
        t = time.perf_counter()
        retriever.search(texts[i], 5)
        latencies.append((time.perf_counter() - t) * 1000)
        approx = [c for c, _ in store.knn(q, 10, [cid])]
        exact = store.exact_knn(q, 10)
        recalls.append(len(set(approx) & set(exact)) / 10)
    out = {"chunks": args.chunks, "write_s": round(written, 1),
           "write_chunks_per_s": round(args.chunks / written, 1),
           "hnsw_rebuild_s": round(rebuilt, 1), "queries": args.queries,
           "hybrid_p50_ms": round(median(latencies), 1),
           "hybrid_p95_ms": round(percentile(latencies, 95), 1),
           "hnsw_recall_at_10": round(float(np.mean(recalls)), 4),
           "disk_bytes": store.disk_bytes()}
    store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nfcorpus", type=Path, default=DEFAULT_NFCORPUS)
    parser.add_argument("--limit", type=int, help="score only the first N test queries")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--url", help="an existing server (default: one started here)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        server = None
        url = args.url
        if url is None:
            server, url = start_server(Path(tmp))
        try:
            if not args.skip_quality:
                work = Path(tmp) / "nfcorpus"
                work.mkdir()
                results["quality"] = quality(args, url, work)
                print(json.dumps(results["quality"]["metrics"]), file=sys.stderr)
            if not args.skip_scale:
                results["scale"] = scale(args, url)
        finally:
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
