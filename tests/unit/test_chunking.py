"""Chunks fit the embedding window, overlap 10-20 percent, and keep exact offsets."""

from __future__ import annotations

import itertools
import random

import pytest

from assistant.ingest.chunking import MODEL_WINDOW, SPECIAL_TOKENS, Chunker


def _prose(seed: int, paragraphs: int = 8) -> str:
    rng = random.Random(seed)
    words = ["the", "kettle", "warranty", "lasts", "months", "support", "hotline", "opens", "customers", "descaling", "water", "filter", "replacement", "cartridge", "boils", "quietly", "stainless", "steel", "base"]
    out = []
    for _ in range(paragraphs):
        sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 30))).capitalize()
                     + rng.choice(".!?") for _ in range(rng.randint(1, 9))]
        out.append(" ".join(sentences))
    return "\n\n".join(out)


@pytest.mark.parametrize("seed", range(5))
def test_chunks_fit_window_and_keep_offsets(seed: int) -> None:
    chunker = Chunker()
    text = _prose(seed)
    chunks = chunker.chunk_page(text, page=7)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.page == 7
        assert text[chunk.start:chunk.end] == chunk.text
        # measured independently with the model's tokenizer, special tokens included
        assert chunker.count(chunk.text) + SPECIAL_TOKENS <= MODEL_WINDOW
        assert chunker.count(chunk.text) <= chunker.max_tokens
    # the chunks cover the whole text, in order
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text.rstrip())
    for a, b in itertools.pairwise(chunks):
        assert b.start <= a.end, "a gap between chunks would lose text"
        assert b.start > a.start


def test_overlap_between_10_and_20_percent() -> None:
    chunker = Chunker(max_tokens=120, overlap=0.15)
    text = _prose(42, paragraphs=20)
    chunks = chunker.chunk_page(text)
    ratios = []
    for a, b in itertools.pairwise(chunks):
        shared = chunker.count(text[b.start:a.end]) if b.start < a.end else 0
        ratios.append(shared / a.tokens)
    assert ratios
    for r in ratios:
        assert 0.05 <= r <= 0.25, ratios
    median = sorted(ratios)[len(ratios) // 2]
    assert 0.10 <= median <= 0.20


def test_prefers_sentence_and_paragraph_ends() -> None:
    chunker = Chunker(max_tokens=60)
    text = _prose(3, paragraphs=12)
    chunks = chunker.chunk_page(text)
    ends_at_sentence = sum(1 for c in chunks[:-1] if c.text.rstrip()[-1] in ".!?")
    assert ends_at_sentence >= 0.8 * (len(chunks) - 1)


def test_one_huge_sentence_is_split_at_words() -> None:
    chunker = Chunker(max_tokens=50)
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunker.chunk_page(text)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunker.count(chunk.text) <= 50
        assert not chunk.text.startswith(" ")
        assert text[chunk.start - 1] == " " if chunk.start else True


def test_empty_and_whitespace() -> None:
    chunker = Chunker()
    assert chunker.chunk_page("") == []
    assert chunker.chunk_page(" \n\n \t") == []


def test_unicode_offsets() -> None:
    chunker = Chunker(max_tokens=20)
    text = "Café au lait coûte 3 €. Straße führt nach München. " * 10
    for chunk in chunker.chunk_page(text):
        assert text[chunk.start:chunk.end] == chunk.text


def test_rejects_windows_the_model_cannot_take() -> None:
    with pytest.raises(ValueError):
        Chunker(max_tokens=300)
