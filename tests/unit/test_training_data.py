"""Training data: JSONL parsing, checks, PII scrubbing, split, conversations (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import UserError
from assistant.training import pii
from assistant.training.data import (
    Example,
    examples_from_conversations,
    format_example_prompt,
    load_jsonl,
    prepare,
    split_examples,
)


def write_jsonl(path: Path, rows: list[object | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prompt_format_numbers_sources() -> None:
    text = format_example_prompt("When does it open?", ["Opens at 9.", "  Closed\non Sundays. "],
                                 source_names=["shop.txt", "shop.pdf, page 2"])
    assert text == ("Answer the question from the sources.\n\nSources:\n"
                    "[1] (shop.txt)\nOpens at 9.\n\n[2] (shop.pdf, page 2)\nClosed on Sundays.\n\n"
                    "Question: When does it open?\nAnswer:")
    assert format_example_prompt("Hi?", []) == ("Answer the question briefly.\n"
                                                "Question: Hi?\nAnswer:")
    example = Example("Q?", "A.", ("S",))
    assert example.render_prompt(with_sources=False) == format_example_prompt("Q?", [])
    assert example.render_response() == " A."


def test_training_prompt_is_the_answer_time_prompt(default_gguf: Path) -> None:
    """One function builds both: an adapter trains on exactly what the app will show it."""
    from assistant.answer import build_prompt
    from assistant.llm.generator import Generator
    from assistant.search import Hit

    hits = [Hit(chunk_id=i, document_id=i, path=f"/docs/{name}", page=page, start=0,
                end=len(text), text=text, score=1.0, similarity=0.5)
            for i, (name, page, text) in enumerate([("shop.pdf", 2, "Opens at 9."),
                                                    ("notes.txt", None, "Closed on Sundays.")])]
    with Generator(default_gguf, n_ctx=1024) as generator:
        app = build_prompt("When does it open?", hits, None, generator, 900)
    example = Example("When does it open?", "9 [1]", ("Opens at 9.", "Closed on Sundays."),
                      source_names=("shop.pdf, page 2", "notes.txt"))
    assert example.render_prompt() == app.text


def test_both_forms_load(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"prompt": "What is X?", "response": "X is Y.", "sources": ["X is Y, says the doc."]},
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "First?"},
                      {"role": "assistant", "content": "One."},
                      {"role": "user", "content": "Second?"},
                      {"role": "assistant", "content": "Two."}]},
    ])
    report = load_jsonl(path)
    assert not report.problems
    first, chat = report.examples
    assert first.sources == ("X is Y, says the doc.",) and first.line == 1
    assert chat.prompt == "Second?" and chat.response == "Two." and chat.line == 2
    assert chat.render_prompt() == ("Answer the question briefly.\nBe brief.\n"
                                    "Question: First?\nAnswer: One.\n"
                                    "Question: Second?\nAnswer:")


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"prompt": "ok?", "response": "ok."},
        '{"prompt": "broken", ',
        {"prompt": "no response"},
        {"prompt": 3, "response": "x"},
        {"prompt": "p", "response": "r", "sources": "single source is fine"},
        {"prompt": "p2", "response": "r2", "sources": [1, 2]},
        [1, 2, 3],
        {"messages": [{"role": "user", "content": "u"}]},
        {"messages": [{"role": "robot", "content": "u"}, {"role": "assistant", "content": "a"}]},
        "",
        {"prompt": "  ", "response": "empty prompt"},
        {"prompt": "ok?", "response": "ok."},
    ])
    report = load_jsonl(path)
    assert [e.line for e in report.examples] == [1, 5]
    by_line = {p.line: p for p in report.problems}
    assert by_line[2].kind == "json"
    assert by_line[3].kind == "field" and "response" in by_line[3].message
    assert by_line[4].kind == "type" and "prompt" in by_line[4].message
    assert by_line[6].kind == "type" and "source 1" in by_line[6].message
    assert by_line[7].kind == "type"
    assert by_line[8].kind == "field" and "assistant" in by_line[8].message
    assert by_line[9].kind == "field" and "robot" in by_line[9].message
    assert by_line[11].kind == "empty"
    assert by_line[12].kind == "duplicate" and "line 1" in by_line[12].message
    assert report.lines_read == 11  # the blank line is not counted
    assert "line 2:" in report.summary()
    json.dumps(report.to_json())  # serialisable for the GUI


def test_empty_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(UserError, match="is empty"):
        load_jsonl(path)
    with pytest.raises(UserError, match="does not exist"):
        load_jsonl(tmp_path / "missing.jsonl")
    only_bad = write_jsonl(tmp_path / "bad.jsonl", ["nope", {"x": 1}])
    with pytest.raises(UserError, match="no usable example"):
        load_jsonl(only_bad)


def test_personal_data_is_replaced_and_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pii.jsonl", [
        {"prompt": "How do I reach Anna?",
         "response": "Write to anna.berg@example.org or call +49 30 12345678.",
         "sources": ["Payments to IBAN DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111."]},
        {"prompt": "What did we pay?", "response": "in 2023 we paid 1499 euros for page 12"},
    ])
    report = load_jsonl(path)
    first, second = report.examples
    assert first.response == "Write to [EMAIL] or call [PHONE]."
    assert first.sources == ("Payments to IBAN [IBAN], card [CARD].",)
    assert second.response == "in 2023 we paid 1499 euros for page 12"
    assert report.pii.counts == {"email": 1, "iban": 1, "card": 1, "phone": 1}
    assert report.pii.examples == [0]
    fields = {r.field for r in report.pii.removals}
    assert fields == {"response", "sources[0]"}
    assert "anna" not in json.dumps(report.to_json())  # values are never reported
    kept = load_jsonl(path, scrub_pii=False)
    assert "anna.berg@example.org" in kept.examples[0].response
    assert not kept.pii.removals


@pytest.mark.parametrize("text", [
    "in 2023 we paid 1499 euros for page 12",
    "Dates: 2023-05-01, 01.05.2023, 05/01/2023 and 1.5.23 at 10:30.",
    "Total 1,499.00 EUR; 12 345 678 inhabitants; version 3.12.4; ISBN 978-3-16-148410-0",
    "Order 1234567890123456 and reference 4111-1111-1111-1112 (fails Luhn).",
    "See pages 120-135, call number 0001, room 101, hotel 1234567.",
    "GB00WEST12345698765432 is not a valid IBAN.",
])
def test_no_false_positives(text: str) -> None:
    assert pii.scrub(text) == (text, {})


@pytest.mark.parametrize(("text", "kind"), [
    ("mail: first.last+tag@sub.example.co.uk", "email"),
    ("GB82 WEST 1234 5698 7654 32", "iban"),
    ("FR1420041010050500013M02606", "iban"),
    ("5500-0000-0000-0004", "card"),
    ("378282246310005", "card"),
    ("+1 (555) 123-4567", "phone"),
    ("(030) 1234 5678", "phone"),
    ("555-123-4567", "phone"),
    ("0171 1234567", "phone"),
    ("Tel.: 1234567", "phone"),
])
def test_detects(text: str, kind: str) -> None:
    cleaned, counts = pii.scrub(text)
    assert counts == {kind: 1}, cleaned
    assert pii.PLACEHOLDERS[kind] in cleaned


def test_checks_report_long_examples_and_small_sets() -> None:
    examples = [Example(f"q{i}?", "word " * (i * 10 + 1)) for i in range(3)]
    report = prepare(examples, token_counter=lambda text: len(text.split()), max_length=20)
    kinds = [w.kind for w in report.warnings]
    assert kinds.count("too_long") == 1 and "too_few" in kinds
    assert report.token_counts is not None and len(report.token_counts) == 3


def test_split_is_deterministic_and_sized() -> None:
    examples = [Example(f"question {i}?", f"answer {i}.", line=i + 1) for i in range(20)]
    a = split_examples(examples, seed=1)
    b = split_examples(list(reversed(examples)), seed=1)
    assert len(a.validation) == 3 and len(a.train) == 17
    assert {e.line for e in a.validation} == {e.line for e in b.validation}
    assert {e.line for e in split_examples(examples, seed=2).validation} != \
        {e.line for e in a.validation}
    rows = a.assignment
    assert sorted(r["line"] for r in rows) == list(range(1, 21))
    assert sum(r["set"] == "validation" for r in rows) == 3
    five = split_examples(examples[:5])
    assert len(five.validation) == 1
    few = split_examples(examples[:4])
    assert few.validation == [] and "without a validation set" in few.note


def test_examples_from_conversations() -> None:
    conversations = [
        {"question": "Good one?", "answer": "Yes [1].", "sources": ["S1"], "rating": "good",
         "correction": None},
        {"question": "Bad one?", "answer": "Wrong.", "sources": [], "rating": "bad",
         "correction": "Right."},
        {"question": "Unrated?", "answer": "Meh.", "sources": [], "rating": None,
         "correction": None},
        {"question": "Bad, uncorrected?", "answer": "No.", "rating": "bad"},
        {"question": "Corrected but unrated", "answer": "x", "correction": "Fixed."},
    ]
    examples = examples_from_conversations(conversations)
    assert [(e.prompt, e.response, e.sources) for e in examples] == [
        ("Good one?", "Yes [1].", ("S1",)),
        ("Bad one?", "Right.", ()),
        ("Corrected but unrated", "Fixed.", ()),
    ]
    report = prepare(examples)
    assert len(report.examples) == 3


def test_encoding_masks_the_prompt_and_cuts_long_prompts_from_the_start() -> None:
    from assistant.training.batches import IGNORE_INDEX, encode_example

    def tokenize(text: str) -> list[int]:
        return [len(word) for word in text.split()]  # one "token" per word

    example = Example("a b c", "x y", ("s " * 40,))
    full = encode_example(tokenize, 1, 2, example, 1000)
    n_prompt = len(tokenize(example.render_prompt()))
    assert full.input_ids[0] == 1 and full.input_ids[-1] == 2 and not full.truncated
    assert full.labels[:1 + n_prompt] == [IGNORE_INDEX] * (1 + n_prompt)
    assert full.labels[1 + n_prompt:] == full.input_ids[1 + n_prompt:]  # response + EOS
    cut = encode_example(tokenize, 1, 2, example, 32)
    assert cut.truncated and len(cut.input_ids) == 32
    assert cut.input_ids[0] == 1 and cut.input_ids[-3:] == full.input_ids[-3:]
    assert cut.input_ids[1:-3] == full.input_ids[-(32 - 1):-3]  # the prompt's end is kept
    long_answer = Example("q", "w " * 100)
    both = encode_example(tokenize, 1, 2, long_answer, 40)
    assert len(both.input_ids) == 40 and both.labels.count(IGNORE_INDEX) >= 1 + 3


def test_schedule_and_data_order() -> None:
    from assistant.training.train import (
        LinearWarmupDecay,
        TrainConfig,
        _step_batches,
        steps_per_epoch,
    )

    config = TrainConfig(batch_size=3, grad_accumulation=2, epochs=2, seed=5)
    assert steps_per_epoch(13, config) == 3  # 5 batches of <= 3, 2 per step
    seen = [i for step in range(3) for batch in _step_batches(13, config, step) for i in batch]
    assert sorted(seen) == list(range(13))
    second = [i for step in range(3, 6) for b in _step_batches(13, config, step) for i in b]
    assert sorted(second) == list(range(13)) and second != seen
    assert _step_batches(13, config, 4) == _step_batches(13, config, 4)  # pure function
    lr = LinearWarmupDecay(warmup=2, total=10)
    factors = [lr(s) for s in range(10)]
    assert factors[0] > 0 and factors[2] == 1.0 and factors[-1] > 0
    assert factors[:3] == sorted(factors[:3]) and factors[2:] == sorted(factors[2:], reverse=True)
