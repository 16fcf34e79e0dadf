"""An answer made only of the question's own words answers nothing (`assistant.answer.echo`):
it gives way to the reader's span, or the question is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from answer_helpers import WrongAnswer

from assistant.answer import answer_question
from assistant.answer.echo import repeats_question


@pytest.mark.parametrize(("answer", "question", "echoes"), [
    ("India", "Which country had trading posts in India after Britain?", True),
    ("AUSTPAC", "What was AUSTPAC", True),
    ("51.6%", "51.6% was not in favor of what?", True),
    ("the Zephyr X200 kettles", "What does the Zephyr X200 kettle's warranty cover?", True),
    ("the kettle body and the lid", "What does the Zephyr X200 kettle's warranty cover?", False),
    ("27 months", "Is the warranty 24 or 27 months?", False),  # a choice the question offers
    ("No", "Can the power base go in the dishwasher?", False),  # no content word of its own
    ("Yes, it can.", "Can the filter be rinsed under the tap?", False),
    ("", "What was AUSTPAC?", False),
    ("the late 1870s", "When was the term imperialism first used?", False),
])
def test_an_answer_that_only_repeats_the_question(answer: str, question: str,
                                                  echoes: bool) -> None:
    assert repeats_question(answer, question) is echoes


def test_a_pasted_page_as_the_question_is_read_only_as_far_as_a_question_goes() -> None:
    started = time.perf_counter()
    assert not repeats_question("zebra", "x " * 100_000 + "zebra?")  # beyond QUESTION_CHARS
    assert repeats_question("zebra", "zebra " + "x " * 100_000)
    assert time.perf_counter() - started < 10


# A paragraph of SQuAD 2.0's "Imperialism" article (Rajpurkar et al. 2018, CC BY-SA 4.0)
INDIA = ("The British East India Company, founded in 1600, set up trading posts in India long "
         "before the British Crown took control. After the Portuguese, the Dutch, the French "
         "and the English had established trading posts in India, the Danes too opened one at "
         "Tranquebar in 1620.")


@pytest.mark.slow
def test_an_answer_that_repeats_the_question_gives_way_to_the_readers_span(
        default_gguf: Path) -> None:
    """The model's "India" is cited and found in its passage, so the support check and the
    decision let it stand; it is the question's own word, so the reader's span in that
    passage (a name the question does not hold) is the answer instead, quoted and cited."""
    from assistant.answer.reader import Reader
    from assistant.llm import Generator
    from assistant.search import Hit

    question = "Which country had trading posts in India after the Dutch?"
    hits = [Hit(1, 1, "/docs/imperialism.txt", None, 0, len(INDIA), INDIA, 1.0, 0.8, 1, 1)]
    span = Reader().read(question, [INDIA])[0].span(INDIA)
    assert not repeats_question(span, question)
    with Generator(default_gguf, n_ctx=2048) as generator:
        answer = answer_question(question, retriever=lambda q, k: hits,
                                 generator=WrongAnswer(generator, "India [1]"))
        unchecked = answer_question(question, retriever=lambda q, k: hits,
                                    generator=WrongAnswer(generator, "India [1]"),
                                    strictness="lenient")
    assert unchecked.text == "India [1]"  # the checks are off at lenient
    assert answer.grounding == "quoted" and answer.quote is not None
    assert answer.quote.text == span and answer.unsupported == ["India [1]"]
    assert [c.hit for c in answer.citations] == hits
