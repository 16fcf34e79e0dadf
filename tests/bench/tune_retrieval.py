"""Fusion settings on a BEIR folder, with the index built once per embedder and kept.

Run: .venv/bin/python tests/bench/tune_retrieval.py ../shared/data/nfcorpus [--runtime onnx-int8]
      [--work /tmp/nfc] [--configs default|all]
Prints nDCG@10 / recall@10 / MRR@10 of keyword, vector and hybrid search for each setting,
as a Markdown table (the README's tuning table comes from here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("beir_dir")
    parser.add_argument("--runtime", default="onnx-int8")
    parser.add_argument("--work", default="/tmp/beir-tune")
    parser.add_argument("--configs", default="all")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    from assistant.evaluation.metrics import evaluate
    from assistant.evaluation.retrieval import build_store, load_beir, run_queries
    from assistant.search import Embedder, Retriever, SearchConfig

    data = load_beir(args.beir_dir, limit=args.limit)
    embedder = Embedder(runtime=args.runtime)
    work = Path(args.work) / args.runtime
    t = time.perf_counter()
    store, doc_of = build_store(data, work, embedder)
    print(f"index ready in {time.perf_counter() - t:.0f} s ({store.stats()['chunks']} chunks, "
          f"{embedder.identity})", file=sys.stderr)
    configs: list[tuple[str, SearchConfig]] = [("RRF k=60, depth 60", SearchConfig(fusion="rrf"))]
    if args.configs == "all":
        configs += [("RRF k=60, depth 20", SearchConfig(fusion="rrf", depth=20)),
                    ("RRF k=60, depth 200", SearchConfig(fusion="rrf", depth=200))]
        configs += [(f"convex w={w}, depth 60", SearchConfig(vector_weight=w))
                    for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
        configs += [("convex w=0.5, depth 20", SearchConfig(depth=20)),
                    ("convex w=0.5, depth 200", SearchConfig(depth=200)),
                    ("convex w=0.5, no duplicate collapsing",
                     SearchConfig(collapse_duplicates=False))]
    else:
        configs.append(("convex w=0.5, depth 60 (default)", SearchConfig()))
    print("| setting | keyword | vector | hybrid | hybrid recall@10 | hybrid MRR@10 |")
    print("|---|---|---|---|---|---|")
    halves: dict[str, float] = {}
    for label, cfg in configs:
        retriever = Retriever(store, embedder, config=cfg)
        modes = ("hybrid",) if halves else ("hybrid", "keyword", "vector")
        runs = run_queries(data, retriever, doc_of, modes)
        scores = {m: evaluate(runs[m], data.qrels) for m in modes}
        for m in ("keyword", "vector"):
            if m in scores:
                halves[m] = scores[m]["ndcg@10"]
        h = scores["hybrid"]
        print(f"| {label} | {halves['keyword']:.4f} | {halves['vector']:.4f} | "
              f"{h['ndcg@10']:.4f} | {h['recall@10']:.4f} | {h['mrr@10']:.4f} |", flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
