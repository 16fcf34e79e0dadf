"""`assistant eval retrieval`: BEIR-format retrieval evaluation from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assistant.cli.output import ProgressBar, emit_json


def _default_out() -> Path:
    from assistant import paths

    return paths.home() / "reports"


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    from assistant.evaluation.retrieval import MODES, evaluate_retrieval, write_reports
    from assistant.search import Embedder, SearchConfig

    bar = ProgressBar()

    def progress(text: str, done: int, total: int) -> None:
        bar.update(done, total, text)

    embedder = Embedder(runtime=args.embedder) if args.embedder else Embedder()
    reader = None
    if args.rerank:
        from assistant.answer.reader import Reader

        reader = Reader()
    config = SearchConfig(**({"fusion": args.fusion} if args.fusion else {}),
                          **({"vector_weight": args.vector_weight}
                             if args.vector_weight is not None else {}))
    print(f"Evaluating retrieval on {args.beir_dir} (embedder {embedder.identity}).",
          file=sys.stderr)
    try:
        if args.store:
            report = _evaluate_on_store(args, embedder, config, progress)
        else:
            report = evaluate_retrieval(args.beir_dir, embedder=embedder, split=args.split,
                                        limit=args.limit, config=config, modes=MODES,
                                        progress=progress, reader=reader)
    finally:
        bar.close()
    md, js = write_reports(report, Path(args.out).expanduser() if args.out else _default_out())
    out = sys.stderr if args.json else sys.stdout
    print(report.markdown(), file=out)
    print(f"Reports: {md} and {js}", file=out)
    if args.json:
        result: dict[str, Any] = dict(report.to_json(),
                                      reports={"markdown": str(md), "json": str(js)})
        emit_json(result)
    return 0


def _evaluate_on_store(args: argparse.Namespace, embedder: Any, config: Any,
                       progress: Any) -> Any:
    """The same evaluation with the corpus indexed into `--store` (a file or a PostgreSQL
    library), in a collection of its own that is removed afterwards."""
    import tempfile
    import time

    from assistant.errors import UserError
    from assistant.evaluation.metrics import evaluate
    from assistant.evaluation.retrieval import (
        MODES,
        RetrievalReport,
        load_beir,
        run_queries,
        write_corpus,
    )
    from assistant.ingest.indexer import Indexer
    from assistant.search import Retriever
    from assistant.store.backend import open_store

    if args.rerank:
        raise UserError("--rerank is not available with --store yet; leave one of them out.")
    data = load_beir(args.beir_dir, args.split, args.limit)
    collection = f"eval-{data.name}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp, \
            open_store(args.store) as store:
        if store.collection_id(collection, create=False) is not None:
            raise UserError(f"The store already has a collection '{collection}'; remove it "
                            "or evaluate on another store.")
        doc_of = write_corpus(data, Path(tmp) / "corpus")
        try:
            summary = Indexer(store, embedder).index([Path(tmp) / "corpus"], collection)
            if summary.failed:
                raise UserError(f"{len(summary.failed)} documents could not be indexed.")
            indexed = time.monotonic()
            retriever = Retriever(store, embedder, config=config)
            runs = run_queries(data, retriever, doc_of, MODES, progress)
            searched = time.monotonic()
            chunks = sum(d.chunks for d in store.documents(collection))
        finally:
            if store.collection_id(collection, create=False) is not None:
                store.delete_collection(collection)
    cfg = retriever.config
    return RetrievalReport(
        dataset=data.name, documents=len(data.corpus), queries=len(data.qrels), chunks=chunks,
        embedder=embedder.identity, metrics={m: evaluate(runs[m], data.qrels) for m in MODES},
        seconds={"indexing": round(indexed - started, 1),
                 "searching": round(searched - indexed, 1)},
        settings={"fusion": cfg.fusion, "vector_weight": cfg.vector_weight,
                  "depth": cfg.depth, "split": args.split, "store": store.backend},
        runs=runs)


def add_retrieval_parser(eval_sub: Any) -> None:
    p = eval_sub.add_parser("retrieval", help="nDCG@10, recall@10, MRR@10 on a BEIR folder")
    p.add_argument("beir_dir", metavar="BEIR_DIR",
                   help="a folder with corpus.jsonl, queries.jsonl and qrels/test.tsv")
    p.add_argument("--split", default="test", help="qrels file to score (default test)")
    p.add_argument("--limit", type=int, help="score only the first N judged queries")
    p.add_argument("--embedder", choices=["onnx-int8", "torch-fp32"],
                   help="embedding runtime (default: the app's)")
    p.add_argument("--fusion", choices=["convex", "rrf"], help="hybrid fusion (default rrf)")
    p.add_argument("--vector-weight", type=float, dest="vector_weight",
                   help="weight of the dense side in convex fusion (default 0.5)")
    p.add_argument("--out", help="folder for the Markdown and JSON reports "
                                 "(default: the app's reports folder)")
    p.add_argument("--rerank", action="store_true",
                   help="also score hybrid search reranked by the shipped reader")
    p.add_argument("--store", metavar="STORE",
                   help="index into this store (a file or a postgresql:// library, in a "
                        "collection removed afterwards) instead of a throw-away file")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_eval_retrieval)
