"""Indexing throughput: our whole pipeline (default embedder) against raw fp32 encode.

Run: .venv/bin/python tests/bench/bench_indexing.py [--files N] [--repeats R] [--beir DIR]
The baseline is raw `SentenceTransformer.encode` (torch fp32, the reference) of exactly the
same chunk texts in the same run; the pipeline uses the app's default embedder (int8 ONNX).
Target: ratio >= 2 at the same retrieval quality, so nDCG@10 of both runtimes on a BEIR
folder (default: tests/data/beir-tiny; pass ../shared/data/nfcorpus for the real figure,
slow) is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, peak_rss_mb, prose, vocabulary


def make_corpus(root: Path, files: int) -> None:
    rng = random.Random(7)
    words = vocabulary()
    for i in range(files):
        paragraphs = [prose(rng, words, rng.randint(3, 8)) for _ in range(rng.randint(4, 12))]
        ext = ".md" if i % 2 else ".txt"
        (root / f"doc{i:04d}{ext}").write_text("\n\n".join(paragraphs), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beir", default=str(Path(__file__).resolve().parents[1] / "data" /
                                              "beir-tiny"))
    args = parser.parse_args()

    from assistant.ingest.indexer import Indexer
    from assistant.search import Embedder
    from assistant.store.store import Store

    embedder = Embedder()
    embedder.embed("warm up")
    reference = Embedder(runtime="torch-fp32")
    reference.embed("warm up")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.files)
        ours, raw, fast = [], [], []
        texts: list[str] = []
        for r in range(args.repeats):
            os.environ["ASSISTANT_HOME"] = str(Path(tmp) / f"home{r}")
            store = Store()
            start = time.perf_counter()
            summary = Indexer(store, embedder).index([corpus], "bench")
            elapsed = time.perf_counter() - start
            assert not summary.failed, summary.failed
            texts = [row[0] for row in store.conn.execute("SELECT text FROM chunks")]
            store.close()
            ours.append(len(texts) / elapsed)
            start = time.perf_counter()
            reference.model.encode(texts, batch_size=reference.batch_size,
                                   normalize_embeddings=True, show_progress_bar=False)
            raw.append(len(texts) / (time.perf_counter() - start))
            start = time.perf_counter()
            embedder.embed_batch(texts)  # the default embedder alone: what the pipeline adds
            fast.append(len(texts) / (time.perf_counter() - start))
            print(f"run {r + 1}: pipeline {ours[-1]:.1f} chunks/s, raw encode {raw[-1]:.1f} "
                  f"chunks/s, default embedder alone {fast[-1]:.1f} chunks/s "
                  f"({len(texts)} chunks from {args.files} files)")
    print(f"embedder: {embedder.identity}; baseline {reference.identity}")
    print(f"median pipeline: {median(ours):.1f} chunks/s")
    print(f"median raw fp32 encode: {median(raw):.1f} chunks/s")
    print(f"median default embedder alone: {median(fast):.1f} chunks/s "
          f"(ratio to raw fp32 {median(fast) / median(raw):.3f})")
    print(f"ratio (pipeline / raw fp32): {median(ours) / median(raw):.3f}  (target >= 2)")
    from assistant.evaluation.retrieval import evaluate_retrieval

    for emb in (embedder, reference):
        report = evaluate_retrieval(args.beir, embedder=emb, modes=("hybrid", "vector"))
        print(f"nDCG@10 on {Path(args.beir).name} with {emb.identity}: hybrid "
              f"{report.metrics['hybrid']['ndcg@10']:.4f}, vector "
              f"{report.metrics['vector']['ndcg@10']:.4f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
