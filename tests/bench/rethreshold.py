"""Read an `assistant eval qa --out` report again at other decision thresholds, with no model.

Each row keeps the answer-or-refuse decision's score (`refusal_score`), and the decision is
the last step that can refuse before the answer's checks: an answer the decision let through
is the same whatever the threshold. So a report made with the decision's threshold out of
reach (refusing nothing on its own) gives every threshold's figures: a row whose score
reaches the threshold counts as refused, every other row as it was. That turns one
`eval qa` run of 20 minutes into a whole curve, and compares two adapters at equal false
refusals rather than at whatever their fits chose.

Each report's decision AUC follows its table: how well the score tells each kind of question
the library cannot answer (SQuAD's own unanswerable ones, near misses, answers taken out)
from the answerable ones, a row refused before the decision scoring 1.

With `--weights` the rows are scored again from the inputs they recorded (`evidence`; reports
from 7 December on) with other decision weights, on the very same answers: two decisions
compared without asking again. The shipped decision before the sentence's input is its six
weights and a 0.

Usage:
    .venv/bin/python tests/bench/rethreshold.py REPORT.json [REPORT.json ...] \
        [--at 0.45 0.5 0.55 0.6] [--weights W0,W1,...]

A report made at a reachable threshold is read correctly only at that threshold or above
(rows it refused are refused at every threshold).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assistant.answer import answerability
from assistant.evaluation.qa import QAReport, Row
from assistant.training.reader_metrics import auc


def at_threshold(row: Row, threshold: float) -> Row:
    """The row as it would be had the decision refused from `threshold`."""
    if row.refused or row.refusal_score is None or row.refusal_score < threshold:
        return row
    right = 0.0 if row.answerable else 1.0
    return dataclasses.replace(row, grounding="not_found", exact=right, f1=right,
                               contains=False, refused=True, empty=False, cited_gold=None,
                               not_found_reason="model")


def rescored(row: Row, weights: list[float]) -> Row:
    """The row with its decision's score from `weights` over the inputs it recorded."""
    if row.evidence is None:
        return row
    evidence: dict[str, Any] = dict(row.evidence)
    score = answerability.refusal_score(answerability.Evidence(**evidence), weights)
    return dataclasses.replace(row, refusal_score=round(score, 4))


def rows_of(report: dict[str, Any], weights: list[float] | None = None) -> list[Row]:
    fields = {f.name for f in dataclasses.fields(Row)}
    rows = [Row(**{k: v for k, v in q.items() if k in fields}) for q in report["questions"]]
    return rows if weights is None else [rescored(r, weights) for r in rows]


def decision_auc(rows: list[Row]) -> dict[str, float]:
    """Per kind the library cannot answer: the AUC of the score against answerable rows."""
    def score(r: Row) -> float:
        return 1.0 if r.refusal_score is None else r.refusal_score
    answerable = [r for r in rows if r.answerable]
    out = {}
    for kind in sorted({r.kind for r in rows if not r.answerable}):
        lacking = [r for r in rows if not r.answerable and r.kind == kind]
        value = auc([False] * len(answerable) + [True] * len(lacking),
                    [score(r) for r in answerable + lacking])
        if value is not None:
            out[kind] = value
    return out


def report_at(report: dict[str, Any], threshold: float,
              weights: list[float] | None = None) -> dict[str, Any]:
    return summary_at(report, rows_of(report, weights), threshold)


def summary_at(report: dict[str, Any], rows: list[Row], threshold: float) -> dict[str, Any]:
    """The report's summary with `rows` (`rows_of`) read at `threshold`."""
    again = QAReport(report.get("source", ""), report.get("mode", ""), report.get("settings", {}),
                     [at_threshold(r, threshold) for r in rows])
    return again.summary()


def pct(v: float | None) -> str:
    return "    -" if v is None else f"{100 * v:5.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--at", nargs="+", type=float, default=[0.45, 0.5, 0.55, 0.6, 0.65])
    parser.add_argument("--weights", help="score the rows again with these decision weights "
                        "(comma-separated, as answerability.WEIGHTS)")
    args = parser.parse_args(argv)
    weights = [float(v) for v in args.weights.split(",")] if args.weights else None
    for path in args.reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not any(q.get("refusal_score") is not None for q in report["questions"]):
            print(f"{path}: no row holds the decision's score (an older report, or no "
                  "calibrated decision)", file=sys.stderr)
            return 1
        print(f"{path.name}")
        print("threshold  contains gold  false refusals  unanswerable refused  "
              "taken out refused  citation accuracy")
        rows = rows_of(report, weights)
        for threshold in args.at:
            s = summary_at(report, rows, threshold)
            print(f"  {threshold:5.2f}       {pct(s['contains_gold'])}        "
                  f"{pct(s['false_refusals'])}           {pct(s['correct_refusals'])}"
                  f"            {pct(s['missing_correct_refusals'])}             "
                  f"{pct(s['citation_accuracy'])}")
        print("  decision AUC: " + ", ".join(
            f"{kind} {value:.3f}" for kind, value in decision_auc(rows).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
