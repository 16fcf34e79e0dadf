"""`assistant train` and `assistant eval-adapter`: fine-tuning from the command line.

Kept in their own module so the training stack (torch, transformers, peft) is imported
only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from assistant.cli.output import ProgressBar, ProgressLog, emit_json, fmt_seconds
from assistant.errors import Cancelled, UserError

T = TypeVar("T")


def _base_model(path: str | None) -> Path:
    """The base GGUF: the one given (checked first) or the embedded default."""
    from assistant.llm.models import resolve_model

    return resolve_model(path)


def _load(data: str, scrub: bool, max_length: int) -> Any:
    from assistant.training.data import load_jsonl

    report = load_jsonl(data, scrub_pii=scrub, max_length=max_length)
    print(report.summary(), file=sys.stderr)
    return report


def _stoppable(run: Callable[[threading.Event], T], bar: ProgressBar) -> T | None:
    """`run(cancel)` with the progress bar closed however it ends; on a cancellation, say how
    to resume and return None.

    Ctrl+C (SIGINT) and SIGTERM set `cancel` rather than raising: the run stops between two
    steps and writes its checkpoint there, so nothing done since the last periodic checkpoint
    is lost (an exception raised mid-step could only leave the older one). A second Ctrl+C
    stops at once.
    """
    cancel = threading.Event()
    handlers: dict[int, Any] = {}

    def stop(signum: int, _frame: Any) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel.set()
        print("\nStopping after this step, and saving a checkpoint...", file=sys.stderr,
              flush=True)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, stop)
    try:
        return run(cancel)
    except KeyboardInterrupt:
        cancel.set()
        what = "Interrupted"
    except Cancelled:
        what = "Stopped" if handlers else "Cancelled"
    finally:
        for number, old in handlers.items():
            signal.signal(number, old)
        bar.close()
    print(f"{what}. Run the same command with --resume to continue.", file=sys.stderr)
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from assistant.training.data import split_examples
    from assistant.training.train import TrainConfig, TrainProgress, train

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".gguf":
        raise UserError(f"--out must name a .gguf file (got '{out}').")
    try:
        config = TrainConfig(epochs=args.epochs, rank=args.rank, alpha=args.alpha or 2 * args.rank,
                             learning_rate=args.lr, batch_size=args.batch_size,
                             max_length=args.max_length, seed=args.seed, threads=args.threads,
                             validation_fraction=args.validation_fraction,
                             compact_checkpoint=args.compact_checkpoint)
    except ValueError as exc:
        raise UserError(f"Training options: {exc}.") from exc
    base = _base_model(args.model)
    report = _load(args.data, not args.keep_personal_data, config.max_length)
    split = split_examples(report.examples, seed=config.seed,
                           validation_fraction=config.validation_fraction)
    print(f"Split: {len(split.train)} for training, {len(split.validation)} for validation"
          + (f" ({split.note})" if split.note else "") + ".", file=sys.stderr)
    work_dir = out.with_name(out.stem + ".training")
    bar, log = ProgressBar(), ProgressLog()

    def progress(p: TrainProgress) -> None:
        loss = f"loss {p.loss:.3f}" if p.loss is not None else p.phase
        bar.update(p.step, p.total_steps, f"steps · {loss} · ETA {fmt_seconds(p.eta_s)}")
        what = p.message or (f"{loss} · ETA {fmt_seconds(p.eta_s)}"
                             if p.phase == "training" else "")
        log.update(p.phase, p.step, p.total_steps, what)

    result = _stoppable(lambda cancel: train(split, config, base, work_dir, progress=progress,
                                             cancel=cancel, resume=args.resume,
                                             stop_after=args.stop_after), bar)
    if result is None:
        return 130
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.adapter_gguf, out)
    report_path = out.with_suffix(".report.json")
    shutil.copyfile(result.report_path, report_path)
    before, after = result.val_loss_before, result.val_loss_after
    summary = {"adapter": str(out), "report": str(report_path), "steps": result.steps,
               "train_loss": result.train_loss, "val_loss_before": before,
               "val_loss_after": after, "seconds": round(result.duration_s, 1)}
    text = f"Wrote {out} after {result.steps} steps in {result.duration_s:.0f} s."
    if before is not None and after is not None:
        text += f" Validation loss {before:.3f} -> {after:.3f}."
    print(text, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        emit_json(summary)
    return 0


def cmd_eval_adapter(args: argparse.Namespace) -> int:
    from assistant.llm.adapters import check_adapter_file
    from assistant.llm.gguf_check import read_gguf_info
    from assistant.training.evaluate import evaluate, save_report

    adapter = Path(args.adapter).expanduser()
    base = _base_model(args.model)
    check_adapter_file(adapter, read_gguf_info(base))
    report = _load(args.data, not args.keep_personal_data, 2048)
    examples = report.examples
    if args.validation_only:
        from assistant.training.data import split_examples

        examples = split_examples(examples, seed=args.seed).validation
    result = evaluate(examples, base, adapter, n_samples=args.samples, generate=True)
    out_dir = Path(args.out).expanduser() if args.out else adapter.parent
    json_path, md_path = save_report(result, out_dir, stem=adapter.stem + ".evaluation")
    if args.json:
        print(result.to_markdown(), file=sys.stderr)
        emit_json(dict(result.to_json(), report_json=str(json_path), report_markdown=str(md_path)))
    else:
        print(result.to_markdown())
        print(f"\nSaved {md_path} and {json_path}.")
    return 0


def cmd_grounded_data(args: argparse.Namespace) -> int:
    """Write RAFT-style training examples (and the held-out article list) from QA data."""
    import json

    from assistant.ingest.chunking import Chunker
    from assistant.training.reader_data import reader_split
    from assistant.training.squad import (
        build_raft_examples,
        load_qa,
        passages_of,
    )

    qa = load_qa(args.data)
    # The reader's split: its validation articles stay out of the adapter's examples too, so
    # the answer decision (reader and adapter together) is calibrated on questions neither
    # model has seen, and the held-out articles are `eval qa --split held-out`'s.
    split = reader_split(qa.articles, held_out=args.held_out, seed=args.seed)
    train_articles, held_out = split.train, split.held_out
    chunker = Chunker()
    train_set = qa.only_articles(train_articles)
    passages = passages_of(train_set, lambda text: [c.text for c in chunker.chunk_page(text)])
    from assistant.training.passage_order import make_order

    if not 0.0 < args.answerable_share <= 1.0:
        raise UserError("--answerable-share is a share of the examples: more than 0, at most 1.")
    if not 0.0 <= args.short_share <= 1.0:
        raise UserError("--short-share is a share of the examples: from 0 to 1.")
    examples = build_raft_examples(train_set, passages, count=args.examples, seed=args.seed,
                                   answerable_share=args.answerable_share,
                                   order=make_order(args.order), short_share=args.short_share)
    out = Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for example in examples:
        kind = example.origin.split()[1]
        kinds[kind] = kinds.get(kind, 0) + 1
    oracle_at: dict[int, int] = {}
    for example in examples:
        if example.origin.split()[1] in ("answer", "short_answer"):
            n = int(example.response.rsplit("[", 1)[1].rstrip("]"))
            oracle_at[n] = oracle_at.get(n, 0) + 1
    summary = {"examples": len(examples), "kinds": kinds, "order": args.order,
               "oracle_position": dict(sorted(oracle_at.items())),
               "train_articles": train_articles,
               "calibration_articles": split.validation,
               "held_out_articles": held_out, "seed": args.seed, "out": str(out)}
    print(f"Wrote {len(examples)} examples ({', '.join(f'{v} {k}' for k, v in kinds.items())}) "
          f"from {len(train_articles)} articles to {out}; kept for calibration: "
          f"{', '.join(split.validation)}; held out: {', '.join(held_out)}.",
          file=sys.stderr)
    if args.json:
        emit_json(summary)
    return 0


def _teacher_logits(pairs: list[Any], skip: set[int]
                    ) -> tuple[list[float | None], list[tuple[Any, Any]]]:
    """The shipped reader's view of every training pair: its answer logit where the pair's
    id is not in `skip` (None there), what `--distill` holds the new reader to; and the
    start and end logits of every pair's passage tokens, what `--distill-spans` holds it to."""
    from assistant.answer.reader import Reader

    reader = Reader()
    by_question: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_question.setdefault(pair.question, []).append(i)
    out: list[float | None] = [None] * len(pairs)
    spans: list[tuple[Any, Any]] = [((), ())] * len(pairs)
    print(f"Reading {len(pairs)} training pairs with the shipped reader (the teacher).",
          file=sys.stderr, flush=True)
    for question, rows in by_question.items():
        for i, (answer, start, end) in zip(
                rows, reader.logits(question, [pairs[i].passage for i in rows]), strict=True):
            spans[i] = (start, end)
            if id(pairs[i]) not in skip:
                out[i] = answer
    return out, spans


