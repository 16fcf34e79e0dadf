"""Read an `assistant eval qa --out` report again at other decision thresholds, with no model.

Each row keeps the answer-or-refuse decision's score (`refusal_score`), and the decision is
the last step that can refuse before the answer's checks: an answer the decision let through
is the same whatever the threshold. So a report made with the decision's threshold out of
reach (refusing nothing on its own) gives every threshold's figures: a row whose score
reaches the threshold counts as refused, every other row as it was. That turns one
`eval qa` run of 20 minutes into a whole curve, and compares two adapters at equal false
refusals rather than at whatever their fits chose.

Usage:
    .venv/bin/python tests/bench/rethreshold.py REPORT.json [REPORT.json ...] \
        [--at 0.45 0.5 0.55 0.6]

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

from assistant.evaluation.qa import QAReport, Row


def at_threshold(row: Row, threshold: float) -> Row:
    """The row as it would be had the decision refused from `threshold`."""
    if row.refused or row.refusal_score is None or row.refusal_score < threshold:
        return row
    right = 0.0 if row.answerable else 1.0
    return dataclasses.replace(row, grounding="not_found", exact=right, f1=right,
                               contains=False, refused=True, empty=False, cited_gold=None,
                               not_found_reason="model")


def report_at(report: dict[str, Any], threshold: float) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(Row)}
    rows = [Row(**{k: v for k, v in q.items() if k in fields}) for q in report["questions"]]
    again = QAReport(report.get("source", ""), report.get("mode", ""), report.get("settings", {}),
                     [at_threshold(r, threshold) for r in rows])
    return again.summary()


def pct(v: float | None) -> str:
    return "    -" if v is None else f"{100 * v:5.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--at", nargs="+", type=float, default=[0.45, 0.5, 0.55, 0.6, 0.65])
    args = parser.parse_args(argv)
    for path in args.reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not any(q.get("refusal_score") is not None for q in report["questions"]):
            print(f"{path}: no row holds the decision's score (an older report, or no "
                  "calibrated decision)", file=sys.stderr)
            return 1
        print(f"{path.name}")
        print("threshold  contains gold  false refusals  unanswerable refused  "
              "taken out refused  citation accuracy")
        for threshold in args.at:
            s = report_at(report, threshold)
            print(f"  {threshold:5.2f}       {pct(s['contains_gold'])}        "
                  f"{pct(s['false_refusals'])}           {pct(s['correct_refusals'])}"
                  f"            {pct(s['missing_correct_refusals'])}             "
                  f"{pct(s['citation_accuracy'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
