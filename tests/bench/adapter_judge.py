"""Another adapter as a judge only: its refusal probability on the recorded answers' passages,
alone and as one more input of the answer-or-refuse decision.

An adapter whose answers are not shipped may still judge better than the shipped one
(tests/bench/ANSWER_QUALITY.md, "The retrained adapter as a judge only"). Each recorded row of
tests/bench/decision_rows keeps its question and passages; the prompt is rebuilt from them
(the passages labelled "passage n", so the shipped adapter's probability comes within a few
hundredths of the recorded one) and read once by the model with ADAPTER, as the app reads its
own (`answerability.judge`). The decision is then refitted with that probability's logit as a
sixth input (`calibrate_strictness.py`'s fit, same rows and folds) and compared with the
shipped fit. About 1.4 s a row on 2 threads (429 rows: 10 minutes).

With `--squad ROWS` (rows recorded by `calibrate_strictness.py --out` on SQuAD questions
with their own unanswerable ones, which the shipped rows leave out), it also reports how well
each refusal probability, and each decision fitted on the shipped rows, tells SQuAD's
adversarial unanswerable questions from the answerable ones of those rows (the answerable
ones may also be in the shipped rows, so the decisions' figure there is not fully held out).

Usage:
    .venv/bin/python tests/bench/adapter_judge.py models/training/grounded-3600.gguf \
        [--limit N] [--threads N] [--squad ROWS] [--out judged.json | --judged judged.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import calibrate_strictness as cs  # noqa: E402

from assistant.training.reader_metrics import auc  # noqa: E402

SETS = (("cal_rows", False), ("plain_rows", True), ("plain_missing", False))


def load_squad(path: str, limit: int | None) -> list[dict[str, Any]]:
    """Answerable and SQuAD-unanswerable rows of another recording (taken-out ones left)."""
    rows = []
    for row in json.loads(Path(path).read_text())["rows"][:limit]:
        row["_key"] = f"squad:{row['id']}:{row['kind']}"
        row["_set"] = "squad"
        if row["answerable"] or row.get("kind") != "missing":
            rows.append(row)
    return rows


def load_rows(limit: int | None) -> list[dict[str, Any]]:
    """The rows the shipped decision is fitted on, as `calibrate_strictness.py` pools them
    (--absent plain_rows, --refusals missing): SQuAD's unanswerable questions left out."""
    rows = []
    for name, absent in SETS:
        for row in json.loads((HERE / "decision_rows" / f"{name}.json").read_text())["rows"][
                :limit]:
            row["_key"] = f"{name}:{row['id']}:{row['kind']}"
            row["_set"] = name
            if absent and not row["answerable"]:
                row["kind"] = "missing"
            if row["answerable"] or row.get("kind") == "missing":
                rows.append(row)
    return rows