def cmd_train_reader(args: argparse.Namespace) -> int:
    """Train the reader (question + passage -> holds the answer?, and where) on QA data."""
    from assistant.ingest.chunking import Chunker
    from assistant.search import default_model_path
    from assistant.training.reader_data import (
        KINDS,
        build_reader_pairs,
        document_questions,
        nearest_passages,
        reader_split,
        searched_passages,
    )
    from assistant.training.reader_train import ReaderConfig, ReaderProgress, train_reader
    from assistant.training.squad import load_qa, passages_of

    try:
        config = ReaderConfig(epochs=args.epochs, batch_size=args.batch_size,
                              learning_rate=args.lr, seed=args.seed, threads=args.threads,
                              checkpoint_minutes=args.checkpoint_minutes,
                              distill=args.distill, distill_spans=args.distill_spans,
                              judge_head=args.judge_head)
    except ValueError as exc:
        raise UserError(f"Training options: {exc}.") from exc
    if args.retrieved < 0 or not 0.0 <= args.short_share <= 1.0 or \
            not 0.0 <= args.swapped_share <= 1.0:
        raise UserError("--retrieved takes a number of passages, 0 or more, and --short-share "
                        "and --swapped-share a share between 0 and 1.")
    if args.tempting and not args.documents:
        raise UserError("--tempting pairs the questions of --documents files with what search "
                        "finds for them; give at least one --documents file.")
    if args.siblings and not args.tempting:
        raise UserError("--siblings gives the sections a near miss meets through --tempting "
                        "to the questions they answer; use it with --tempting.")
    qa = load_qa(args.data)
    split = reader_split(qa.articles, held_out=args.held_out, seed=args.seed)
    chunker = Chunker()

    embedder = None
    if args.retrieved or (args.tempting and args.documents):
        from assistant.search import Embedder

        embedder = Embedder()

    def pairs_of(articles: list[str], seed: int) -> list[Any]:
        part = qa.only_articles(articles)
        passages = passages_of(part, lambda text: [c.text for c in chunker.chunk_page(text)])
        near = None
        # search's nearest passages stand in for random ones
        if embedder is not None and args.retrieved:
            nearest = nearest_passages(part.questions, passages, embedder.embed_batch)
            near = lambda q: nearest.get(q.id, [])  # noqa: E731
        pairs = build_reader_pairs(part, passages, seed=seed,
                                   hard_per_question=0 if near else 1, neighbours=near,
                                   retrieved_per_question=args.retrieved,
                                   short_share=args.short_share,
                                   swapped_share=args.swapped_share)
        return pairs[:args.limit] if args.limit else pairs

    train_pairs = pairs_of(split.train, args.seed)
    near_misses: set[int] = set()  # ids of the documents' near-miss pairs (no teacher)
    documents: dict[str, dict[str, int]] = {}
    for i, path in enumerate(args.documents or []):
        # plain documents: training pairs only (the validation and held-out figures stay
        # SQuAD's, comparable with every reader before)
        docs = document_questions(load_qa(path))
        passages = passages_of(docs, lambda text: [c.text for c in chunker.chunk_page(text)])
        tempting = None
        if embedder is not None and args.tempting:  # what search would hand the reader
            ranked = searched_passages(docs, passages, embedder)
            tempting = lambda q, ranked=ranked: ranked.get(q.id, [])  # noqa: E731
        extra = build_reader_pairs(docs, passages, seed=args.seed + 10 + i,
                                   hard_per_question=2, unanswerable_chunks=2,
                                   short_share=args.short_share, tempting=tempting,
                                   tempting_hard=args.tempting == "all",
                                   siblings=args.siblings)
        counts = documents.setdefault(Path(path).name, dict.fromkeys(KINDS, 0))
        for pair in extra:  # a file given twice (to weigh it double) counts twice
            counts[pair.kind] += 1
            if pair.kind == "unanswerable":
                near_misses.add(id(pair))
        train_pairs += extra
    if documents:
        random.Random(args.seed).shuffle(train_pairs)
    val_pairs = pairs_of(split.validation, args.seed + 1)
    held_pairs = pairs_of(split.held_out, args.seed + 2)
    if not train_pairs:
        raise UserError(f"'{args.data}' gives no training pairs: it needs at least two "
                        "articles with questions.")

    def count(pairs: list[Any]) -> dict[str, int]:
        return {k: sum(1 for p in pairs if p.kind == k) for k in KINDS}

    note = {"source": Path(args.data).name, "seed": args.seed,
            "train_articles": split.train, "validation_articles": split.validation,
            "held_out_articles": split.held_out, "train_kinds": count(train_pairs),
            "validation_kinds": count(val_pairs), "held_out_kinds": count(held_pairs)}
    if documents:
        note["documents"] = documents
    print(f"Reader pairs: {len(train_pairs)} for training ({len(split.train)} articles), "
          f"{len(val_pairs)} for validation ({len(split.validation)}), {len(held_pairs)} "
          f"held out ({len(split.held_out)}).", file=sys.stderr)
    out = Path(args.out).expanduser()
    teacher = teacher_spans = None
    if args.distill > 0 or args.distill_spans > 0:
        # with a judge head the ranking head keeps the teacher's view of the near misses too
        logits, taught = _teacher_logits(train_pairs,
                                         set() if args.judge_head else near_misses)
        teacher = logits if args.distill > 0 else None
        teacher_spans = taught if args.distill_spans > 0 else None
        note["teacher"] = {"reader": "shipped", "weight": args.distill,
                           "pairs": sum(t is not None for t in logits) if teacher else 0,
                           "span_weight": args.distill_spans,
                           "span_pairs": len(taught) if teacher_spans else 0,
                           "judge_head": args.judge_head}
    bar, log = ProgressBar(), ProgressLog()

    def progress(p: ReaderProgress) -> None:
        if p.phase == "training":
            loss = f"loss {p.loss:.3f}" if p.loss is not None else ""
            bar.update(p.step, p.total_steps, f"steps · {loss} · ETA {fmt_seconds(p.eta_s)}")
            log.update(p.phase, p.step, p.total_steps, f"{loss} · ETA {fmt_seconds(p.eta_s)}")
        elif p.phase in ("validating", "exporting"):
            bar.update(p.step, p.total_steps, p.phase)
            log.update(p.phase, p.step, p.total_steps, "")

    result = _stoppable(lambda cancel: train_reader(
        train_pairs, val_pairs, config, default_model_path(), out, held_out_pairs=held_pairs,
        progress=progress, cancel=cancel, resume=args.resume or args.finish,
        stop_after=args.stop_after, data_note=note, finish=args.finish, teacher=teacher,
        teacher_spans=teacher_spans),
        bar)
    if result is None:
        return 130
    summary: dict[str, Any] = {"out": str(out), "steps": result.steps,
                               "seconds": round(result.duration_s, 1)}
    if not result.reader.exists():
        text = (f"Stopped after {result.steps} steps; the checkpoint is in {out}. Run the "
                "same command with --resume to continue.")
        summary["finished"] = False
    else:
        summary.update(finished=True, reader=str(result.reader), report=str(result.report_path),
                       **result.metrics)
        val = result.metrics.get("validation") or {}
        text = f"Wrote {result.reader} after {result.steps} steps in {result.duration_s:.0f} s."
        if val.get("auc") is not None:
            text += (f" Validation: AUC {val['auc']:.3f}, answer exact match "
                     f"{val.get('has_answer_exact_match', 0):.1%}, unanswerable rejected "
                     f"{val.get('no_answer_accuracy', 0):.1%}.")
    print(text, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        emit_json(summary)
    return 0


def add_training_commands(sub: Any) -> None:
    p = sub.add_parser("train-reader",
                       help="train the reader that judges passages, from SQuAD-format QA data")
    p.add_argument("data", metavar="DATA", help="SQuAD 2.0 JSON or our QA JSONL")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for reader.onnx, its manifest and the training report")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument("--held-out", type=float, default=0.25, dest="held_out",
                   help="share of articles held out (default 0.25, as eval qa)")
    p.add_argument("--limit", type=int, help="use at most this many pairs of each split")
    p.add_argument("--retrieved", type=int, default=0, metavar="N",
                   help="per question, N passages that search ranks nearest and that lack "
                   "the answer, as negatives in place of a random paragraph of the same "
                   "article (default 0, the shipped reader's recipe)")
    p.add_argument("--short-share", type=float, default=0.0, dest="short_share",
                   help="share of questions that also get one- or two-sentence passages "
                   "with and without the answer (default 0, the shipped reader's recipe)")
    p.add_argument("--swapped-share", type=float, default=0.0, dest="swapped_share",
                   help="share of answerable questions that also get a copy with one name or "
                   "number swapped for one their passage lacks, as a negative against that "
                   "passage (default 0, the shipped reader's recipe)")
    p.add_argument("--documents", action="append", metavar="QA.jsonl",
                   help="also train on plain documents: our QA JSONL whose questions list "
                   "their document's sections (repeatable; training pairs only)")
    p.add_argument("--tempting", nargs="?", const="all", choices=("all", "near-misses"),
                   help="pair the --documents questions with the sections search ranks "
                   "first for them instead of random ones: a near miss with its document's "
                   "first chunks, and (all, the default) every question's other sections "
                   "with the first that lack its answer")
    p.add_argument("--siblings", action="store_true",
                   help="with --tempting: also give each section a near miss meets to a "
                   "question of the same document that it answers, so that the reader "
                   "learns what the near miss lacks rather than to distrust the section")
    p.add_argument("--distill", type=float, default=0.0, metavar="WEIGHT",
                   help="hold the new reader to the shipped one's judgement on every pair but "
                   "the --documents near misses, with this weight (default 0: none), so that "
                   "it learns the near misses without moving which passage it picks")
    p.add_argument("--distill-spans", type=float, default=0.0, metavar="WEIGHT",
                   dest="distill_spans",
                   help="hold the new reader's answer spans to the shipped one's on every "
                   "pair, with this weight (default 0: none), so that it quotes the same "
                   "words where it learns a new judgement")
    p.add_argument("--judge-head", action="store_true", dest="judge_head",
                   help="give the reader a third head, the judge, that the answer-or-refuse "
                   "decision reads: it learns every pair's label, near misses included, "
                   "while the ranking head is held to the shipped reader on every pair "
                   "(needs --distill), so that the passage picked does not move")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads for training")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0, dest="checkpoint_minutes",
                   help="write a resumable checkpoint this often (default 10)")
    p.add_argument("--resume", action="store_true", help="continue a stopped or crashed run")
    p.add_argument("--stop-after", type=int, dest="stop_after", metavar="STEPS",
                   help="stop after this many steps, keeping the checkpoint")
    p.add_argument("--finish", action="store_true",
                   help="export the reader from the checkpoint as it stands (ends a run early)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train_reader)


    p = sub.add_parser("grounded-data",
                       help="build RAFT-style training examples from SQuAD-format QA data")
    p.add_argument("data", metavar="DATA", help="SQuAD 2.0 JSON or our QA JSONL")
    p.add_argument("--out", required=True, metavar="EXAMPLES.jsonl")
    p.add_argument("--examples", type=int, default=300)
    p.add_argument("--order", choices=("retrieval", "reader", "shuffle"), default="retrieval",
                   help="how each example's passages are ordered: as search orders them "
                        "(default), as the reader reranks them, or at random")
    p.add_argument("--held-out", type=float, default=0.25, dest="held_out",
                   help="share of articles kept out of training (default 0.25)")
    p.add_argument("--answerable-share", type=float, default=0.55, dest="answerable_share",
                   help="share of examples that answer (default 0.55; the rest teach the "
                        "refusal; each answerable question is used once, so a large count "
                        "with a high share runs out of them and fills up with refusals)")
    p.add_argument("--short-share", type=float, default=0.0, dest="short_share",
                   help="share of examples whose passages are cut to one or two sentences "
                        "each, as a user's notes and slides are (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_grounded_data)

    p = sub.add_parser("train", help="train a LoRA adapter from your own examples (JSONL)")
    p.add_argument("data", metavar="DATA.jsonl")
    p.add_argument("--out", required=True, metavar="ADAPTER.gguf")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, help="LoRA alpha (default: twice the rank)")
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--batch-size", type=int, default=4, dest="batch_size")
    p.add_argument("--max-length", type=int, default=512, dest="max_length",
                   help="tokens per example (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-fraction", type=float, default=0.15,
                   dest="validation_fraction",
                   help="share of the examples kept for validation loss (default 0.15)")
    p.add_argument("--threads", type=int, help="CPU threads for training")
    p.add_argument("--model", help="the base GGUF (default: the embedded Gemma 3 270M)")
    p.add_argument("--resume", action="store_true", help="continue a cancelled or crashed run")
    p.add_argument("--stop-after", type=int, dest="stop_after", metavar="STEPS",
                   help="end after this many steps and write the adapter (with --resume: "
                        "finish a cancelled run where it stopped)")
    p.add_argument("--keep-personal-data", action="store_true", dest="keep_personal_data",
                   help="do not remove e-mail addresses, phone numbers, IBANs and card numbers")
    p.add_argument("--compact-checkpoint", action="store_true", dest="compact_checkpoint",
                   help="store the optimizer's moments in bf16: checkpoints a third smaller, "
                        "for committing one between sessions (a resumed run then differs "
                        "from an uninterrupted one by their rounding)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval-adapter", help="compare an adapter with the base model on examples")
    p.add_argument("adapter", metavar="ADAPTER.gguf")
    p.add_argument("data", metavar="DATA.jsonl")
    p.add_argument("--model", help="the base GGUF (default: the embedded Gemma 3 270M)")
    p.add_argument("--validation-only", action="store_true", dest="validation_only",
                   help="evaluate only on the validation split that `train` held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=3, help="answers shown side by side")
    p.add_argument("--out", help="folder for the report (default: beside the adapter)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_adapter)

