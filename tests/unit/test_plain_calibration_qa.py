"""The generated plain documents: tests/data/qa/plain_calibration.jsonl, which the
answer-or-refuse decision is fitted on beside SQuAD, plain_training.jsonl and
plain_training2.jsonl, which the reader trains on, plain_training3.jsonl (7 December, 24
more, for the next reader and adapter), plain_training4.jsonl (7 December, 24 more, not
yet in an adapter), plain_training5.jsonl and plain_training6.jsonl (7 December, 24 more each: the latter office
documents such as a sales export, an e-mail thread, slide notes, a quotation; not yet trained
on), plain_training7.jsonl (7 December, 24 more: a claim letter, a gym's terms, a plumber's
invoice, a course handbook's assessment table, ...; not yet trained on), and plain_heldout.jsonl and plain_heldout2.jsonl (7 December, 24 more),
never fitted on (they judge both); each kept apart from the others and from the documents the product is
judged on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QA = Path(__file__).parents[1] / "data" / "qa"


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (QA / name).read_text(encoding="utf-8").splitlines()
            if line.strip()]


# Every generated set fitted on, against what judges it: our own documents, the calibration
# set (which the decision is fitted on, so the training sets must not share it), both
# held-out sets and each training set before it.
_TRAINING = ["plain_training.jsonl"] + [f"plain_training{n}.jsonl" for n in range(2, 8)]
_JUDGED = ["own_documents.jsonl", "plain_heldout.jsonl", "plain_heldout2.jsonl"]
_PAIRS = ([("plain_calibration.jsonl", judged) for judged in _JUDGED]
          + [(fitted, judged) for k, fitted in enumerate(_TRAINING)
             for judged in [*_JUDGED, "plain_calibration.jsonl", *_TRAINING[:k]]]
          + [("plain_heldout.jsonl", "plain_heldout2.jsonl")])


@pytest.mark.parametrize("name", ["plain_calibration.jsonl", *_TRAINING,
                                  "plain_heldout.jsonl", "plain_heldout2.jsonl"])
def test_each_gold_answer_is_in_its_document_and_each_question_is_asked_once(name: str) -> None:
    from assistant.evaluation.qa import holds_answer
    from assistant.training.squad import load_qa

    qa = load_qa(QA / name)
    answerable = [q for q in qa.questions if q.answerable]
    assert len(answerable) >= 80 and len(qa.questions) - len(answerable) >= 40
    assert len({q.id for q in qa.questions}) == len(qa.questions)
    assert len({" ".join(q.question.lower().split()) for q in qa.questions}) == len(qa.questions)
    for q in answerable:
        assert any(holds_answer(qa.paragraphs[p].text, q.answers) for p in q.paragraph_ids), q.id


@pytest.mark.parametrize("fitted, judged", _PAIRS)
def test_generated_documents_share_nothing_with_those_they_are_judged_on(fitted: str,
                                                                         judged: str) -> None:
    """Fitting on passages or questions of own_documents.jsonl (or on its product, company or
    place names) would make its figures a measure of the fit, not of the product; and the
    decision is fitted on answers to documents the reader never trained on."""
    plain = _lines(fitted)
    judged_lines = _lines(judged)
    plain_passages = {" ".join(c.split()) for line in plain for c in line["contexts"]}
    judged_passages = {" ".join(c.split()) for line in judged_lines for c in line["contexts"]}
    assert not plain_passages & judged_passages
    assert not {line["question"] for line in plain} & {line["question"] for line in judged_lines}
    text = " ".join(plain_passages).lower()
    if judged in ("own_documents.jsonl", "plain_heldout.jsonl", "plain_heldout2.jsonl"):
        for name in ("brightwater", "zephyr", "harbor analytics", "riverside", "oakridge"):
            assert name not in text