def judge_rows(rows: list[dict[str, Any]], adapter: str, threads: int | None
               ) -> dict[str, float | None]:
    from assistant.answer import answerability
    from assistant.answer.answering import NOT_FOUND_TEXT
    from assistant.answer.prompt import ANSWER_MARGIN, build_prompt
    from assistant.cli.models import make_generator
    from assistant.settings import Settings

    settings = Settings()
    values = dict(settings.values, **({"threads": threads} if threads else {}))
    generator = make_generator(argparse.Namespace(model=None, lora=adapter, lora_scale=None),
                               values)
    out: dict[str, float | None] = {}
    started = time.monotonic()
    for i, row in enumerate(rows):
        hits = cs.row_hits(row)
        if not hits:
            continue
        prompt = build_prompt(row["question"], hits, None, generator,
                              generator.n_ctx - 256 - ANSWER_MARGIN)
        judged = answerability.judge(generator, prompt.text, NOT_FOUND_TEXT)
        out[row["_key"]] = None if judged is None else judged.refusal_probability
        if (i + 1) % 50 == 0:
            print(f"{i + 1} of {len(rows)} rows, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def report(rows: list[dict[str, Any]], judged: dict[str, float | None],
           squad: list[dict[str, Any]] | None = None) -> None:
    for row in [*rows, *(squad or [])]:
        row["_judge"] = judged.get(row["_key"])
    print(f"{len(rows)} rows, {sum(r['_judge'] is not None for r in rows)} judged")
    for name, _ in SETS:
        part = [r for r in rows if r["_set"] == name and r["refusal_probability"] is not None
                and r["_judge"] is not None]
        labels = [not r["answerable"] for r in part]
        if len(set(labels)) == 2:
            shipped = auc(labels, [r["refusal_probability"] for r in part])
            other = auc(labels, [r["_judge"] for r in part])
            print(f"{name}: refusal probability AUC, shipped adapter {shipped:.3f}, "
                  f"judge {other:.3f} ({len(part)} rows)")
    cs.WITH_READER = True
    labels = [not r["answerable"] for r in rows]
    shipped_scores = cs.scores(rows)
    base = cs.row_features
    cs.row_features = lambda row, e: [*base(row, e), _logit(row["_judge"])
                                      if row["_judge"] is not None else 0.0]
    judged_scores = cs.scores(rows)
    print(f"decision, cross-validated AUC: shipped inputs {auc(labels, shipped_scores):.4f}, "
          f"with the judge {auc(labels, judged_scores):.4f}; weights with the judge "
          f"{cs.fit(rows)}")
    print("threshold  shipped: correct refusals / false refusals / contains gold   "
          "with the judge")
    for a, b in zip(cs.curve(rows, shipped_scores), cs.curve(rows, judged_scores),
                    strict=True):
        print(f"  {a['threshold']:.2f}     {a['correct_refusals']:6.1%} / "
              f"{a['false_refusals']:6.1%} / {a['contains_gold']:6.1%}"
              f"          {b['correct_refusals']:6.1%} / {b['false_refusals']:6.1%} / "
              f"{b['contains_gold']:6.1%}")
    if squad:
        part = [r for r in squad if cs.evidence(r) is not None and r["_judge"] is not None]
        labels = [not r["answerable"] for r in part]
        print(f"SQuAD's unanswerable against answerable ({len(part)} rows: "
              f"{sum(labels)} unanswerable): refusal probability AUC, shipped adapter "
              f"{auc(labels, [r['refusal_probability'] for r in part]):.3f}, judge "
              f"{auc(labels, [r['_judge'] for r in part]):.3f}")
        with_judge = cs.row_features
        cs.row_features = base
        shipped = cs.scores(part, cs.fit(rows))
        cs.row_features = with_judge
        other = cs.scores(part, cs.fit(rows))
        print(f"  the decisions fitted on the rows above: shipped inputs "
              f"{auc(labels, shipped):.3f}, with the judge {auc(labels, other):.3f}")
    cs.row_features = base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("adapter", help="the adapter judging (a GGUF LoRA file)")
    parser.add_argument("--limit", type=int, help="rows per file (a quick check)")
    parser.add_argument("--threads", type=int, help="model threads (default: the setting)")
    parser.add_argument("--squad", help="rows with SQuAD's own unanswerable questions")
    parser.add_argument("--out", help="also write the judged probabilities here")
    parser.add_argument("--judged", help="read judged probabilities written by --out instead")
    args = parser.parse_args()
    rows = load_rows(args.limit)
    squad = load_squad(args.squad, args.limit) if args.squad else []
    judged = json.loads(Path(args.judged).read_text()) if args.judged else {}
    todo = [r for r in [*rows, *squad] if r["_key"] not in judged]
    if todo:  # what an earlier --out already holds is not read again
        judged.update(judge_rows(todo, args.adapter, args.threads))
        if args.out:
            Path(args.out).write_text(json.dumps(judged))
    report(rows, judged, squad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
