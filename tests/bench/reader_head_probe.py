"""Does the shipped reader's frozen encoder already know what a near miss lacks?

A probe, not a product: before training a second answerability head over the shipped
reader's encoder (one small file, the same spans and passage choice), this measures what
such a head could reach. It reads, through the app's own index and hybrid search (as
`calibrate_reader.py` does), the passages the app would read for every question of some QA
files, and keeps per passage the int8 reader's own outputs (answer logit, best span score,
"no answer" score at [CLS]) and its last hidden states ([CLS], span start, span end, passage
mean: 4 x 384). A logistic head is fitted on the training files' passages ("this passage
holds a gold answer") and judged on the others at the question level, the way the app uses
the reader: its best score over the passages read, answerable questions against near misses
(`unanswerable`) and against the same questions with their answer taken out (`missing`).

Usage:
    .venv/bin/python tests/bench/reader_head_probe.py \
        --train tests/data/qa/plain_training.jsonl tests/data/qa/plain_training2.jsonl \
        --train-squad 1500 --judge tests/data/qa/plain_heldout.jsonl \
        tests/data/qa/own_documents.jsonl tests/data/qa/plain_calibration.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assistant.answer import answerability
from assistant.answer.answering import RERANK_DEPTH
from assistant.answer.reader import Reader, best_span
from assistant.evaluation.qa import holds_answer
from assistant.search import Embedder
from assistant.search.parallel import each_alone
from assistant.training.reader_data import indexed_search, reader_split
from assistant.training.reader_metrics import auc
from assistant.training.squad import QASet, load_qa

HIDDEN = "/encoder/encoder/layer.5/output/LayerNorm/LayerNormalization_output_0"
SQUAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "squad2-dev-half.json"
FEATURES = {"logit": [0], "outputs": [0, 1, 2], "cls": list(range(3 + 384)),
            "all": list(range(3 + 4 * 384))}


class Probe:
    """The shipped reader with its last hidden states as one more output."""

    def __init__(self) -> None:
        import onnx
        import onnxruntime as ort

        self.reader = Reader(verify=False)
        model = onnx.load(str(self.reader.file))
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(HIDDEN, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])

    def features(self, question: str, passages: list[str]) -> list[np.ndarray]:
        r = self.reader
        q_ids = r.tokenizer.encode(question, add_special_tokens=False).ids
        q_ids = q_ids[:r.max_question_tokens]

        def one(passage: str) -> np.ndarray:
            tokens, types, first, offsets = r._encode(q_ids, passage)
            ids = np.asarray([tokens], dtype=np.int64)
            logit, start, end, hidden = self.session.run(None, {
                "input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.asarray([types], dtype=np.int64)})
            last = first + len(offsets)
            s, e, score = best_span(start[0], end[0], first, last, r.max_answer_tokens)
            h = hidden[0]
            mean = h[first:last].mean(0) if last > first else h[0]
            outputs = [float(logit[0]), score if np.isfinite(score) else -20.0,
                       float(start[0][0] + end[0][0])]
            return np.concatenate([outputs, h[0], h[s], h[e], mean]).astype(np.float32)

        return each_alone(one, passages, 2)


def read_all(probe: Probe, qa: QASet, embedder: Embedder
             ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Every passage the app would read for each question (and again with its answer taken
    out of the results), as feature rows."""
    level = answerability.strictness("balanced")
    xs: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    with indexed_search(qa, embedder) as search:
        asks = [(q, False) for q in qa.questions]
        asks += [(q, True) for q in qa.questions if q.answerable]
        for q, missing in asks:
            hits = search(q.question, RERANK_DEPTH + (10 if missing else 0))
            if missing:
                hits = [h for h in hits if not holds_answer(h.text, q.answers)][:RERANK_DEPTH]
            read = answerability.usable_passages(hits, level)[:RERANK_DEPTH]
            kind = "missing" if missing else "answerable" if q.answerable else "unanswerable"
            for h, x in zip(read, probe.features(q.question, [h.text for h in read]),
                            strict=True):
                xs.append(x)
                rows.append({"question": f"{q.id}/{kind}", "kind": kind,
                             "holds": kind == "answerable" and holds_answer(h.text, q.answers)})
    return np.stack(xs), rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Newton's method; the intercept (column 0) is not penalised."""
    w = np.zeros(x.shape[1])
    penalty = np.eye(x.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -40, 40)))
        step = np.linalg.solve((x * (p * (1 - p))[:, None]).T @ x + penalty,
                               x.T @ (p - y) + penalty @ w)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def judged(rows: list[dict[str, Any]], scores: np.ndarray) -> dict[str, float | None]:
    """Question-level AUCs of the best score over the passages read, and how often the
    passage scored highest holds the answer."""
    best: dict[str, tuple[float, bool, str]] = {}
    for r, s in zip(rows, scores, strict=True):
        if r["question"] not in best or s > best[r["question"]][0]:
            best[r["question"]] = (float(s), r["holds"], r["kind"])
    out: dict[str, float | None] = {}
    for kind in ("unanswerable", "missing"):
        part = [v for v in best.values() if v[2] in ("answerable", kind)]
        if any(v[2] == kind for v in part):
            out[f"vs_{kind}"] = auc([v[2] == "answerable" for v in part], [v[0] for v in part])
    answered = [v[1] for v in best.values() if v[2] == "answerable"]
    out["best_passage_holds_gold"] = sum(answered) / max(1, len(answered))
    return {k: round(v, 3) if v is not None else None for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", nargs="+", default=[], help="plain QA JSONL to fit on")
    parser.add_argument("--train-squad", type=int, default=0, metavar="N",
                        help="also the first N questions of the reader's SQuAD training "
                        "articles")
    parser.add_argument("--judge", nargs="+", required=True, help="QA JSONL to judge on")
    parser.add_argument("--l2", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    args = parser.parse_args()

    probe, embedder = Probe(), Embedder()
    parts = [load_qa(path) for path in args.train]
    if args.train_squad:
        squad = load_qa(SQUAD)
        train = squad.only_articles(reader_split(squad.articles).train)
        parts.append(QASet(train.source, train.paragraphs,
                           train.questions[:args.train_squad]))
    read = [read_all(probe, qa, embedder) for qa in parts]
    x_train = np.vstack([x for x, _ in read])
    y_train = np.array([r["holds"] for _, rows in read for r in rows], dtype=float)
    judge = {Path(p).stem: read_all(probe, load_qa(p), embedder) for p in args.judge}
    print(f"{len(y_train)} training passages, {int(y_train.sum())} holding the answer",
          file=sys.stderr)
    results: dict[str, Any] = {"shipped reader": {
        name: judged(rows, x[:, 0]) for name, (x, rows) in judge.items()}}
    for name, columns in FEATURES.items():
        z = x_train[:, columns].astype(np.float64)
        mean, scale = z.mean(0), z.std(0) + 1e-6

        def design(x: np.ndarray, columns: list[int] = columns, mean: Any = mean,
                   scale: Any = scale) -> np.ndarray:
            z = (x[:, columns].astype(np.float64) - mean) / scale
            return np.hstack([np.ones((len(z), 1)), z])

        for l2 in args.l2:
            w = fit_logistic(design(x_train), y_train, l2)
            results[f"head on {name}, L2 {l2:g}"] = {
                judge_name: judged(rows, design(x) @ w)
                for judge_name, (x, rows) in judge.items()}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
