"""The PostgreSQL store (issue 23) against the SQLite one, in one run.

Run: .venv/bin/python tests/bench/bench_postgres.py [--nfcorpus DIR] [--chunks 100000]
     [--queries 200] [--skip-quality] [--skip-scale] [--skip-concurrency] [--skip-push]
     [--concurrency-seconds 120] [--push-documents 5000] [--url postgresql://...]

1. Quality: NFCorpus is indexed into SQLite by the app's own path (`assistant eval
   retrieval`'s `build_store`), pushed to PostgreSQL with `library push` (the same vectors,
   nothing re-embedded), and the test queries are searched on both: nDCG@10, recall@10 and
   MRR@10 for hybrid, keyword and vector search (on PostgreSQL also with the keyword side
   narrowed as in a big library, to show what that costs). Also the push's speed, both disk sizes and
   the HNSW index's recall@10 against exact search for the real query vectors.
2. Scale: `--chunks` synthetic chunks (prose from a fixed vocabulary; vectors drawn around
   2,000 random centres, as real embeddings cluster by topic) written 50 to a document
   through `PgStore.write_document` with the HNSW and GIN indexes live (the indexing cost a
   user sees); then the HNSW index rebuilt from scratch (REINDEX), hybrid search p50/p95
   (the store's part: a precomputed query vector) and the keyword side's p50, each also with
   every chunk holding a query word ranked (the baseline: `pg_terms.CANDIDATE_BUDGET` off)
   with the share of the keyword top 30 the two agree on, HNSW recall@10 against exact search
   (queries are stored vectors plus noise), and disk used. `--index-after` drops the HNSW
   index for the load and builds it at the end, timed (a bulk load, as a team would load a
   million passages; at that size writing with the index live takes hours on 2 cores).

3. Concurrency (`--concurrency-seconds`, 120 by default): 4 writers each index a folder of
   their own through the app's `Indexer` (new text files every round, one store each, as four
   copies of the app would) while 8 readers run hybrid searches, each on a store of its own.
   Reported: errors (must be 0), documents and passages written, searches and their p50/p95,
   and whether every document is in the library exactly once.
4. Push (`--push-documents`, 5,000 by default): a desktop (SQLite) library of that many
   generated text files, indexed by the app's `Indexer`; 300 questions asked of it with their
   citations saved in a real conversation history (`History`, as the window saves them);
   `library push` to PostgreSQL; then every saved citation opened on the server copy by its
   passage number (same file, page, offsets and text). Reported: times, rates, disk.

Sections 3 and 4 embed with `HashEmbedder` (word hashing, 384 dimensions): they load the
store, not the CPU-bound model, and a push copies vectors whatever made them.

Without --url a private server is started with pgserver in a temp folder and stopped after.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, prose, vocabulary

DEFAULT_NFCORPUS = Path("/work/shared/data/nfcorpus")
DIM = 384
# The quality section also searches PostgreSQL with the keyword side narrowed as in a big
# library (pg_terms: only chunks with a rare word or two words ranked), whatever NFCorpus's
# size: 11,469 passages are below pg_terms.MIN_CHUNKS, so the shipped search never narrows
# there. The budget is scaled down with the library (5,000 of 1,000,000 is 57 of 11,469),
# and kept above the 60 keyword hits a search asks for (SearchConfig.depth).
NARROWED = "postgresql_narrowed"
NARROWED_BUDGET = 100


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
    from assistant.store import pg_terms
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
    for name, store in (("sqlite", local), ("postgresql", server), (NARROWED, server)):
        forced = name == NARROWED  # as a big library's keyword search reads: see pg_terms
        saved = (pg_terms.MIN_CHUNKS, pg_terms.CANDIDATE_BUDGET)
        if forced:
            pg_terms.MIN_CHUNKS, pg_terms.CANDIDATE_BUDGET = 0, NARROWED_BUDGET
            server.terms = pg_terms.PgTermStats(server.terms.config)
        try:
            retriever = Retriever(store, embedder)
            t = time.perf_counter()
            runs = run_queries(data, retriever, doc_of, MODES)
        finally:
            pg_terms.MIN_CHUNKS, pg_terms.CANDIDATE_BUDGET = saved
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
    from assistant.store import pg_terms
    from assistant.store.postgres import PgStore
    from assistant.store.store import ChunkRow

    store = PgStore(new_database(url, f"scale{args.chunks}"))
    rng, nrng = random.Random(7), np.random.default_rng(7)
    words = vocabulary()
    centres = nrng.normal(size=(2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cid = store.collection_id("bench")
    built = rebuilt = None
    if args.index_after:  # a bulk load: the HNSW index is dropped now and built at the end
        with store.db.connect_once() as conn:
            definition = conn.execute("SELECT pg_get_indexdef('chunks_embedding'::regclass)"
                                      ).fetchone()[0]
            conn.execute("DROP INDEX chunks_embedding")
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
        # the graph of 1,000,000 vectors needs about 2 GB; below that the build spills
        conn.execute(f"SET maintenance_work_mem = '{args.maintenance_memory}'")
        if args.index_after:
            t = time.perf_counter()
            conn.execute(definition)
            built = time.perf_counter() - t
            print(f"  HNSW index built in {built:.0f} s", file=sys.stderr)
        else:  # the index grew while writing: time a build from scratch too
            t = time.perf_counter()
            conn.execute("REINDEX INDEX chunks_embedding")
            rebuilt = time.perf_counter() - t
            print(f"  HNSW index rebuilt in {rebuilt:.0f} s", file=sys.stderr)
        conn.execute("VACUUM ANALYZE chunks")
    ids = [i for i, _, _ in store.chunk_layout()]
    sample = rng.sample(ids, args.queries)
    stored = store.embeddings(sample)
    fixed = FixedEmbedder()
    retriever = Retriever(store, fixed)  # type: ignore[arg-type]
    texts = [" ".join(rng.choice(words[-3000:]) for _ in range(rng.randint(3, 8)))
             for _ in range(args.queries)]
    vectors, recalls = [], []
    for i, chunk_id in enumerate(sample):
        q = stored[chunk_id] + nrng.normal(scale=0.3 / np.sqrt(DIM), size=DIM)
        vectors.append((q / np.linalg.norm(q)).astype(np.float32))
        if i < args.recall_queries:  # an exact search reads every vector: seconds at 1M
            approx = [c for c, _ in store.knn(vectors[-1], 10, [cid])]
            exact = store.exact_knn(vectors[-1], 10)
            recalls.append(len(set(approx) & set(exact)) / 10)

    def timed(budget: float) -> tuple[list[float], list[float], list[list[int]]]:
        """Hybrid and keyword-only latencies (ms) and keyword hits, with the keyword side's
        candidate budget (pg_terms.CANDIDATE_BUDGET) set to `budget`."""
        saved, pg_terms.CANDIDATE_BUDGET = pg_terms.CANDIDATE_BUDGET, budget
        store.terms = pg_terms.PgTermStats(store.terms.config)
        hybrid, keyword, found = [], [], []
        try:
            for text, q in zip(texts, vectors, strict=True):
                fixed.vector = q
                t = time.perf_counter()
                retriever.search(text, 5)
                hybrid.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                found.append([c for c, _ in store.keyword(text, 30, [cid])])
                keyword.append((time.perf_counter() - t) * 1000)
        finally:
            pg_terms.CANDIDATE_BUDGET = saved
        return hybrid, keyword, found

    # the shipped search first, then the baseline (every chunk holding a query word ranked):
    # any cache the first pass warms favours the baseline
    latencies, keyword_ms, found = timed(pg_terms.CANDIDATE_BUDGET)
    plain_hybrid, plain_keyword, plain_found = timed(float("inf"))
    overlap = [len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(found, plain_found, strict=True)]
    out = {"chunks": args.chunks, "write_s": round(written, 1),
           "write_chunks_per_s": round(args.chunks / written, 1),
           "hnsw_indexes_kept_live_while_writing": not args.index_after,
           "hnsw_build_after_load_s": None if built is None else round(built, 1),
           "hnsw_rebuild_s": None if rebuilt is None else round(rebuilt, 1),
           "queries": args.queries,
           "recall_queries": len(recalls), "maintenance_work_mem": args.maintenance_memory,
           "hybrid_p50_ms": round(median(latencies), 1),
           "hybrid_p95_ms": round(percentile(latencies, 95), 1),
           "keyword_p50_ms": round(median(keyword_ms), 1),
           "candidate_budget": pg_terms.CANDIDATE_BUDGET,
           "baseline_every_match_ranked": {
               "hybrid_p50_ms": round(median(plain_hybrid), 1),
               "hybrid_p95_ms": round(percentile(plain_hybrid, 95), 1),
               "keyword_p50_ms": round(median(plain_keyword), 1)},
           "hybrid_p50_ratio_to_baseline": round(median(latencies) / median(plain_hybrid), 3),
           "keyword_top30_overlap_with_baseline": round(float(np.mean(overlap)), 4),
           "hnsw_recall_at_10": round(float(np.mean(recalls)), 4),
           "disk_bytes": store.disk_bytes()}
    store.close()
    return out


class HashEmbedder:
    """Words hashed into 384 dimensions, normalised: cheap, deterministic vectors in which
    passages that share words are near (sections 3 and 4 measure the store, not the model)."""

    identity = "bench-hash/384"

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % DIM] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_batch([text])[0]
        return vector


def write_files(folder: Path, first: int, n: int, rng: random.Random,
                words: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(first, first + n):
        path = folder / f"note{i:05}.txt"
        path.write_text("\n\n".join(prose(rng, words, rng.randint(3, 7))
                                     for _ in range(rng.randint(1, 3))), encoding="utf-8")
        made.append(path)
    return made


def concurrency(args: argparse.Namespace, url: str, work: Path) -> dict:
    """4 writers index folders of their own while 8 readers search, for the given time."""
    import threading

    from assistant.ingest.indexer import Indexer
    from assistant.search import Retriever
    from assistant.store.postgres import PgStore

    target = new_database(url, "concurrency")
    embedder, words = HashEmbedder(), vocabulary()
    with PgStore(target) as first:  # the schema and the collection, before the copies start
        first.set_collection_embedder(first.collection_id("Team") or 0, embedder.identity)
    errors: list[str] = []
    made: list[list[str]] = [[] for _ in range(4)]
    rounds = [0] * 4
    latencies: list[list[float]] = [[] for _ in range(8)]
    stop = threading.Event()

    def writer(w: int) -> None:
        rng = random.Random(w)
        try:
            with PgStore(target, max_connections=2) as store:
                indexer = Indexer(store, embedder)  # type: ignore[arg-type]
                while not stop.is_set():
                    files = write_files(work / f"folder{w}", len(made[w]), 5, rng, words)
                    summary = indexer.index(files, "Team", remove_missing=False)
                    errors.extend(f"{f.path}: {f.reason}" for f in summary.failed)
                    made[w] += [str(f) for f in files]
                    rounds[w] += 1
        except Exception as exc:  # the bench counts every failure
            errors.append(f"writer {w}: {type(exc).__name__}: {exc}")

    def reader(r: int) -> None:
        rng = random.Random(100 + r)
        try:
            with PgStore(target, max_connections=2) as store:
                retriever = Retriever(store, embedder)  # type: ignore[arg-type]
                while not stop.is_set():
                    query = " ".join(rng.choice(words[660:]) for _ in range(rng.randint(2, 6)))
                    t = time.perf_counter()
                    retriever.search(query, 5, collections=["Team"])
                    latencies[r].append((time.perf_counter() - t) * 1000)
        except Exception as exc:
            errors.append(f"reader {r}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + \
        [threading.Thread(target=reader, args=(r,)) for r in range(8)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    while time.perf_counter() - started < args.concurrency_seconds:
        time.sleep(5)
        print(f"  {time.perf_counter() - started:.0f} s: {sum(len(m) for m in made)} "
              f"documents, {sum(len(x) for x in latencies)} searches, {len(errors)} errors",
              file=sys.stderr)
    stop.set()
    for t in threads:
        t.join()
    ran = time.perf_counter() - started
    with PgStore(target) as store:
        docs = store.documents("Team")
        paths = [d.path for d in docs]
        expected = sorted(p for m in made for p in m)
        every = [x for lat in latencies for x in lat]
        out = {"seconds": round(ran, 1), "writers": 4, "readers": 8, "errors": len(errors),
               "error_samples": errors[:5], "documents_written": len(expected),
               "documents_in_library": len(paths), "exactly_once": sorted(paths) == expected,
               "all_indexed": all(d.status == "indexed" for d in docs),
               "passages": store.stats()["chunks"],
               "passages_match_documents": store.stats()["chunks"] ==
               sum(d.chunks for d in docs),
               "consistency_problems": store.check_consistency(),
               "index_rounds_per_writer": rounds, "searches": len(every),
               "searches_per_reader": [len(x) for x in latencies],
               "search_p50_ms": round(median(every), 1) if every else None,
               "search_p95_ms": round(percentile(every, 95), 1) if every else None}
    return out


def push(args: argparse.Namespace, url: str, work: Path) -> dict:
    """A desktop library of `--push-documents` files pushed; every saved citation opened."""
    from assistant.gui.history import History, hit_to_dict
    from assistant.ingest.indexer import Indexer
    from assistant.search import Retriever
    from assistant.store.postgres import PgStore
    from assistant.store.store import Store
    from assistant.store.transfer import transfer

    embedder, words, rng = HashEmbedder(), vocabulary(), random.Random(11)
    files = write_files(work / "library", 0, args.push_documents, rng, words)
    local = Store(work / "desktop.sqlite3")
    t = time.perf_counter()
    summary = Indexer(local, embedder).index(  # type: ignore[arg-type]
        [work / "library"], "Manuals")
    indexed_s = time.perf_counter() - t
    assert not summary.failed, summary.failed[:3]
    # questions asked on the desktop, their citations saved as the window saves them
    history = History(work / "history.sqlite3")
    retriever = Retriever(local, embedder)  # type: ignore[arg-type]
    conversation = history.create("bench")
    for q in range(args.push_questions):
        text = files[rng.randrange(len(files))].read_text(encoding="utf-8").split()
        start = rng.randrange(max(1, len(text) - 8))
        question = " ".join(text[start:start + rng.randint(3, 8)])
        hits = retriever.search(question, 5, collections=["Manuals"])
        turn = history.add_turn(conversation.id, question, collection="Manuals")
        history.save_answer(turn.id, f"answer {q}", consulted=[hit_to_dict(h) for h in hits],
                            citations=[{"n": n, "hit": hit_to_dict(h)}
                                       for n, h in enumerate(hits[:3], start=1)])
    saved = [c["hit"] for turn in history.turns(conversation.id) for c in turn.citations]
    target = new_database(url, "pushed")
    server = PgStore(target)
    t = time.perf_counter()
    moved = transfer(local, server, "Manuals")
    pushed_s = time.perf_counter() - t
    opened = server.chunks_by_id([c["chunk_id"] for c in saved])
    keys = ("path", "page", "start", "end", "text")
    same = sum(1 for c in saved if c["chunk_id"] in opened and
               all(opened[c["chunk_id"]][k] == c[k] for k in keys))
    out = {"documents": moved.documents, "passages": moved.chunks,
           "local_index_s": round(indexed_s, 1), "push_s": round(pushed_s, 1),
           "push_documents_per_s": round(moved.documents / pushed_s, 1),
           "push_passages_per_s": round(moved.chunks / pushed_s, 1),
           "batches": moved.batches, "saved_citations": len(saved),
           "distinct_cited_passages": len({c["chunk_id"] for c in saved}),
           "citations_opened_on_server": same,
           "server_consistency_problems": server.check_consistency(),
           "server_passages": server.stats()["chunks"],
           "sqlite_bytes": (work / "desktop.sqlite3").stat().st_size,
           "postgres_bytes": server.disk_bytes()}
    history.close()
    local.close()
    server.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nfcorpus", type=Path, default=DEFAULT_NFCORPUS)
    parser.add_argument("--limit", type=int, help="score only the first N test queries")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=200,
                        help="how many of the queries also run an exact search for recall")
    parser.add_argument("--index-after", action="store_true",
                        help="scale: drop the HNSW index for the load and build it after "
                             "(a bulk load); by default it is kept live, as when indexing")
    parser.add_argument("--maintenance-memory", default="1GB",
                        help="maintenance_work_mem for the HNSW builds (2GB or more at 1M)")
    parser.add_argument("--url", help="an existing server (default: one started here)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--skip-push", action="store_true")
    parser.add_argument("--concurrency-seconds", type=float, default=120.0)
    parser.add_argument("--push-documents", type=int, default=5000)
    parser.add_argument("--push-questions", type=int, default=300)
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
            if not args.skip_concurrency:
                results["concurrency"] = concurrency(args, url, Path(tmp) / "team")
                print(json.dumps(results["concurrency"]), file=sys.stderr)
            if not args.skip_push:
                results["push"] = push(args, url, Path(tmp) / "push")
                print(json.dumps(results["push"]), file=sys.stderr)
        finally:
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
