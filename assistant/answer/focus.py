"""Passage focus: the sentences of a passage that bear on the question, within a token budget.

Prefill is most of an answer's time on a CPU (hundreds of prompt tokens per passage), and
with a large model it takes many seconds. With focus on, each passage the model sees is cut
down to its sentences that share the most words with the question, kept in their
original order, with "…" where sentences were left out. Only what the model reads changes:
the citation, the highlight and the support check still use the whole passage.

A sentence's score is the sum, over the question's content words it contains, of a weight
that favours rare words (longer, capitalised or numeric words weigh more); a word matches on
its first five letters, so "invented" matches "invention". Ties go to the sentence nearer the
best one, so the answer's neighbours come along.
"""

from __future__ import annotations

import re

from assistant.answer.citations import content_words

ELLIPSIS = "…"
# Words of each passage the model reads; 0 (the default) gives whole passages. Counted in
# words, not tokens, so training examples (built without a model at hand) and answers focus
# identically. Measured with the embedded model and its adapter on 70 questions of the SQuAD
# training articles: 75 words cut the prompt from 727 to 528 tokens (p50) and the answer
# from 1.63 s to 1.10 s, but "contains the gold answer" fell from 56.2% to 53.1% (75 words
# keep the gold answer in 97.5% of SQuAD chunks). The embedded model answers within 2 s with
# whole passages, so focusing is a setting for large models, whose prefill is slow.
FOCUS_WORDS = 0
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"'\u201d)\]]*(?=\s|$)|$)", re.S)
_WORD = re.compile(r"\w+", re.UNICODE)


def _key(word: str) -> str:
    return word[:5]


def _weight(word: str) -> float:
    if word.isdigit():
        return 2.0
    return 1.0 + min(len(word), 10) / 10


def sentences(text: str) -> list[str]:
    return [m.group(0).strip() for m in _SENTENCE.finditer(" ".join(text.split()))
            if m.group(0).strip()]


def sentence_scores(question: str, parts: list[str]) -> list[float]:
    """How much of the question each sentence covers (rarer words count more)."""
    asked: dict[str, float] = {}
    for word in content_words(question):
        asked[_key(word)] = max(asked.get(_key(word), 0.0), _weight(word))
    capitals = {_key(w.lower()) for w in _WORD.findall(question)[1:] if w[:1].isupper()}
    scores = []
    for part in parts:
        found = {_key(w) for w in content_words(part)}
        scores.append(sum(weight + (0.5 if key in capitals else 0.0)
                          for key, weight in asked.items() if key in found))
    return scores


def _count(text: str) -> int:
    return len(text.split())


def focus(question: str, text: str, max_words: int | None = None) -> str:
    """`text` cut to the sentences that cover `question` best, within `max_words` words.

    `max_words` defaults to FOCUS_WORDS; 0 (or less) turns focusing off: the whole passage.
    """
    max_words = FOCUS_WORDS if max_words is None else max_words
    text = " ".join(text.split())
    if max_words <= 0 or _count(text) <= max_words:
        return text
    parts = sentences(text)
    if len(parts) <= 1:
        return text  # one long sentence: the prompt builder shortens it if it must
    scores = sentence_scores(question, parts)
    best = max(range(len(parts)), key=lambda i: (scores[i], -i))
    order = sorted(range(len(parts)), key=lambda i: (-scores[i], abs(i - best), i))
    chosen: set[int] = set()
    for i in order:
        trial = chosen | {i}
        if _count(_join(parts, trial)) <= max_words or not chosen:
            chosen = trial
    return _join(parts, chosen)


def _join(parts: list[str], chosen: set[int]) -> str:
    out: list[str] = []
    last = -1
    for i in sorted(chosen):
        if (out and i != last + 1) or (not out and i > 0):
            out.append(ELLIPSIS)
        out.append(parts[i])
        last = i
    if last < len(parts) - 1:
        out.append(ELLIPSIS)
    return " ".join(out)
