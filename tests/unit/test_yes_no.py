"""A question asking yes or no is answered with the sentence that says so (`yes_no`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from answer_helpers import WrongAnswer

from assistant.answer import answer_question
from assistant.answer.yes_no import (
    answer_at,
    answering_sentence,
    asks_yes_or_no,
    sentence_spans,
)


def _hits(text: str) -> list:
    from assistant.search import Hit

    return [Hit(1, 1, "/docs/tenancy.txt", None, 0, len(text), text, 1.0, 0.8, 1, 1)]


@pytest.mark.parametrize("question", [
    "Can we have a dog in the flat?",
    "Do I have to pay for water separately?",
    "We paid the rent ten days late this month - is there a penalty?",
    "If I volunteer to marshal the race, do I get anything?",
    "The club pays for the course; is there a catch?",
    "Isn't the battery covered as long as the rest?",
    "Were the centers profitable",
    "Does the warranty still apply or not?",
    "And does it come with a charger?",
])
def test_questions_asking_yes_or_no(question: str) -> None:
    assert asks_yes_or_no(question)


@pytest.mark.parametrize("question", [
    "What is the rent?",
    "How long is the warranty?",
    "Is the deposit paid by card or by transfer?",  # a choice: answered by the choice
    "Is there a daily allowance for trips abroad, and how much is it?",
    "Who is the landlord?",
    "When the hotline is closed, whom do I call?",
    "Island ferries: which one leaves first?",  # "Is" only as part of a word
    "",
])
def test_questions_asking_for_something_else(question: str) -> None:
    assert not asks_yes_or_no(question)


TENANCY = ("4. Pets and parking\n\nTenants may keep one small dog under 10 kg with the "
           "landlord's written consent. Cats are not allowed. The flat comes with bay 14 in "
           "the rear car park.\nWater is included in the rent; electricity is billed "
           "separately at 1.6 times the standing rate.")


def test_the_sentence_answering_is_the_one_sharing_the_questions_words() -> None:
    def answering(question: str, words: str = "") -> str | None:
        at = answer_at(words, TENANCY)
        found = answering_sentence(question, [TENANCY], {1: at} if at else None)
        return None if found is None else TENANCY[found[1]:found[2]]

    dog = "Tenants may keep one small dog under 10 kg with the landlord's written consent."
    water = ("Water is included in the rent; electricity is billed separately at 1.6 times "
             "the standing rate.")  # a line is a sentence; "1.6 times" goes on
    assert answering("Are cats allowed?") == "Cats are not allowed."
    assert answering("Can we keep a cat?", "10 kg") == "Cats are not allowed."
    assert answering("Do we pay for water on top of the rent?", "no") == water
    # "flat" names the parking sentence, "dog" the other: the answer's words decide
    assert answering("Can we have a dog in the flat?", "10 kg") == dog
    assert answering("Can we have a dog in the flat?", "yes") != dog  # no words to go by
    assert answering("Is a parrot fine?") is None  # nothing shared: no sentence
    assert answering("Is parking included? Pets and parking") != "4. Pets and parking"
    assert answer_at("No", TENANCY) is None and answer_at("10 KG", TENANCY) is not None


def test_the_sentence_is_found_in_whichever_passage_says_it() -> None:
    other = "Pets\n\nA second dog needs the landlord's consent in writing."
    n, a, b = answering_sentence("Can we have a second dog?", [TENANCY, other])
    assert (n, other[a:b]) == (2, "A second dog needs the landlord's consent in writing.")
    n, a, b = answering_sentence("Are cats allowed?", [other, TENANCY])
    assert (n, TENANCY[a:b]) == (2, "Cats are not allowed.")


def test_sentences_run_across_a_pdfs_line_breaks_but_not_across_items() -> None:
    text = ("1. Warranty\n\nThe warranty covers the kettle body, the lid mechanism, the power "
            "base and the\ntemperature sensor. It holds 1.6 litres!\n- one item\n- another\n"
            "| Term | Value |\n")
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "1.", "Warranty",
        "The warranty covers the kettle body, the lid mechanism, the power base and the\n"
        "temperature sensor.", "It holds 1.6 litres!", "- one item", "- another",
        "| Term | Value |"]


def test_a_pasted_page_is_read_only_as_far_as_a_question_goes() -> None:
    started = time.perf_counter()
    assert not asks_yes_or_no("Can I? " + "x, " * 100_000)
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_a_yes_or_no_question_gets_the_sentence_not_the_phrase(default_gguf: Path) -> None:
    """The model's phrase "10 kg" is supported by its passage and passes every check, but it
    answers "How heavy may the dog be?", not "Can we have a dog?": for that, the answer is
    the passage's sentence, quoted, cited and marked where it stands."""
    from assistant.llm import Generator

    hits = _hits(TENANCY)
    with Generator(default_gguf, n_ctx=2048) as generator:
        asked = answer_question("Can we have a dog in the flat?", retriever=lambda q, k: hits,
                                generator=WrongAnswer(generator, "10 kg [1]"))
        how_heavy = answer_question("How heavy may our dog be at most?",
                                    retriever=lambda q, k: hits,
                                    generator=WrongAnswer(generator, "10 kg [1]"))
    sentence = ("Tenants may keep one small dog under 10 kg with the landlord's written "
                "consent.")
    assert asked.grounding == "quoted" and asked.text == f"\u201c{sentence}\u201d [1]"
    assert asked.quote is not None and asked.span is not None
    assert TENANCY[asked.quote.start:asked.quote.end] == sentence == asked.span.text
    assert [c.hit for c in asked.citations] == hits and asked.unsupported == ["10 kg [1]"]
    assert how_heavy.text == "10 kg [1]" and how_heavy.grounding == "answered"
