"""Passage focus: the model reads the sentences that bear on the question, in their order."""

from __future__ import annotations

from assistant.answer.focus import ELLIPSIS, focus
from assistant.training.data import format_example_prompt

HANDBOOK = (
    "The Zephyr X200 kettle was introduced in 2019 as the company's flagship model. "
    "It has a 1.7 litre capacity and a stainless steel body that resists limescale. "
    "Customers praised its quiet boil and the blue light that shows it is heating. "
    "The guarantee on the Zephyr X200 kettle lasts 27 months from the date of purchase. "
    "Claims need the original receipt and the serial number printed under the base. "
    "The kettle should be descaled every month in areas with hard water. "
    "Replacement lids are sold separately through the service centre in Leeds. "
    "The model was discontinued in 2024 and replaced by the Zephyr X300.")


def test_long_passage_keeps_the_answer_sentence_within_the_budget() -> None:
    shown = focus("How long is the guarantee on the Zephyr X200 kettle?", HANDBOOK, 40)
    assert "27 months" in shown
    assert len(shown.split()) <= 40
    assert ELLIPSIS in shown
    # Sentences keep their original order.
    kept = [s for s in shown.split(f" {ELLIPSIS}") if s.strip(f" {ELLIPSIS}")]
    positions = [HANDBOOK.index(s.strip(f" {ELLIPSIS}")) for s in kept]
    assert positions == sorted(positions)


def test_another_question_focuses_on_other_sentences() -> None:
    shown = focus("Where are replacement lids sold?", HANDBOOK, 30)
    assert "Leeds" in shown and "27 months" not in shown


def test_short_passage_and_zero_budget_are_left_whole() -> None:
    short = "The guarantee lasts 27 months."
    assert focus("How long is the guarantee?", short) == short
    assert focus("How long is the guarantee?", HANDBOOK, 0) == " ".join(HANDBOOK.split())


def test_training_examples_focus_their_sources_like_answers() -> None:
    prompt = format_example_prompt("Where are replacement lids sold?", [HANDBOOK])
    assert focus("Where are replacement lids sold?", HANDBOOK) in prompt
