"""The shipped reader: a real trained file that judges held-out passages and finds spans; the
answer path with it (refusal, agreement, the quoted span, reranking) on real documents."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from answer_helpers import WrongAnswer, grounded_generator

from assistant.answer import answer_question
from assistant.answer.reader import (
    MANIFEST_FILE,
    READER_FILE,
    Reader,
    Reading,
    agrees,
    shipped_dir,
)
from assistant.errors import ModelError
from assistant.search import Hit
from assistant.training.squad import normalize

DATA = Path(__file__).parents[1] / "data"
HELD_OUT = DATA / "qa" / "heldout_grounded.jsonl"


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()



def _held_out() -> list[dict[str, object]]:
    return [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def test_the_shipped_reader_is_a_real_trained_file() -> None:
    folder = shipped_dir()
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    size = (folder / READER_FILE).stat().st_size
    assert 10e6 < size <= 40e6  # an int8 MiniLM, within the 40 MB
    report = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
    assert report["steps"] > 1000 and "CC BY-SA 4.0" in report["license"]
    held = set(report["data"]["held_out_articles"])
    assert held == {"1973_oil_crisis", "Force", "Imperialism", "Scottish_Parliament"}
    assert not held & set(report["data"]["train_articles"])
    assert manifest["sha256"] and report["held_out"]["auc"] >= 0.85


def test_held_out_passages_with_the_answer_score_above_those_without(reader: Reader) -> None:
    """Fixed examples from the held-out articles (tests/data/qa/heldout_grounded.jsonl): the
    passage holding the answer outranks the others, and the span is the gold answer."""
    answerable = [e for e in _held_out() if not str(e["response"]).startswith("I couldn't")]
    assert len(answerable) == 4
    spans = {}
    for example in answerable:
        gold, marker = str(example["response"]).rsplit(" [", 1)
        n = int(marker.rstrip("]"))
        sources = [str(s) for s in example["sources"]]  # type: ignore[attr-defined]
        readings = reader.read(str(example["prompt"]), sources)
        best = max(range(len(readings)), key=lambda i: readings[i].probability)
        assert best == n - 1, example["prompt"]
        spans[gold] = readings[best].span(sources[best])
    # One of the four spans is the gold answer word for word (the reader's exact match on
    # all held-out pairs is 50%); the others name a wrong year, a neighbouring term and, for
    # "Catholicism", a longer phrase of the passage (start + end logits 7.21 against 7.33 for
    # "Catholicism": read in a batch, as before 6 December, the tie went the other way).
    assert normalize(spans["Albert Einstein"]) == normalize("Albert Einstein")


def test_a_passages_reading_does_not_depend_on_the_passages_beside_it(reader: Reader) -> None:
    """Read in one batch, the int8 model's activation scale was shared, so a passage's
    probability moved with its neighbours (by up to 0.13): the same passage could be judged
    differently for two searches. Each passage is now read alone."""
    example = _held_out()[0]
    question = str(example["prompt"])
    sources = [str(s) for s in example["sources"]]  # type: ignore[attr-defined]
    assert len(sources) >= 3
    together = reader.read(question, sources)
    assert reader.read(question, sources[::-1])[::-1] == together
    assert [reader.read(question, [s])[0] for s in sources] == together


def test_passages_without_the_answer_score_low(reader: Reader) -> None:
    """The held-out examples whose passages were chosen not to hold the answer: below
    strict's pre-generation threshold (0.15) by what the decision reads, the judge head's
    probability (the ranking head, held to the reader before it, gives Galileo's 0.175)."""
    for example in _held_out():
        if "no_oracle" not in str(example.get("origin", "")):
            continue
        readings = reader.read(str(example["prompt"]),
                               [str(s) for s in example["sources"]])  # type: ignore[attr-defined]
        assert all(r.judge is not None for r in readings)
        assert max(r.judged for r in readings) < 0.15, example["prompt"]


def test_a_damaged_reader_is_refused_in_a_sentence(tmp_path: Path) -> None:
    copy = tmp_path / "reader"
    shutil.copytree(shipped_dir(), copy)
    data = bytearray((copy / READER_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / READER_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged"):
        Reader(copy)
    (copy / MANIFEST_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="manifest"):
        Reader(copy)


def test_agreement_of_an_answer_and_a_span() -> None:
    assert agrees("The warranty lasts 27 months [1].", "27 months")
    assert agrees("27 months", "a period of 27 months")
    assert not agrees("15 months", "27 months")
    assert not agrees("93 days", "thirty days") and agrees("30 days", "within thirty days")
    assert not agrees("", "27 months") and not agrees("27 months", "")


def test_reranking_puts_the_passage_that_answers_first(indexed, reader: Reader) -> None:
    question = "How long is the guarantee on the Zephyr X200 kettle?"
    hits = indexed.search(question, 20)
    ranked = reader.rerank(question, hits)
    assert sorted(id(h) for h, _ in ranked) == sorted(id(h) for h in hits)
    top, reading = ranked[0]
    assert top.page == 2 and "27 months" in top.text
    assert reading.span(top.text) == "27 months"
    probabilities = [r.probability for _, r in ranked]
    assert probabilities == sorted(probabilities, reverse=True)


@pytest.mark.slow
def test_a_wrong_answer_becomes_the_readers_quoted_span(indexed, default_gguf: Path) -> None:
    from assistant.llm import Generator

    with Generator(default_gguf, n_ctx=2048) as generator:
        question = "How long is the guarantee on the Zephyr X200 kettle?"
        answer = answer_question(question, retriever=lambda q, k: indexed.search(q, k),
                                 generator=WrongAnswer(generator, "It lasts 15 months [1]."))
        assert answer.grounding == "quoted" and not answer.not_found
        assert answer.quote is not None and answer.span is not None
        hit = answer.consulted[answer.quote.n - 1]
        assert hit.text[answer.quote.start:answer.quote.end] == "27 months"
        assert answer.text == f"\u201c27 months\u201d [{answer.quote.n}]"
        assert [c.hit for c in answer.citations] == [hit] and hit.page == 2
        assert answer.to_json()["span"]["text"] == "27 months"

        right = answer_question(question, retriever=lambda q, k: indexed.search(q, k),
                                generator=WrongAnswer(generator, "It lasts 27 months [1]."))
        assert right.grounding == "answered" and right.span is not None
        assert right.span.text == "27 months"


@pytest.mark.slow
def test_a_supported_answer_the_reader_contradicts_becomes_its_span(indexed,
                                                                     default_gguf: Path) -> None:
    """The handbook says "regular care keeps the kettle quiet" and "descaling ... every 45
    days", so "regular care" (what the 270M model answered) passes the support check on words
    alone. The reader is sure of its own span (p >= READER_OVERRULES_AT), so the answer becomes
    that span, quoted and cited. Where the reader's span sits in a table's row, or the answer's
    words do (the reader learnt from prose and judges neither), the supported answer stands."""
    from assistant.answer.answering import _supported_by_reader
    from assistant.answer.overrule import READER_OVERRULES_AT, in_table_row, overruling_span
    from assistant.llm import Generator

    question = "How often should I remove limescale from the kettle?"
    with Generator(default_gguf, n_ctx=2048) as generator:
        answer = answer_question(question, retriever=lambda q, k: indexed.search(q, k),
                                 generator=WrongAnswer(generator, "regular care [1]"),
                                 strictness="lenient")
        assert not answer.not_found and answer.grounding == "quoted"
        assert answer.quote is not None and answer.span == answer.quote
        # "every 45 days" since the reader learnt from plain documents too; "45 days" before
        assert answer.quote.text in ("45 days", "every 45 days")
        assert answer.text == f"\u201c{answer.quote.text}\u201d [{answer.quote.n}]"
        cited = answer.consulted[answer.quote.n - 1]
        assert cited.page == 3 and [c.hit for c in answer.citations] == [cited]
        assert cited.text[answer.quote.start:answer.quote.end] == answer.quote.text
        assert "regular care" in cited.text  # the model's words were there: supported
        assert answer.reader_probability is not None
        assert answer.reader_probability >= READER_OVERRULES_AT

        term = "What is the minimum term of the Harbor Analytics contract?"
        kept = answer_question(term, retriever=lambda q, k: indexed.search(q, k),
                               generator=WrongAnswer(generator, "24 months [1]"),
                               strictness="lenient")
        law = "Which law governs the service agreement?"
        table = answer_question(law, retriever=lambda q, k: indexed.search(q, k),
                                generator=WrongAnswer(generator, "Hamburg, Germany [1]"),
                                strictness="lenient")
    reader = Reader()
    assert kept.grounding == "answered" and "24 months" in kept.text
    readings = dict(zip(map(id, kept.consulted),
                        reader.read(term, [h.text for h in kept.consulted]), strict=True))
    first = kept.consulted[0]
    assert "Minimum term | 24 months" in first.text
    assert readings[id(first)].probability >= READER_OVERRULES_AT
    span = readings[id(first)].span(first.text)
    # the table's start date (the reader before the plain documents took its row's "|" too)
    assert span.endswith("1 April 2024")
    assert any("|" in line and "1 April 2024" in line for line in first.text.splitlines())
    assert overruling_span(kept.consulted, readings) is None

    # The answer's words stand in the table's "Governing law" row, which the reader cannot
    # judge: the answer stands, however sure the reader is of a prose span elsewhere. Its exact
    # probability differs between CPUs (CI read the parties' names at just under 0.5), so the
    # gate is checked with the reader's own span made sure.
    assert table.grounding == "answered" and "Hamburg" in table.text
    assert any(in_table_row("Hamburg, Germany", c.hit.text) for c in table.citations)
    readings = dict(zip(map(id, table.consulted),
                        reader.read(law, [h.text for h in table.consulted]), strict=True))
    def made_sure(h: Hit) -> Reading:
        return dataclasses.replace(readings[id(h)], probability=0.99)

    prose = next(n for n, h in enumerate(table.consulted, 1)  # a clean prose span, once sure
                 if overruling_span([h], {id(h): made_sure(h)}))
    hit = table.consulted[prose - 1]
    sure = {**readings, id(hit): made_sure(hit)}
    assert overruling_span(table.consulted, sure) == prose  # a prose span the reader is sure of
    assert "Hamburg" not in sure[id(hit)].span(hit.text)
    stood = _supported_by_reader(law, f"Hamburg, Germany [{table.citations[0].n}]",
                                 table.consulted, sure, _done)
    assert stood.grounding == "answered" and "Hamburg" in stood.text


@pytest.mark.slow
def test_a_span_that_cuts_a_word_never_overrules(indexed, default_gguf: Path) -> None:
    """The trail guide opens "a three-day hut-to-hut walk"; asked how long the first day's
    stage is, the reader is sure (0.69 here) of "three", part of "three-day". Part of a word is
    no answer: the model's right "14 km" stands."""
    from assistant.answer.overrule import cuts_a_word, overruling_span
    from assistant.llm import Generator

    question = "How long is the first day's stage of the Oakridge Trail?"
    with Generator(default_gguf, n_ctx=2048) as generator:
        answer = answer_question(question, retriever=lambda q, k: indexed.search(q, k),
                                 generator=WrongAnswer(generator, "14 km [1]"),
                                 strictness="lenient")
    assert answer.grounding == "answered" and answer.text.startswith("14 km")
    first = answer.consulted[0]
    reading = Reader().read(question, [first.text])[0]
    if first.text[reading.start:reading.end] == "three":  # the reader's span on this CPU
        assert cuts_a_word(first.text, reading.start, reading.end)
        assert overruling_span([first], {id(first): reading}) is None
    text = "The Oakridge Trail is a three-day hut-to-hut walk; Day 1 is 14 km."
    at = text.index("three")
    assert cuts_a_word(text, at, at + len("three"))
    assert not cuts_a_word(text, at, at + len("three-day"))
    assert not cuts_a_word(text, text.index("14 km"), text.index("14 km") + len("14 km"))
    assert cuts_a_word(text, text.index("14 km") + 1, text.index("14 km") + len("14 km"))
    # A span that begins with a symbol begins a word of its own: "$3" of "rose from US$3"
    # (a held-out SQuAD answer the reader got right) still overrules.
    price = "Oil rose from US$3 per barrel to nearly $12."
    assert not cuts_a_word(price, price.index("$3"), price.index(" per"))


def _done(text: str, citations: list[object], grounding: str, **extra: object) -> SimpleNamespace:
    """What the answer path would build from the support check's verdict."""
    return SimpleNamespace(text=text, citations=citations, grounding=grounding, **extra)


def test_an_unrelated_passage_is_refused_by_the_reader(reader: Reader) -> None:
    hit = Hit(chunk_id=1, document_id=1, path="/docs/menu.txt", page=None, start=0, end=60,
              text="The café serves soup on Mondays and fish on Fridays, from noon.",
              score=1.0, similarity=0.9, keyword_rank=1, vector_rank=1)
    answer = answer_question("How long is the guarantee on the kettle?",
                             retriever=lambda q, k: [hit], generator=None,  # type: ignore[arg-type]
                             reader=reader, strictness="strict")
    assert answer.not_found and answer.not_found_reason == "reader"
    assert answer.consulted == [hit] and answer.reader_probability is not None


@pytest.mark.slow
def test_a_fact_in_the_first_passage_the_old_decision_refused_is_answered(
        indexed, default_gguf: Path) -> None:
    """The keep-warm temperature is in the handbook's page 5, which search ranks first. The
    decision shipped before the reader, with the 272-example adapter, refused it; now the
    answer comes through, and the reader, sure that passage holds the answer, lowers the
    decision's score below what the same evidence scores without it. (With the adapter
    trained on plain documents, shipped since 7 December, the decision before the reader
    would answer it too: its answer is surer, log-probability -0.17.)"""
    from assistant.answer import answerability

    question = "At what temperature does the kettle keep water warm?"
    with grounded_generator(default_gguf) as generator:
        answer = answer_question(question, retriever=lambda q, k: indexed.search(q, k),
                                 generator=generator)
    first, second = answer.consulted[:2]  # page 5 is cut in two passages; search puts both first
    assert first.page == second.page == 5 and "83 degrees" in first.text + second.text
    assert not answer.not_found and "83" in answer.text
    assert answer.citations and answer.citations[0].hit.page == 5
    assert answer.reader_probability is not None and answer.refusal_probability is not None
    level = answerability.STRICTNESS["balanced"]
    evidence = answerability.Evidence(
        answer.refusal_probability, answerability.retrieval_confidence(answer.consulted),
        answerability.answer_logprob(answer.token_logprobs),
        answerability.question_coverage(question, answer.consulted),
        answer.reader_probability, answer.sentence_probability)
    assert answer.evidence == evidence  # what an evaluation records to score it again
    assert answer.refusal_score == pytest.approx(answerability.refusal_score(evidence), abs=1e-9)
    assert answer.refusal_score < level.refuse_at  # answered now
    assert answer.reader_probability >= 0.5
    without = dataclasses.replace(evidence, reader_probability=None)
    assert answer.refusal_score < answerability.refusal_score(without)
