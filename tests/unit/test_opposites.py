"""A question about one side of a pair ("the lowest stage") is not answered from a sentence
that says only the other side ("the highest stage"): `assistant.answer.opposites`, and where
in a passage the answer stands (`assistant.answer.beside`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from answer_helpers import WrongAnswer

from assistant.answer import answer_question
from assistant.answer.beside import beside_answer, sentences
from assistant.answer.opposites import sided, unmet

# Sentences of SQuAD 2.0's "Imperialism" and "Force" articles (CC BY-SA 4.0) and of the
# kettle handbook in tests/data
LENIN = ("Lenin's pamphlet of 1917 argued that imperialism was the highest stage of "
         "capitalism. It was widely read by Russian leader Lenin's followers.")
KEEP_WARM = ("The keep-warm function holds the water at 83 degrees Celsius for up to 40 minutes "
             "after boiling. The maximum load of the power base is 2150 watts.")


def test_which_words_of_a_pair_a_question_names() -> None:
    assert sided("Who wrote that imperialism is the lowest stage of capitalism?") == {"lowest"}
    assert sided("What is the MAXIMUM load of the base?") == {"maximum"}
    assert sided("When does the pool open?") == set()  # open/closed: other senses, left out
    # both sides named: a contrast (held-out SQuAD, answered "Japanese" from "Western (and
    # Japanese) political and economic dominance")
    assert sided("Imperialism has been applied to western countries, and which eastern one?") \
        == set()
    assert sided("x " * 1000 + "lowest") == set()  # read only as far as a question goes


@pytest.mark.parametrize(("question", "answer", "passages", "contradicted"), [
    ("Who wrote that imperialism is the lowest stage of capitalism?", "Russian leader Lenin",
     [LENIN], ["lowest"]),
    ("Who wrote that imperialism is the highest stage of capitalism?", "Lenin", [LENIN], []),
    # the word and its opposite both there: not a contradiction
    ("Which stage is the lowest?", "the first stage",
     ["The first stage is the lowest and the last stage the highest."], []),
    # a comparative turns round with its order (B more efficient than A: A less efficient)
    ("Which engines were less efficient than Watt's?", "Newcomen engines",
     ["Watt's engines were more efficient than Newcomen engines."], []),
    ("What is the minimum load of the power base?", "2150 watts", [KEEP_WARM], ["minimum"]),
    ("What is the maximum load of the power base?", "2150 watts", [KEEP_WARM], []),
    # the opposite stands in another sentence of the passage, away from the answer
    ("What is the lowest temperature the kettle keeps?", "83 degrees Celsius",
     [KEEP_WARM.replace("maximum", "highest")], []),
    # one cited passage without the contradiction is enough
    ("Who wrote that imperialism is the lowest stage of capitalism?", "Lenin",
     [LENIN, "Some called Lenin's view the lowest form of economics."], []),
    ("Who wrote that imperialism is the lowest stage of capitalism?", "Lenin", [], []),
])
def test_an_answer_from_a_sentence_that_says_the_opposite(
        question: str, answer: str, passages: list[str], contradicted: list[str]) -> None:
    assert unmet(question, answer, passages) == contradicted


def test_the_answer_is_read_in_its_sentence_and_the_one_before() -> None:
    text = "First line\nThe kettle holds 1.6 litres. It boils in four minutes! Rinse it."
    assert sentences(text) == ["First line", "The kettle holds 1.6 litres.",
                               "It boils in four minutes!", "Rinse it."]
    assert beside_answer("four minutes", text) == [
        "The kettle holds 1.6 litres. It boils in four minutes!"]
    assert beside_answer("First line", text) == ["First line"]
    # a written answer: the sentence sharing most of its words
    assert beside_answer("It takes four minutes to boil.", text) == [
        "The kettle holds 1.6 litres. It boils in four minutes!"]
    assert beside_answer("nothing shared", text) == [text]  # read whole


def test_a_long_passage_is_read_in_linear_time() -> None:
    """A line of 100,000 dots (a table of contents' leaders, or a hostile file) took seconds
    with a pattern that backtracked over the run of marks."""
    started = time.perf_counter()
    unmet("What is the lowest one?", "b", ["b highest " * 50_000])
    assert len(sentences("a" + "." * 100_000 + " b")) == 2
    assert time.perf_counter() - started < 10


@pytest.mark.slow
def test_an_answer_from_a_sentence_that_says_the_opposite_is_refused(default_gguf: Path) -> None:
    """The only passage says "the highest stage"; the model's "Lenin", cited from it, is what
    a question about "the lowest stage" would wrongly get: it is refused as the opposite, and
    the same answer to the question as the passage puts it stands."""
    from assistant.llm import Generator
    from assistant.search import Hit

    hits = [Hit(1, 1, "/docs/lenin.txt", None, 0, len(LENIN), LENIN, 1.0, 0.8, 1, 1)]
    with Generator(default_gguf, n_ctx=2048) as generator:
        lowest = answer_question("Who wrote that imperialism is the lowest stage of capitalism?",
                                 retriever=lambda q, k: hits,
                                 generator=WrongAnswer(generator, "Lenin [1]"))
        highest = answer_question(
            "Who wrote that imperialism is the highest stage of capitalism?",
            retriever=lambda q, k: hits, generator=WrongAnswer(generator, "Lenin [1]"))
    assert lowest.not_found and lowest.not_found_reason == "opposite"
    assert lowest.unsupported == ["Lenin [1]"]
    assert not highest.not_found and "Lenin" in highest.text
