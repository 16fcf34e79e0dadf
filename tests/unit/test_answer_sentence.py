"""The sentence an answer came from, and the shipped reader's view of it read alone."""

from __future__ import annotations

import pytest

from assistant.answer import answerability
from assistant.answer.answer_sentence import (
    UNPLACED,
    sentence_probability,
    source_sentence,
    source_window,
)
from assistant.answer.reader import Reader
from assistant.search import Hit

MANUAL = ("Charging cables\n\n"
          "- Type 2 charging cable (5 m): part number KV-T2-5M32, for public chargers and "
          "wallboxes.\n"
          "- Three-pin charging cable (granny lead, 8 A): part number KV-3P-8A10, for a "
          "household socket.\n\n"
          "Store cables dry and uncoiled. Never use an extension lead.")
OTHER = "Warranty: the charging cables are covered for two years from delivery."
WRAPPED = ("The warranty period of the Zephyr X200 kettle is 27 months from the date of purchase "
           "shown on\nyour receipt. During this period we will repair or replace a faulty kettle "
           "free of\ncharge.\n\nTerm | Value\nStart date | 1 April 2024\nNotice period | 93 days")


def hit(text: str, n: int = 0) -> Hit:
    return Hit(n, n, f"/docs/doc{n}.txt", None, 0, len(text), text, 0.0, 0.5, 1, 1)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(threads=1)


def test_the_answer_comes_from_the_sentence_holding_its_words() -> None:
    hits = [hit(MANUAL)]
    assert source_sentence("KV-3P-8A10 [1]", hits) == (
        "- Three-pin charging cable (granny lead, 8 A): part number KV-3P-8A10, for a "
        "household socket.")  # a list's item is a unit of its own, the heading another
    assert (source_sentence("“KV-T2-5M32” [1]", hits) or "").startswith("- Type 2 charging")
    assert source_sentence("Never use an extension lead.", hits) == "Never use an extension lead."


def test_prose_wrapped_at_a_fixed_width_is_read_as_its_sentences() -> None:
    hits = [hit(WRAPPED)]
    assert source_sentence("27 months [1]", hits) == (
        "The warranty period of the Zephyr X200 kettle is 27 months from the date of purchase "
        "shown on your receipt.")
    assert source_window("27 months [1]", hits) == (
        "The warranty period of the Zephyr X200 kettle is 27 months from the date of purchase "
        "shown on your receipt. During this period we will repair or replace a faulty kettle "
        "free of charge.")  # the paragraph ends there: the table is not its neighbour
    assert source_sentence("1 April 2024 [1]", hits) == "Start date | 1 April 2024"


def test_the_cited_passage_is_searched_first_then_the_others() -> None:
    hits = [hit(OTHER, 0), hit(MANUAL, 1)]
    assert source_sentence("two years [1]", hits) == OTHER  # only the first holds it
    assert (source_sentence("KV-T2-5M32 [1]", hits) or "").startswith("- Type 2")  # cited 1,
    # found in 2
    # not in a row anywhere: the cited passage's sentence sharing the most words
    assert (source_sentence("The lead plugs into a household socket [2]", hits) or ""
            ).startswith("- Three-pin")


def test_an_answer_with_no_sentence_of_its_own(reader: Reader) -> None:
    hits = [hit(MANUAL)]
    assert source_sentence("Napoleon Bonaparte [1]", hits) is None
    assert sentence_probability(reader, "Who?", "Napoleon Bonaparte [1]", hits) == UNPLACED
    # nothing to place ("Yes"), or a table's row, which the reader is no judge of: the
    # passages' best probability stands for it in the decision
    assert sentence_probability(reader, "Is it dry?", "Yes. [1]", hits) is None
    assert sentence_probability(reader, "When did it start?", "1 April 2024 [1]",
                                [hit(WRAPPED)]) is None
    assert source_sentence("KV-3P-8A10", []) is None


ACCESSORIES = ("Accessories\n"
               "Type 2 charging cable (5 m): part number KV-T2-5M32, for public chargers and "
               "wallboxes.\n"
               "It locks into the car's inlet while charging and unlocks when you end the "
               "session in the app.\n"
               "Keep the connector caps on when the cable is stowed.\n"
               "Three-pin charging cable (granny lead, 8 A): part number KV-3P-8A10, for a "
               "household socket.\n"
               "It charges at up to 1.8 kW, so a full charge takes about 30 hours.\n"
               "Store cables dry and uncoiled. Never use an extension lead.")


def test_the_reader_reads_the_answers_sentence_with_its_neighbours() -> None:
    hits = [hit(ACCESSORIES)]
    assert source_window("KV-3P-8A10 [1]", hits) == (
        "Keep the connector caps on when the cable is stowed. Three-pin charging cable (granny "
        "lead, 8 A): part number KV-3P-8A10, for a household socket. It charges at up to 1.8 "
        "kW, so a full charge takes about 30 hours.")
    assert (source_window("KV-T2-5M32 [1]", hits) or "").startswith("Accessories Type 2")
    # the passage's last sentence: one neighbour only (sentences, not lines, are counted)
    assert source_window("Never use an extension lead.", hits) == (
        "Store cables dry and uncoiled. Never use an extension lead.")


def test_the_reader_doubts_a_part_number_from_the_other_cables_lines(reader: Reader) -> None:
    """A near miss: asked for the three-pin cable's part number, the Type 2 cable's (from
    its own lines) scores well below the right one. The other way round the reader is not
    sure (0.46 for the right lines, 0.53 for the wrong ones): one input among several."""
    hits = [hit(ACCESSORIES)]
    question = "What's the part number for the three-pin charging cable?"
    right = sentence_probability(reader, question, "KV-3P-8A10 [1]", hits)
    wrong = sentence_probability(reader, question, "KV-T2-5M32 [1]", hits)
    assert right is not None and wrong is not None and right > wrong + 0.2


def test_the_decision_weighs_the_sentence_against_the_answer() -> None:
    """A doubtful sentence raises the refusal score; without one the best passage stands in."""
    sure = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, 0.6)
    doubted = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, 0.05)
    unplaced = answerability.Evidence(0.3, 0.5, -0.8, 0.8, 0.6, None)
    assert answerability.refusal_score(doubted) > answerability.refusal_score(sure)
    assert answerability.refusal_score(unplaced) == answerability.refusal_score(sure)
    assert len(answerability.features(sure)) == len(answerability.WEIGHTS)
