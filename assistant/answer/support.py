"""The support check: every answer sentence must be backed by the passage it cites.

A sentence is supported by a passage when every number in it appears in the passage and at
least half of its content words do (the same test that infers missing citations, now applied
to the model's own markers too: a 270M model cites the wrong passage often enough). Sentences
without support are dropped. When nothing is left, or the model wrote nothing, the answer
becomes a labelled quote: the passage sentence that best matches the question, so the user
still gets the words of the documents, never "the model gave no answer".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.citations import MARKER_GROUP, Citation, content_words
from assistant.search import Hit

MIN_SUPPORT = 0.5
QUOTE_LEAD = "The documents don't say this in so many words; the closest passage says:"

_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)", re.S)
_MARKER_NUMBERS = re.compile(r"\d+")
_NUMERIC_QUESTION = re.compile(
    r"\b(how (long|many|much|often|old|far|big|large|high|tall|heavy|fast)|when|what "
    r"(year|time|date|age|temperature|percentage|number)|which year)\b", re.IGNORECASE)


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage (0 when a number is not)."""
    words = content_words(MARKER_GROUP.sub("", sentence))
    if not words:
        return 1.0
    found = content_words(passage)
    if not {w for w in words if w.isdigit()} <= found:
        return 0.0
    return len(words & found) / len(words)


_WORD = re.compile(r"\w+")


def plain_words(text: str) -> str:
    """The text's words in lower case, space-separated and padded (for whole-phrase search:
    `plain_words(a) in plain_words(b)` when b holds a's words in a row)."""
    return f" {' '.join(_WORD.findall(text.lower()))} "


def verbatim(sentence: str, hits: Sequence[Hit]) -> list[int]:
    """The numbers of the passages holding the sentence's words in a row, as one phrase."""
    words = plain_words(MARKER_GROUP.sub("", sentence))
    if not words.strip():
        return []
    return [n for n, hit in enumerate(hits, 1) if words in plain_words(hit.text)]


def _sentences(text: str) -> list[str]:
    return [m.group(0).strip() for m in _SENTENCE.finditer(text) if m.group(0).strip()]


@dataclass(frozen=True)
class Checked:
    text: str
    citations: list[Citation]
    dropped: list[str]  # sentences removed for want of support


def check(text: str, hits: Sequence[Hit]) -> Checked:
    """Keep the sentences a consulted passage supports, each citing the passages that do.

    A sentence's own markers are kept where their passage supports it; a marker pointing at
    a passage that does not is moved to the best supporting passage (the 270M model often
    cites the wrong number); a sentence no passage supports is dropped. Words found in a row
    outweigh words found apart: where another passage holds the sentence as one phrase and
    the marked one does not ("14 km" [1] when [1] says "14 bunks" and "12 km", and [2] says
    "14 km"), the marker moves there.
    """
    kept: list[str] = []
    dropped: list[str] = []
    cited: dict[int, Citation] = {}
    for sentence in _sentences(text):
        body = re.sub(r"\s+([.,;:!?])", r"\1", MARKER_GROUP.sub("", sentence)).strip()
        if not content_words(body):
            if body.strip(" .!?"):
                kept.append(sentence)  # "Yes." and the like: nothing to check
            continue
        marked = [int(n) for group in MARKER_GROUP.findall(sentence)
                  for n in _MARKER_NUMBERS.findall(group) if 1 <= int(n) <= len(hits)]
        backing = [n for n in dict.fromkeys(marked)
                   if support(body, hits[n - 1].text) >= MIN_SUPPORT]
        whole = verbatim(body, hits)
        if whole and not set(backing) & set(whole):
            backing = whole[:1]
        if not backing:
            scores = [(support(body, hit.text), -n, n) for n, hit in enumerate(hits, 1)]
            best = max(scores, default=(0.0, 0, 0))
            if best[0] < MIN_SUPPORT:
                dropped.append(body)
                continue
            backing = [best[2]]
        end = body[-1] if body[-1:] in ".!?" else ""
        core = body[:-1].rstrip() if end else body
        kept.append(f"{core} {''.join(f'[{n}]' for n in backing)}{end}")
        for n in backing:
            cited.setdefault(n, Citation(n, hits[n - 1]))
    return Checked(" ".join(kept), sorted(cited.values(), key=lambda c: c.n), dropped)


@dataclass(frozen=True)
class Quote:
    n: int  # the passage's number among the consulted ones
    text: str  # the quoted sentence
    start: int  # its character offsets within the passage text
    end: int


def best_quote(question: str, hits: Sequence[Hit], hint: str = "") -> Quote | None:
    """The passage sentence sharing most content words with the question (and the hint).

    Scored by shared words over the square root of the sentence's length, so a short exact
    sentence beats a long one that happens to repeat a word; earlier passages win ties.
    """
    wanted = content_words(question) | content_words(hint)
    # The answer type a question expects: "how long", "when", ... are answered by a number.
    wants_number = bool(_NUMERIC_QUESTION.search(question))
    best: tuple[float, Quote] | None = None
    for n, hit in enumerate(hits, start=1):
        for match in _SENTENCE.finditer(hit.text):
            sentence = match.group(0).strip()
            words = content_words(sentence)
            if len(words) < 3:
                continue
            score = len(words & wanted) / math.sqrt(len(words)) - 0.01 * n
            if wants_number and any(ch.isdigit() for ch in sentence):
                score += 0.5
            if best is None or score > best[0]:
                offset = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
                best = (score, Quote(n, sentence, offset, offset + len(sentence)))
    if best is None or best[0] <= 0:
        return Quote(1, hits[0].text.strip(), 0, len(hits[0].text)) if hits else None
    return best[1]


def quoted_answer(quote: Quote) -> str:
    return f"{QUOTE_LEAD} {span_answer(quote)}"


def span_answer(quote: Quote) -> str:
    """The reader's span given as the answer: its words in quotes, cited."""
    flat = " ".join(quote.text.split())
    return f"\u201c{flat}\u201d [{quote.n}]"


_SPAN_ANSWER = re.compile(r"\u201c[^\u201c\u201d]+\u201d \[\d+\]", re.S)


def is_span_answer(text: str) -> bool:
    """Whether a (saved) answer text has the form `span_answer` gives it."""
    return _SPAN_ANSWER.fullmatch(text.strip()) is not None
