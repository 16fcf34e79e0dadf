"""`assistant eval qa`: the app's answers scored against gold answers (SQuAD 2.0 or JSONL)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assistant.cli.models import make_generator
from assistant.cli.output import ProgressBar, emit_json, fmt_seconds
from assistant.errors import UserError


def cmd_eval_qa(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import time

    from assistant import paths
    from assistant.evaluation.qa import run_qa, sample, sample_missing
    from assistant.settings import Settings
    from assistant.training.squad import load_qa, split_articles

    qa = load_qa(args.data)
    if args.split != "all":
        train_articles, held_out = split_articles(qa.articles, held_out=args.held_out,
                                                  seed=args.seed)
        qa = qa.only_articles(held_out if args.split == "held-out" else train_articles)
    questions = sample(qa.questions, args.limit, seed=args.seed, balanced=args.balanced)
    if not questions:
        raise UserError("No questions to ask with these options.")
    if args.missing < 0:
        raise UserError("--missing takes a number of questions, 0 or more.")
    if args.missing and args.oracle:
        raise UserError("--missing takes passages out of the search results; "
                        "--oracle skips search. Use one or the other.")
    missing = sample_missing(qa.questions, args.missing or 0, seed=args.seed, skip=questions)
    settings = Settings()
    if args.strictness:
        settings.set("strictness", args.strictness)
    if args.k:
        settings.set("top_k", args.k)
    values = dict(settings.values)
    generator = make_generator(args, settings)
    values["adapter"] = str(generator.adapter_path or "")
    values["model"] = str(getattr(generator, "name", None) or args.model or
                          "embedded default")
    values["reader"] = args.reader
    if args.rerank is not None:
        values["rerank"] = args.rerank == "on"
    embedder = None
    store = None
    if not args.oracle:
        from assistant.search import Embedder

        embedder = Embedder()
    if args.collection:
        from assistant.store import Store

        store = Store()
        store.require_collection(args.collection)
    out = Path(args.out).expanduser() if args.out else paths.reports_dir()
    stem = f"qa-{Path(args.data).stem}-{args.split}" + ("-oracle" if args.oracle else "")
    out.mkdir(parents=True, exist_ok=True)
    partial = (out / f"{stem}.partial.jsonl").open("w", encoding="utf-8")

    def on_row(row: Any) -> None:
        partial.write(json.dumps(dataclasses.asdict(row), ensure_ascii=False) + "\n")
        partial.flush()

    bar = ProgressBar()
    started = time.monotonic()

    def progress(done: int, total: int, text: str) -> None:
        rate = done / max(1e-9, time.monotonic() - started)
        eta = (total - done) / rate if rate > 0 and done else None
        bar.update(done, total, f"questions · ETA {fmt_seconds(eta)} · {text}")

    try:
        report = run_qa(qa, questions, generator=generator, settings=values, embedder=embedder,
                        oracle=args.oracle, collection=args.collection, store=store,
                        progress=progress, on_row=on_row, missing=missing)
    finally:
        bar.close()
        partial.close()
        if store is not None:
            store.close()
    json_path, md_path = report.save(out, stem)
    (out / f"{stem}.partial.jsonl").unlink(missing_ok=True)
    summary = report.summary()
    stream = sys.stderr if args.json else sys.stdout
    print(report.markdown().split("## Examples")[0].rstrip(), file=stream)
    print(f"\nReports: {md_path} and {json_path}", file=stream)
    if args.json:
        emit_json({"summary": summary, "report": str(json_path), "markdown": str(md_path)})
    return 0


def add_qa_parser(eval_sub: Any) -> None:
    """Register `eval qa` on the `eval` command's subparsers."""
    p = eval_sub.add_parser("qa", help="ask questions with gold answers the way the app does")
    p.add_argument("data", metavar="DATA", help="SQuAD 2.0 JSON, or JSONL with question, "
                   "answers, context(s) and optional \"answerable\": false")
    p.add_argument("--collection", help="ask against this collection of your store instead "
                   "of indexing the data's passages")
    p.add_argument("--oracle", action="store_true",
                   help="skip retrieval: hand each question its own passages")
    p.add_argument("--lora", help="a GGUF LoRA adapter (\"\" for none; default: as the app)")
    p.add_argument("--lora-scale", type=float, dest="lora_scale")
    p.add_argument("--model", help="a GGUF model file (default: the embedded Gemma 3 270M)")
    p.add_argument("--answer-server", dest="answer_server", metavar="URL",
                   help="answer with an OpenAI-compatible inference server (see ask)")
    p.add_argument("--split", choices=("all", "held-out", "train"), default="all",
                   help="which articles: all, or one side of the article split")
    p.add_argument("--held-out", type=float, default=0.25, dest="held_out",
                   help="share of articles held out by the split (default 0.25)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the sample")
    p.add_argument("--limit", type=int, help="ask at most this many questions (stratified)")
    p.add_argument("--strictness", choices=("lenient", "balanced", "strict"))
    p.add_argument("-k", type=int, help="passages per question (default from settings)")
    p.add_argument("--balanced", action="store_true",
                   help="as many unanswerable questions as answerable ones in the sample")
    p.add_argument("--missing", type=int, default=0, metavar="N",
                   help="also ask N other answerable questions with every passage holding "
                        "their answer taken out of the library: a refusal is right")
    p.add_argument("--reader", choices=("on", "off"), default="on",
                   help="judge passages with the shipped reader (default on, as the app)")
    p.add_argument("--rerank", choices=("on", "off"),
                   help="let the reader reorder the retrieved passages (default: as the app)")
    p.add_argument("--out", help="folder for the reports (default: the app's reports folder)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_qa)
