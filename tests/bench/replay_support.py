"""Replay recorded answers through the steps after generation, in seconds, with no model.

Rows recorded by `calibrate_strictness.py` (tests/bench/decision_rows) keep each answer's
passages and the model's own words. Everything after generation (the support check with the
reader's spans, the reader's overrule, the checks on the kind of answer, the yes-or-no
sentence) is replayed here with the code as it is now, so a change to those steps is judged
on hundreds of answers in half a minute instead of an `eval qa` run of many minutes. The
decision to refuse comes before these steps and is not replayed: questions refused by
retrieval, the reader or the decision stay refused.

It also gives the ceiling of choosing between the model's answer and the reader's span: how
often either holds a gold answer, and how often each does where the other does not.

Usage:
    .venv/bin/python tests/bench/replay_support.py tests/bench/decision_rows/cal_rows.json \
        tests/bench/decision_rows/plain_rows.json [--reader DIR]

The steps are `answering.checked_answer`, the ones `answer_question` runs. On 6 December
(night), with the shipped code, it reproduced 344 of the 346 recorded answers of
cal_rows.json and plain_rows.json (the two others differ in a quote's length).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate_strictness import row_hits

from assistant.answer import answerability, answering
from assistant.answer.citations import MARKER_GROUP, Citation
from assistant.answer.reader import Reader, Reading
from assistant.evaluation.qa import answer_text, holds_answer, holds_gold
from assistant.search import Hit

REFUSED_BEFORE = ("retrieval", "model", "reader")  # not_found reasons decided before


def model_words(row: dict[str, Any]) -> str:
    """What the model wrote: its words where the answer shown is a quote or a refusal."""
    if row["grounding"] in ("quoted", "not_found") and row.get("unsupported"):
        return str(row["unsupported"][0])
    return str(row["answer_raw"])


def replay(row: dict[str, Any], reader: Reader) -> tuple[answering.Answer | None, list[Hit],
                                                          dict[int, Reading]]:
    """The answer the steps after generation give now (None: refused before them, or by the
    model in its own words)."""
    hits = row_hits(row)
    if not hits or (row["grounding"] == "not_found"
                    and row.get("not_found_reason") in REFUSED_BEFORE):
        return None, hits, {}
    read = reader.read(row["question"], [h.text for h in hits])
    readings = {id(h): r for h, r in zip(hits, read, strict=True)}

    def done(text: str, citations: list[Citation], grounding: answering.Grounding,
             **extra: Any) -> answering.Answer:
        return answering.Answer(text=text, citations=citations, consulted=hits,
                                not_found=False, grounding=grounding, **extra)

    words = model_words(row)
    if answering._is_refusal(words):  # the model refused in its own words
        return None, hits, readings
    return answering.checked_answer(row["question"], words, hits, readings, done,
                                    level=answerability.strictness(None)), hits, readings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="recorded rows (calibrate_strictness --out)")
    parser.add_argument("--reader", metavar="DIR", help="another reader (default: shipped)")
    parser.add_argument("--outcomes", metavar="JSON", type=Path,
                        help="write each row's replayed answer here, to compare two versions "
                        "of the checks row by row")
    args = parser.parse_args(argv)
    outcomes: list[dict[str, Any]] = []
    reader = Reader(Path(args.reader)) if args.reader else Reader()
    for path in args.rows:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))["rows"]
        same = answerable = holds = cited = cited_right = refusals = refused = quoted = 0
        model = span = either = model_only = span_only = read = 0
        for row in rows:
            answer, hits, readings = replay(row, reader)
            refused_now = answer is None or answer.grounding == "not_found"
            same += (answer is None and row["grounding"] == "not_found") or \
                (answer is not None and answer.text == row["answer_raw"])
            quoted += not refused_now and answer is not None and answer.grounding == "quoted"
            said = "" if answer is None else answer_text(answer)
            outcomes.append({
                "rows": Path(path).name, "id": row["id"], "question": row["question"],
                "kind": row["kind"], "refused": refused_now,
                "reason": answer.not_found_reason if answer is not None else "before",
                "answer": said,
                "holds_gold": bool(not refused_now and row["gold"]
                                   and holds_gold(said, row["gold"]))})
            if row["kind"] != "answerable":
                refusals += 1
                refused += refused_now
                continue
            answerable += 1
            if answer is not None and not refused_now:
                holds += holds_gold(answer_text(answer), row["gold"])
                if answer.citations:
                    cited += 1
                    cited_right += any(holds_answer(c.hit.text, row["gold"])
                                       for c in answer.citations)
            if readings:  # the ceiling: the model's words against the reader's best span
                best = max(hits, key=lambda h: readings[id(h)].probability)
                m = holds_gold(MARKER_GROUP.sub("", model_words(row)), row["gold"])
                s = holds_gold(readings[id(best)].span(best.text), row["gold"])
                model, span, either = model + m, span + s, either + (m or s)
                read += 1
                model_only, span_only = model_only + (m and not s), span_only + (s and not m)
        print(f"{Path(path).name}: {same} of {len(rows)} answers as recorded")
        print(f"  answerable: {holds} of {answerable} hold a gold answer; citations right "
              f"{cited_right} of {cited}; quoted answers {quoted} (all questions)")
        if refusals:
            print(f"  not answerable here: {refused} of {refusals} refused")
        print(f"  ceiling, over the {read} answerable questions not refused before the model wrote: "
              f"the model's words hold gold {model}, the reader's best span {span}, either "
              f"{either} (the model only {model_only}, the span only {span_only})")
    if args.outcomes:
        args.outcomes.write_text(json.dumps(outcomes, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
