"""Short windows of a passage: one or two of its sentences.

A user's passages are often short (a note, a slide, a table row) where SQuAD's are whole
paragraphs; the reader's and the adapter's training data cut some passages down to a window
so that both learn to judge and answer from a sentence or two as well.
"""

from __future__ import annotations

import random
import re

_SENTENCE = re.compile(r"[^.!?\s][^.!?]*(?:[.!?]+[\"')\]\u201d]*(?=\s|$)|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of `text`'s sentences (a full stop, ! or ? followed by a space ends
    one), in order; a piece under 25 characters ("Dr.", "No. 5.") joins the next."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for m in _SENTENCE.finditer(text):
        start = m.start() if start is None else start
        if m.end() - start >= 25:
            spans.append((start, m.end()))
            start = None
    if start is not None:
        if spans:
            spans[-1] = (spans[-1][0], len(text.rstrip()))
        else:
            spans.append((start, len(text.rstrip())))
    return spans


def short_window(text: str, at: int | None, rng: random.Random, *, avoid: tuple[int, int]
                 | None = None) -> tuple[int, int] | None:
    """One or two consecutive sentences of `text`: covering character `at` when given, else
    any that do not overlap `avoid`. None when the text has no such sentences."""
    spans = sentence_spans(text)
    if len(spans) < 2:
        return None
    if at is not None:
        i = next((k for k, (a, b) in enumerate(spans) if a <= at < b), None)
        if i is None:
            return None
    else:
        free = [k for k, (a, b) in enumerate(spans)
                if avoid is None or b <= avoid[0] or a >= avoid[1]]
        if not free:
            return None
        i = rng.choice(free)
    j = i
    if rng.random() < 0.5:
        j = i + 1 if i + 1 < len(spans) else i
        if avoid is not None and not (spans[j][1] <= avoid[0] or spans[j][0] >= avoid[1]):
            j = i
    lo, hi = min(i, j), max(i, j)
    return spans[lo][0], spans[hi][1]
