"""A question about what is not so is answered only from a passage that says something is not
so beside the answer (`assistant.answer.negation`). Passages are the kettle handbook's and the
held-out SQuAD articles' own sentences that the grounded model answered from."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from answer_helpers import grounded_generator

from assistant.answer import answer_question
from assistant.answer.negation import negates, unmet

WARRANTY = (
    "Brightwater Appliances guarantees that the Zephyr X200 is free from defects in materials "
    "and workmanship. The warranty covers the kettle body, the lid mechanism, the power base "
    "and the temperature sensor, and includes parts and labour.\n"
    "The warranty does not cover damage caused by limescale, by dropping the kettle, by heating "
    "it empty on a gas hob or by repairs carried out by anyone other than an authorised "
    "Brightwater service partner. Filters and seals are wear parts.")
DESCALING = (
    "After descaling, empty the kettle, rinse it three times with fresh water and boil one full "
    "kettle of clean water that you then pour away. Never use vinegar on the lid seal, because "
    "it hardens the rubber and makes the lid leak over time.")
INQUIRY = (
    "Three years later in 1917, he was appointed to then President Woodrow Wilson's inquiry in "
    "1917. The inquiry was the idea of President Wilson and the American delegation from the "
    "Paris Peace Conference.")
GERMANIC = (
    "Although by 1000 CE, the Germanic conquest of central, western, and southern Europe (west "
    "of and including Italy) was complete, excluding only Muslim Iberia.")


@pytest.mark.parametrize(("question", "negating"), [
    ("Who did the geographic scholars not work for?", True),
    ("What damage doesn't the warranty cover?", True),
    ("What doesn’t the warranty cover?", True),  # a typographic apostrophe
    ("Which parts can never be washed in a dishwasher?", True),
    ("What cannot be put in household waste?", True),
    ("Is the filter covered or not?", False),  # a yes-or-no form, not a negated answer
    ("Whether or not it is covered, who pays for shipping?", False),
    ("Which drinks does the keep-warm function suit, not only tea?", False),
    ("What does the warranty cover?", False),
    ("Who nominated the knotweed expert?", False),  # "not" inside words
])
def test_which_questions_ask_about_what_is_not_so(question: str, negating: bool) -> None:
    assert negates(question) is negating


@pytest.mark.parametrize(("question", "answer", "passages", "refused"), [
    # the passage says what is not covered: answered
    ("What damage does the warranty not cover?", "damage caused by limescale", [WARRANTY],
     False),
    # only what is covered: the positive fact is not the answer
    ("Which part does the warranty not cover?", "the lid mechanism",
     [WARRANTY.split("\n")[0]], True),
    # a written answer is found by the words it shares with its sentence
    ("Which part does the warranty not cover?", "The warranty does not cover the lid.",
     [WARRANTY.split("\n")[0]], True),
    # the reason stands in the sentence after the warning: the window holds both
    ("Why should I not use vinegar on the lid seal?", "it hardens the rubber", [DESCALING],
     False),
    ("Who did the geographic scholars not work for?", "President Wilson", [INQUIRY], True),
    ("What was the only region in Europe not conquered by the Germanic tribes?",
     "Muslim Iberia", [GERMANIC], False),  # "excluding" negates
    # one cited passage that says it is enough
    ("Who did the geographic scholars not work for?", "President Wilson",
     [INQUIRY, "President Wilson did not hire the geographers of the Society."], False),
    # a question that does not negate is never held back
    ("Who had the idea of the inquiry?", "President Wilson", [INQUIRY], False),
    # an answer none of whose words are in the passage: the passage is read whole
    ("What does the warranty not include?", "shipping", [WARRANTY], False),
])
def test_an_answer_to_what_is_not_so_needs_a_negation_beside_it(
        question: str, answer: str, passages: list[str], refused: bool) -> None:
    assert unmet(question, answer, passages) is refused


def test_a_pasted_page_is_read_in_linear_time() -> None:
    """A question of 200,000 characters is read only to QUESTION_CHARS, and a passage of
    200,000 characters without a full stop is one sentence read once."""
    started = time.perf_counter()
    assert not unmet("x" * 200_000 + " not?", "a", ["a b"])
    assert unmet("What is not " + "x" * 200_000, "b", ["b " * 100_000])
    assert time.perf_counter() - started < 10  # a backtracking pattern took minutes


@pytest.mark.slow
def test_what_the_handbook_says_is_not_so_is_answered_and_what_it_never_denies_is_refused(
        indexed, default_gguf: Path) -> None:
    """The real grounded model on the real handbook: "does not cover" stands beside the
    answer, so it is answered; the handbook says only what the keep-warm function suits
    ("green tea and instant coffee"), so what it does not suit is not in the documents."""
    with grounded_generator(default_gguf) as generator:
        covered = answer_question("What damage does the Zephyr X200 warranty not cover?",
                                  retriever=lambda q, k: indexed.search(q, k),
                                  generator=generator)
        unsuited = answer_question("Which drinks does the keep-warm function not suit?",
                                   retriever=lambda q, k: indexed.search(q, k),
                                   generator=generator)
    assert not covered.not_found and "limescale" in covered.text.lower()
    assert unsuited.not_found and unsuited.not_found_reason == "negation"
