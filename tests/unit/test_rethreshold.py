"""An `eval qa` report keeps the decision's score, and tests/bench/rethreshold.py reads it
again at another threshold exactly as a run at that threshold would have counted it."""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.answer.answering import Answer
from assistant.evaluation.qa import QAReport, score
from assistant.training.squad import Question

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import rethreshold

KETTLE = Question("k1", "How long is the kettle's warranty?", ("two years",), ("p1",), "kettle")
SWALLOW = Question("s1", "How fast does a swallow fly?", (), ("p1",), "kettle")


def _answer(text: str, score_: float | None, *, refused: bool = False) -> Answer:
    return Answer(text=text, citations=[], consulted=[], not_found=refused,
                  grounding="not_found" if refused else "answered", refusal_score=score_,
                  not_found_reason="model" if refused else "")


def _report() -> dict:
    rows = [score(KETTLE, _answer("two years", 0.62)),  # right, but a high score
            score(KETTLE, _answer("two years", 0.30)),
            score(SWALLOW, _answer("40 km/h", 0.50)),  # invented; the decision would refuse
            score(SWALLOW, _answer("I couldn't find this in your documents.", None,
                                   refused=True))]  # refused before the decision (retrieval)
    return QAReport("qa.jsonl", "indexed", {}, rows).to_json()


def test_each_row_keeps_the_decisions_score() -> None:
    report = _report()
    assert [q["refusal_score"] for q in report["questions"]] == [0.62, 0.3, 0.5, None]


def test_a_score_at_the_threshold_refuses_and_a_refused_row_stays_refused() -> None:
    report = _report()
    never = rethreshold.report_at(report, 1.01)
    assert never["contains_gold"] == 1.0 and never["false_refusals"] == 0.0
    assert never["correct_refusals"] == 0.5  # only the one refused before the decision
    middle = rethreshold.report_at(report, 0.55)
    assert middle["contains_gold"] == 0.5 and middle["false_refusals"] == 0.5
    assert middle["correct_refusals"] == 0.5
    low = rethreshold.report_at(report, 0.45)
    assert low["correct_refusals"] == 1.0 and low["false_refusals"] == 0.5
    assert low["grounding"] == {"not_found": 3, "answered": 1}


def test_the_script_prints_the_curve_and_refuses_a_report_without_scores(tmp_path, capsys) -> None:
    import json

    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report()), encoding="utf-8")
    assert rethreshold.main([str(path), "--at", "0.45", "0.55"]) == 0
    out = capsys.readouterr().out
    assert "0.45" in out and "0.55" in out and "50.0%" in out
    old = _report()
    for q in old["questions"]:
        q.pop("refusal_score")
    path.write_text(json.dumps(old), encoding="utf-8")
    assert rethreshold.main([str(path)]) == 1
