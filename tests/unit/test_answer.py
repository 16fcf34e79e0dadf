"""Prompt building, citations and answering, with the real default model where it matters."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answer import (
    BASE_STOPS,
    NOT_FOUND_TEXT,
    Answer,
    Citation,
    Turn,
    answer_question,
    build_prompt,
    infer_citations,
    parse_citations,
    retrieval_query,
)
from assistant.llm import models
from assistant.llm.generator import Generator
from assistant.search import Hit

TEST_MODELS = Path(os.environ.get(
    "KA_TEST_MODELS", Path.home() / ".cache" / "knowledge-assistant" / "test-models"))

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else 'user' }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def hit(n: int, text: str, *, path: str = "/docs/manual.pdf", page: int | None = 3,
        similarity: float = 0.6) -> Hit:
    return Hit(chunk_id=n, document_id=n, path=path, page=page, start=10 * n,
               end=10 * n + len(text), text=text, score=1.0 / n, similarity=similarity)


COFFEE = hit(1, "The Zephyr X200 coffee machine has a 1.8 litre water tank and heats up in 45 "
                "seconds. The warranty lasts two years from the date of purchase.")
LOUVRE = hit(2, "The Louvre museum in Paris is closed on Tuesdays. Tickets cost 22 euros and "
                "can be bought online.", path="/docs/travel.txt", page=None)
ACME = hit(3, "Acme Corporation was founded in 1987 by Maria Lopez in Denver. It employs 4,200 "
              "people.", path="/docs/report.pdf", page=7)


@pytest.fixture(scope="module")
def generator() -> Iterator[Generator]:
    path = models.ensure_default_model(directory=TEST_MODELS)
    with Generator(path, n_ctx=2048, n_threads=2) as gen:
        yield gen


class Retriever:
    """Returns fixed hits and records the queries it was asked."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits
        self.queries: list[tuple[str, int]] = []

    def __call__(self, query: str, k: int) -> list[Hit]:
        self.queries.append((query, k))
        return self.hits[:k]


# --------------------------------------------------------------------------- citations

def test_parse_citations_forms() -> None:
    hits = [COFFEE, LOUVRE, ACME]
    text, cites = parse_citations("Two years [1]. Closed Tuesdays [2, 3] and [3][1].", hits)
    assert text == "Two years [1]. Closed Tuesdays [2][3] and [3][1]."
    assert [(c.n, c.hit) for c in cites] == [(1, COFFEE), (2, LOUVRE), (3, ACME)]


def test_parse_citations_drops_markers_to_nothing() -> None:
    hits = [COFFEE, LOUVRE]
    text, cites = parse_citations("It lasts two years [7]. See [2, 9] and [0][1].", hits)
    assert text == "It lasts two years. See [2] and [1]."
    assert [c.n for c in cites] == [2, 1]
    text, cites = parse_citations("No markers [a] or [ ] here [1x].", hits)
    assert text == "No markers [a] or [ ] here [1x]." and cites == []
    assert parse_citations("Plain.", []) == ("Plain.", [])


def test_infer_citations() -> None:
    hits = [LOUVRE, ACME]
    text, cites = infer_citations("Maria Lopez founded it in 1987. The museum shuts on "
                                  "Tuesdays. Bananas are yellow.", hits)
    assert text == ("Maria Lopez founded it in 1987 [2]. The museum shuts on Tuesdays [1]. "
                    "Bananas are yellow.")
    assert [c.n for c in cites] == [2, 1]
    assert infer_citations("Nothing relevant at all", hits) == ("Nothing relevant at all", [])
    # A number the passage does not contain is never attributed to it.
    assert infer_citations("Acme employs 5,000 people.", hits) == (
        "Acme employs 5,000 people.", [])
    assert infer_citations("Acme employs 4,200 people.", hits)[0] == (
        "Acme employs 4,200 people [2].")
    assert infer_citations("Tickets cost twenty-two euros.", hits)[1] == []


def test_answer_json_shape() -> None:
    answer = Answer("Two years [1].", [Citation(1, COFFEE)], [COFFEE, LOUVRE], False)
    data = json.loads(json.dumps(answer.to_json()))
    assert data == {
        "answer": "Two years [1].",
        "citations": [{"n": 1, "path": "/docs/manual.pdf", "page": 3, "place": None,
                       "start": 10,
                       "end": 10 + len(COFFEE.text), "text": COFFEE.text}],
        "consulted": [
            {"n": 1, "path": "/docs/manual.pdf", "page": 3, "place": None, "start": 10,
             "end": 10 + len(COFFEE.text), "text": COFFEE.text},
            {"n": 2, "path": "/docs/travel.txt", "page": None, "place": None, "start": 20,
             "end": 20 + len(LOUVRE.text), "text": LOUVRE.text}],
        "not_found": False,
        "grounding": "answered",  # an extension: the original keys are unchanged
    }


