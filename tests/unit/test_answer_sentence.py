"""The sentence an answer came from, and the shipped reader's view of it read alone."""

from __future__ import annotations

import pytest

from assistant.answer import answerability
from assistant.answer.answer_sentence import UNPLACED, sentence_probability, source_sentence
from assistant.answer.reader import Reader
from assistant.search import Hit

MANUAL = ("Charging cables\n"
          "Type 2 charging cable (5 m): part number KV-T2-5M32, for public chargers and "
          "wallboxes.\n"
          "Three-pin charging cable (granny lead, 8 A): part number KV-3P-8A10, for a household "
          "socket.\n"
          "Store cables dry and uncoiled. Never use an extension lead.")
OTHER = "Warranty: the charging cables are covered for two years from delivery."


def hit(text: str, n: int = 0) -> Hit:
    return Hit(n, n, f"/docs/doc{n}.txt", None, 0, len(text), text, 0.0, 0.5, 1, 1)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(threads=1)


def test_the_answer_comes_from_the_line_holding_its_words() -> None:
    hits = [hit(MANUAL)]
    assert source_sentence("KV-3P-8A10 [1]", hits) == (
        "Three-pin charging cable (granny lead, 8 A): part number KV-3P-8A10, for a household "
        "socket.")
    # a line break ends a sentence: the heading is not part of the first item
    assert (source_sentence("“KV-T2-5M32” [1]", hits) or "").startswith("Type 2 charging cable")
    assert source_sentence("Never use an extension lead.", hits) == "Never use an extension lead."


def test_the_cited_passage_is_searched_first_then_the_others() -> None:
    hits = [hit(OTHER, 0), hit(MANUAL, 1)]
    assert source_sentence("two years [1]", hits) == OTHER  # only the first holds it
    assert (source_sentence("KV-T2-5M32 [1]", hits) or "").startswith("Type 2")  # cited 1, found in 2
    # not in a row anywhere: the cited passage's sentence sharing the most words
    assert (source_sentence("The lead plugs into a household socket [2]", hits) or ""
            ).startswith("Three-pin")


def test_an_answer_with_no_sentence_of_its_own(reader: Reader) -> None:
    hits = [hit(MANUAL)]
    assert source_sentence("Napoleon Bonaparte [1]", hits) is None
    assert sentence_probability(reader, "Who?", "Napoleon Bonaparte [1]", hits) == UNPLACED
    # nothing to place ("Yes"): the passages' best probability stands for it in the decision
    assert sentence_probability(reader, "Is it dry?", "Yes. [1]", hits) is None
    assert source_sentence("KV-3P-8A10", []) is None


def test_the_reader_prefers_the_sentence_about_what_was_asked(reader: Reader) -> None:
    """A near miss: the part number answered from the other cable's line scores lower than
    the right line's, for each cable asked about."""
    hits = [hit(MANUAL)]
    three_pin = "What's the part number for the three-pin charging cable?"
    type_2 = "What's the part number for the Type 2 charging cable?"
    right = sentence_probability(reader, three_pin, "KV-3P-8A10 [1]", hits)
    wrong = sentence_probability(reader, three_pin, "KV-T2-5M32 [1]", hits)
    assert right is not None and wrong is not None and right > wrong + 0.05
    right = sentence_probability(reader, type_2, "KV-T2-5M32 [1]", hits)
    wrong = sentence_probability(reader, type_2, "KV-3P-8A10 [1]", hits)
    assert right is not None and wrong is not None and right > wrong


def test_the_decision_weighs_the_sentence_against_the_answer() -> None:
    """A doubtful sentence raises the refusal score; without one the best passage stands in."""
    sure = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, 0.6)
    doubted = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, 0.05)
    unplaced = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, None)
    assert answerability.refusal_score(doubted) > answerability.refusal_score(sure)
    assert answerability.refusal_score(unplaced) == answerability.refusal_score(sure)
    assert len(answerability.features(sure)) == len(answerability.WEIGHTS)
