"""An `eval qa` report keeps the decision's score, and tests/bench/rethreshold.py reads it
again at another threshold exactly as a run at that threshold would have counted it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

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


def _report() -> dict[str, Any]:
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


def test_the_script_prints_the_curve_and_refuses_a_report_without_scores(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


def test_a_report_is_scored_again_with_other_weights_from_the_evidence_it_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rows keep the decision's inputs, so other weights give their own scores on the
    same answers; the shipped weights give back the recorded score; the decision's AUC per
    kind follows each table."""
    import dataclasses
    import json

    from assistant.answer import answerability

    sure = answerability.Evidence(0.05, 0.7, -0.1, 1.0, 0.9, 0.8)
    unsure = answerability.Evidence(0.6, 0.3, -2.0, 0.4, 0.2, 0.1)

    def answered(text: str, evidence: answerability.Evidence) -> Answer:
        return dataclasses.replace(_answer(text, answerability.refusal_score(evidence)),
                                   evidence=evidence)

    report = QAReport("qa.jsonl", "indexed", {}, [
        score(KETTLE, answered("two years", sure)),
        score(SWALLOW, answered("40 km/h", unsure))]).to_json()
    assert report["questions"][0]["evidence"]["sentence_probability"] == 0.8
    shipped = rethreshold.rows_of(report, list(answerability.WEIGHTS))
    assert [r.refusal_score for r in shipped] == [q["refusal_score"] for q in report["questions"]]
    assert rethreshold.decision_auc(shipped) == {"unanswerable": 1.0}
    backwards = [-w for w in answerability.WEIGHTS]  # refuses the sure answer, keeps the other
    assert rethreshold.decision_auc(rethreshold.rows_of(report, backwards)) == {
        "unanswerable": 0.0}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    assert rethreshold.main([str(path), "--at", "0.5",
                             "--weights", ",".join(str(w) for w in backwards)]) == 0
    out = capsys.readouterr().out
    assert "decision AUC: unanswerable 0.000" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("0.50"))
    assert line.split()[1:4] == ["0.0%", "100.0%", "0.0%"]  # the right answer refused, the
    # invented one kept