def test_the_cli_says_whose_quote_an_answer_is() -> None:
    """A quote of the reader's span says the reader found the words; a sentence quoted after
    the model's answer failed the support check says that."""
    import io

    from assistant.answer.support import Quote
    from assistant.cli.main import _finish_answer

    start = COFFEE.text.index("two years")
    span = Quote(1, "two years", start, start + len("two years"))
    reader = Answer("\u201ctwo years\u201d [1]", [Citation(1, COFFEE)], [COFFEE], False,
                    grounding="quoted", quote=span, span=span)
    out = io.StringIO()
    _finish_answer("How long is the warranty?", reader, out)
    assert "the reader found these words there" in out.getvalue()
    sentence = Answer("The documents don't say ... [1]", [Citation(1, COFFEE)], [COFFEE], False,
                      grounding="quoted", quote=span)
    out = io.StringIO()
    _finish_answer("How long is the warranty?", sentence, out)
    assert "the model's answer was not supported" in out.getvalue()


# --------------------------------------------------------------------------- query

def test_retrieval_query_uses_the_conversation_for_follow_ups() -> None:
    history = [Turn("How big is the water tank of the Zephyr X200?", "1.8 litres [1].")]
    assert retrieval_query("and what about the warranty?", history) == (
        "How big is the water tank of the Zephyr X200? and what about the warranty?")
    assert retrieval_query("How long does it last?", history).startswith("How big is")
    standalone = "Which day is the Louvre museum closed?"
    assert retrieval_query(standalone, history) == standalone
    assert retrieval_query("  warranty?  ", []) == "warranty?"
    chain = [Turn("Who founded Acme Corporation?", "Maria Lopez."), Turn("and when?", "1987.")]
    assert retrieval_query("where?", chain) == "Who founded Acme Corporation? and when? where?"
    assert retrieval_query("where?", [("Who founded Acme Corporation?", "Maria Lopez.")]) == (
        "Who founded Acme Corporation? where?")


# --------------------------------------------------------------------------- prompt

def test_prompt_format_for_the_base_model(generator: Generator) -> None:
    prompt = build_prompt("How long is the warranty?", [COFFEE, LOUVRE], [], generator, 1500)
    assert prompt.messages is None and prompt.stop == list(BASE_STOPS)
    assert prompt.text == (
        "Answer the question from the sources.\n\nSources:\n[1] (manual.pdf, page 3)\n"
        + COFFEE.text + "\n\n[2] (travel.txt)\n" + LOUVRE.text + "\n\n"
        "Question: How long is the warranty?\nAnswer:")
    assert prompt.hits == [COFFEE, LOUVRE]
    assert prompt.tokens == generator.count_tokens(prompt.text) + 1


def test_prompt_fits_budget(generator: Generator) -> None:
    long_text = " ".join(f"Sentence {i} of a long passage about coffee machines." for i in
                         range(60))
    hits = [hit(i, long_text + f" Fact number {i}.") for i in range(1, 9)]
    history = [Turn(f"Earlier question {i} about the machine?", "An earlier answer. " * 20)
               for i in range(10)]
    budget = 900
    prompt = build_prompt("How long is the warranty?", hits, history, generator, budget)
    assert prompt.tokens <= budget
    assert generator.count_tokens(prompt.text) + 1 <= budget
    assert 1 <= len(prompt.hits) < len(hits)
    assert prompt.hits == hits[:len(prompt.hits)]  # most relevant first, in order
    assert 1 <= prompt.history_used < len(history)
    assert "Earlier question 9" in prompt.text  # the most recent turn is kept
    assert "Earlier question 0" not in prompt.text

    # A passage that alone exceeds the budget is shortened rather than dropped.
    small = build_prompt("How long is the warranty?", [hits[0]], [], generator, 200)
    assert small.tokens <= 200 and small.hits == [hits[0]]
    assert "Sentence 0 of a long passage" in small.text and " …" in small.text


def test_chat_prompt_for_models_with_a_template(generator: Generator) -> None:
    with Generator(generator.model_path, n_ctx=1024, n_threads=2,
                   chat_template=GEMMA_TEMPLATE) as chat:
        prompt = build_prompt("How long is the warranty?", [COFFEE],
                              [Turn("Hi?", "Hello.")], chat, 800)
        assert prompt.messages is not None
        assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "user"]
        assert "[1] (manual.pdf, page 3)" in prompt.messages[-1].content
        assert prompt.text.startswith("<bos><start_of_turn>user\n")
        assert prompt.text.endswith("<start_of_turn>model\n")
        assert prompt.tokens <= 800


