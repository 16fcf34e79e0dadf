"""The reader's answerability thresholds, and reranking's effect on SQuAD passage recall.

Indexes the paragraphs of one side of the reader's article split exactly as `assistant eval
qa` does, retrieves for every question the way the app does (hybrid search, the balanced
retrieval floors), and reads the passages with the reader. No generation, so it takes
minutes, not hours. For each question it records the reader's best probability over the
first `k` passages, with and without reranking the first 20, and whether a passage holding
a gold answer is among the `k` given to the model.

Thresholds are chosen on the VALIDATION articles (training side of the split, never seen by
the reader while it trained, never the held-out articles `eval qa --split held-out` reports):
- balanced: the largest correct-refusal minus false-refusal rate (Youden's J);
- lenient: the highest threshold whose false-refusal rate is at most 5%;
- strict: the lowest threshold whose correct-refusal rate is at least 90%.
`--split held-out` only reports how those thresholds do there; `--split all` reads every
article (a generated set of plain documents held out as a whole).

Usage:
    .venv/bin/python tests/bench/calibrate_reader.py ../shared/data/squad2-dev-half.json \
        [--reader DIR] [--split validation|held-out] [--rerank] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assistant.answer import answerability
from assistant.answer.answering import RERANK_DEPTH
from assistant.answer.reader import Reader
from assistant.evaluation.qa import holds_answer
from assistant.search import Embedder
from assistant.training.reader_data import indexed_search, reader_split
from assistant.training.reader_metrics import auc
from assistant.training.squad import load_qa, normalize, token_f1

GRID = [round(0.01 * i, 2) for i in range(1, 100)]


def rates(rows: list[dict[str, Any]], key: str, threshold: float) -> tuple[float, float]:
    """(correct refusals, false refusals) when answering needs `key` >= threshold."""
    una = [r for r in rows if not r["answerable"]]
    ans = [r for r in rows if r["answerable"]]
    correct = sum(r[key] < threshold for r in una) / max(1, len(una))
    false = sum(r[key] < threshold for r in ans) / max(1, len(ans))
    return correct, false


def choose(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    curve = [(t, *rates(rows, key, t)) for t in GRID]
    balanced = max(curve, key=lambda c: (c[1] - c[2], -abs(c[0] - 0.5)))[0]
    lenient = max((t for t, _, fr in curve if fr <= 0.05), default=GRID[0])
    strict = min((t for t, cr, _ in curve if cr >= 0.90), default=GRID[-1])
    return {"lenient": lenient, "balanced": balanced, "strict": strict}


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Logistic regression by Newton's method (intercept in column 0, not penalised)."""
    w = np.zeros(x.shape[1])
    penalty = np.eye(x.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -40, 40)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def combined(rows: list[dict[str, Any]], key: str, folds: int = 5) -> dict[str, Any]:
    """Does retrieval's confidence add to the reader? A logistic fit of "answerable" on the
    reader's logit and retrieval confidence, its 5-fold cross-validated AUC against the
    reader's own."""
    x = np.array([[1.0, _logit(r[key]), 10 * (r["retrieval_confidence"] - 0.5)] for r in rows])
    y = np.array([float(r["answerable"]) for r in rows])
    order = np.random.default_rng(0).permutation(len(rows))
    cv = np.zeros(len(rows))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        w = fit_logistic(x[train], y[train])
        cv[test] = x[test] @ w
    labels = [bool(v) for v in y]
    return {"weights": [round(float(v), 4) for v in fit_logistic(x, y)],
            "cv_auc_combined": auc(labels, list(cv)),
            "auc_reader_alone": auc(labels, [r[key] for r in rows]),
            "auc_retrieval_alone": auc(labels, [r["retrieval_confidence"] for r in rows])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--reader", help="folder with reader.onnx (default: the shipped one)")
    parser.add_argument("--split", choices=("validation", "held-out", "all"),
                        default="validation",
                        help="the reader's article split of a SQuAD file, or all (a plain "
                             "QA JSONL that is held out as a whole, e.g. plain_heldout.jsonl)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--thresholds", help="JSON of thresholds to report (held-out)")
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick look)")
    parser.add_argument("--out", help="write the rows here")
    parser.add_argument("--missing", action="store_true",
                        help="also ask every answerable question with the passages holding "
                             "its answer taken out of the results: the library lacks it")
    args = parser.parse_args()

    qa = load_qa(args.data)
    split = reader_split(qa.articles)
    articles = {"validation": split.validation, "held-out": split.held_out,
                "all": qa.articles}[args.split]
    part = qa.only_articles(articles)
    reader = Reader(Path(args.reader)) if args.reader else Reader()
    embedder = Embedder()
    level = answerability.strictness("balanced")
    rows: list[dict[str, Any]] = []
    read_seconds: list[float] = []
    with indexed_search(part, embedder) as search:
        asks = [(q, False) for q in part.questions[:args.limit]]
        if args.missing:
            asks += [(q, True) for q in part.questions[:args.limit] if q.answerable]
        for n, (q, missing) in enumerate(asks, 1):

            def holds(text: str, answers: tuple[str, ...] = q.answers) -> bool:
                return holds_answer(text, answers)  # as `eval qa` reads it

            depth = max(args.k, RERANK_DEPTH)
            hits = search(q.question, depth + (10 if missing else 0))
            if missing:  # what retrieval gives once no passage of the library holds it
                hits = [h for h in hits if not holds(h.text)][:depth]
            usable = answerability.usable_passages(hits, level)
            top = usable[:args.k]
            started = time.perf_counter()
            plain = reader.read(q.question, [h.text for h in top]) if top else []
            read_seconds.append(time.perf_counter() - started)
            deep = reader.rerank(q.question, usable[:RERANK_DEPTH])[:args.k] if usable else []
            answerable = q.answerable and not missing

            best = max(range(len(plain)), key=lambda i: plain[i].probability, default=None)
            span = plain[best].span(top[best].text) if best is not None else ""
            rows.append({
                "span": span,
                "span_contains_gold": answerable and any(
                    f" {normalize(a)} " in f" {normalize(span)} " for a in q.answers),
                "span_f1": max((token_f1(span, a) for a in q.answers), default=0.0),
                "id": q.id, "answerable": answerable, "article": q.article,
                "kind": "missing" if missing else "answerable" if q.answerable
                else "unanswerable",
                "plain": max((r.probability for r in plain), default=0.0),
                "reranked": max((r.probability for _, r in deep), default=0.0),
                # what the decision reads (the passages the model is given, as "plain"):
                # the judge head's probability, for a reader with one
                "judged": max((r.judged for r in plain), default=0.0),
                "gold_in_plain": answerable and any(holds(h.text) for h in top),
                "gold_in_reranked": answerable and any(holds(h.text) for h, _ in deep),
                "gold_first_plain": answerable and bool(top) and holds(top[0].text),
                "gold_first_reranked": answerable and bool(deep) and holds(deep[0][0].text),
                "gold_retrieved": answerable and any(holds(h.text) for h in usable),
                "retrieval_confidence": answerability.retrieval_confidence(top) if top
                else 0.0,
            })
            if n % 100 == 0:
                print(f"{n}/{len(asks)} questions", file=sys.stderr, flush=True)
    ans = [r for r in rows if r["answerable"]]
    summary: dict[str, Any] = {
        "split": args.split, "articles": articles, "questions": len(rows),
        "answerable": len(ans),
        "auc_plain": auc([r["answerable"] for r in rows], [r["plain"] for r in rows]),
        "auc_reranked": auc([r["answerable"] for r in rows], [r["reranked"] for r in rows]),
        "auc_judged": auc([r["answerable"] for r in rows], [r["judged"] for r in rows]),
        "passage_recall_at_k_plain": statistics.mean(r["gold_in_plain"] for r in ans),
        "passage_recall_at_k_reranked": statistics.mean(r["gold_in_reranked"] for r in ans),
        "gold_first_plain": statistics.mean(r["gold_first_plain"] for r in ans),
        "gold_first_reranked": statistics.mean(r["gold_first_reranked"] for r in ans),
        "gold_in_first_20": statistics.mean(r["gold_retrieved"] for r in ans),
        # the reader's own answer (the span of its likeliest passage), no generator at all:
        # what an extractive answer would give on the answerable questions
        "reader_span_contains_gold": statistics.mean(r["span_contains_gold"] for r in ans),
        "reader_span_f1": statistics.mean(r["span_f1"] for r in ans),
        "reader_ms_per_question_p50": round(1000 * statistics.median(read_seconds), 1),
    }
    for kind in ("unanswerable", "missing"):  # each kind of "no answer here" on its own
        part_rows = [r for r in rows if r["kind"] in ("answerable", kind)]
        if any(r["kind"] == kind for r in part_rows):
            summary[f"vs_{kind}"] = {
                "questions": sum(r["kind"] == kind for r in part_rows),
                "auc_reader": auc([r["answerable"] for r in part_rows],
                                  [r["plain"] for r in part_rows]),
                "auc_judged": auc([r["answerable"] for r in part_rows],
                                  [r["judged"] for r in part_rows]),
                "auc_retrieval": auc([r["answerable"] for r in part_rows],
                                     [r["retrieval_confidence"] for r in part_rows])}
    for key in ("plain", "reranked"):
        chosen = json.loads(args.thresholds) if args.thresholds else choose(rows, key)
        summary[f"thresholds_{key}"] = {
            name: {"threshold": t, "correct_refusals": round(rates(rows, key, t)[0], 4),
                   "false_refusals": round(rates(rows, key, t)[1], 4)}
            for name, t in chosen.items()}
    summary["combined_with_retrieval"] = combined(rows, "plain")
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1),
                                  encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