# --------------------------------------------------------------------------- answering

def test_not_found_does_not_generate(generator: Generator,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model must not be asked")

    monkeypatch.setattr(generator, "stream", fail)
    monkeypatch.setattr(generator, "stream_chat", fail)
    far = [hit(1, COFFEE.text, similarity=0.1), hit(2, LOUVRE.text, similarity=0.05)]
    retriever = Retriever(far)
    answer = answer_question("What is the boiling point of mercury?", retriever=retriever,
                             generator=generator, top_k=4, relevance_floor=0.25)
    assert answer.not_found and answer.text == NOT_FOUND_TEXT
    assert answer.consulted == far and answer.citations == []
    assert answer.to_json()["not_found"] is True
    assert retriever.queries == [("What is the boiling point of mercury?", 4)]


def test_answer_contains_the_fact_and_cites_the_passage(generator: Generator) -> None:
    retriever = Retriever([COFFEE, LOUVRE])
    pieces: list[str] = []
    answer = answer_question("How long is the warranty?", retriever=retriever,
                             generator=generator, top_k=2, relevance_floor=0.25,
                             on_token=pieces.append, max_tokens=48, temperature=0.0)
    assert not answer.not_found and not answer.cancelled
    assert "two years" in answer.text.lower() or "2 years" in answer.text.lower()
    assert "[1]" in answer.text
    assert [c.n for c in answer.citations] == [1] and answer.citations[0].hit == COFFEE
    assert answer.consulted == [COFFEE, LOUVRE]
    assert answer.citation_source in ("model", "inferred")
    assert "".join(pieces).strip()
    assert 0 < answer.prompt_tokens < 200
    data = answer.to_json()
    assert {"answer", "citations", "consulted", "not_found"} <= set(data)
    assert data["grounding"] == "answered"
    assert data["citations"][0] == {"n": 1, "path": COFFEE.path, "page": 3, "place": None,
                                    "start": COFFEE.start, "end": COFFEE.end,
                                    "text": COFFEE.text}
    # Deterministic at temperature 0.
    again = answer_question("How long is the warranty?", retriever=retriever,
                            generator=generator, top_k=2, max_tokens=48)
    assert again.text == answer.text


@pytest.mark.parametrize(("question", "hits", "fact", "cited"), [
    ("Which day is the Louvre closed?", [LOUVRE, ACME], "tuesday", LOUVRE),
    ("Who founded Acme Corporation?", [ACME, COFFEE], "maria lopez", ACME),
])
def test_more_real_answers(generator: Generator, question: str, hits: list[Hit], fact: str,
                           cited: Hit) -> None:
    answer = answer_question(question, retriever=Retriever(hits), generator=generator,
                             max_tokens=48)
    assert fact in answer.text.lower()
    assert answer.citations and answer.citations[0].hit == cited


def test_follow_up_question_uses_history(generator: Generator) -> None:
    retriever = Retriever([ACME, COFFEE])
    history = [Turn("Who founded Acme Corporation?", "Maria Lopez [1].")]
    answer = answer_question("and in which city?", retriever=retriever, generator=generator,
                             history=history, max_tokens=32)
    assert retriever.queries[0][0] == "Who founded Acme Corporation? and in which city?"
    assert answer.history_used == 1
    assert "denver" in answer.text.lower()


def test_no_docs_asks_the_model_alone(generator: Generator) -> None:
    retriever = Retriever([COFFEE])
    answer = answer_question("What is the capital of France?", retriever=retriever,
                             generator=generator, no_docs=True, max_tokens=16)
    assert retriever.queries == []
    assert answer.consulted == [] and answer.citations == [] and not answer.not_found
    assert "Sources:" not in answer.prompt
    assert answer.text


def test_cancel_returns_partial_answer(generator: Generator) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        cancel.set()

    answer = answer_question("Describe the coffee machine in detail.",
                             retriever=Retriever([COFFEE]), generator=generator,
                             on_token=on_token, cancel=cancel, max_tokens=200)
    assert answer.cancelled
    assert len(seen) == 1 and answer.completion_tokens <= 2


def test_markers_for_missing_passages_are_dropped(generator: Generator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Force a model output citing a passage that was not given (fake only to force it).
    def stream(*_args: object, **_kwargs: object) -> Iterator[str]:
        yield " It lasts two years [4]"
        yield " from purchase [1]."

    monkeypatch.setattr(generator, "stream", stream)
    answer = answer_question("How long is the warranty?", retriever=Retriever([COFFEE]),
                             generator=generator)
    assert answer.text == "It lasts two years from purchase [1]."
    assert answer.citation_source == "model" and [c.n for c in answer.citations] == [1]
