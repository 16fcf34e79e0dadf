"""Citations: `[n]` markers mapped to the passages shown, or inferred when the model wrote none.

The 270M model almost never writes `[n]` itself, and when it does the number is often wrong.
So when the model cites nothing, each answer sentence is attributed to the passage holding most
of its content words and every number in it, and that marker is added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.search import Hit

_WORD = re.compile(r"\w+", re.UNICODE)

@dataclass(frozen=True)
class Citation:
    n: int
    hit: Hit

    def to_json(self) -> dict[str, Any]:
        return hit_json(self.n, self.hit)


def hit_json(n: int, hit: Hit) -> dict[str, Any]:
    return {"n": n, "path": hit.path, "page": hit.page, "place": hit.place, "start": hit.start,
            "end": hit.end, "text": hit.text}



MARKER_GROUP = re.compile(r"(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_NUMBER = re.compile(r"\d+")


def parse_citations(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Map `[n]`, `[n, m]` and `[n][m]` markers to `hits` (numbered from 1).

    Numbers that point at no passage are removed from the text (a marker left with none is
    removed whole). Citations come in order of first mention, each passage once.
    """
    cited: dict[int, Citation] = {}

    def replace(match: re.Match[str]) -> str:
        valid = []
        for number in (int(n) for n in _NUMBER.findall(match.group(0))):
            if 1 <= number <= len(hits) and number not in valid:
                valid.append(number)
                cited.setdefault(number, Citation(number, hits[number - 1]))
        return "".join(f"[{n}]" for n in valid)

    cleaned = MARKER_GROUP.sub(replace, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # "fact [9]." -> "fact."
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, list(cited.values())


_STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for",
    "from", "with", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its",
    "this", "that", "these", "those", "there", "here", "he", "she", "they", "them", "his",
    "her", "their", "i", "you", "your", "we", "our", "me", "my", "do", "does", "did", "not",
    "no", "yes", "so", "than", "then", "too", "very", "can", "could", "should", "would",
    "will", "shall", "may", "might", "must", "have", "has", "had", "what", "which", "who",
    "whom", "whose", "when", "where", "why", "how", "about", "into", "over", "under", "also",
    "just", "only", "any", "all", "some", "each", "more", "most", "other", "such", "own",
    "same", "up", "down", "out", "off", "again", "further",
))


_NUMBER_WORDS = {w: str(i) for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve"))}


def _normal(word: str) -> str:
    """A crude stem, so "Tuesday"/"Tuesdays" and "two"/"2" count as the same word."""
    word = word.lower()
    word = _NUMBER_WORDS.get(word, word)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    return {_normal(w) for w in _WORD.findall(text) if w.lower() not in _STOPWORDS}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def infer_citations(text: str, hits: Sequence[Hit], *,
                    min_support: float = 0.5) -> tuple[str, list[Citation]]:
    """Attribute each sentence of an uncited answer to the passage that supports it best.

    Support is the share of the sentence's content words found in the passage; a sentence
    gets the marker of its best passage when that share is at least `min_support`. A number
    the passage does not contain rules the passage out: "15 days" is not supported by a
    passage saying "25 days", however many other words they share.
    """
    passage_words = [content_words(hit.text) for hit in hits]
    sentences = _SENTENCE_END.split(text.strip())
    cited: dict[int, Citation] = {}
    out = []
    for sentence in sentences:
        words = content_words(sentence)
        best_n, best = 0, 0.0
        numbers = {w for w in words if w.isdigit()}
        for n, pw in enumerate(passage_words, start=1):
            if not words or not numbers <= pw:
                continue
            support = len(words & pw) / len(words)
            if support > best:
                best_n, best = n, support
        if best_n and best >= min_support:
            cited.setdefault(best_n, Citation(best_n, hits[best_n - 1]))
            stripped = sentence.rstrip()
            if stripped[-1:] in ".!?":
                sentence = f"{stripped[:-1]} [{best_n}]{stripped[-1]}"
            else:
                sentence = f"{stripped} [{best_n}]"
        out.append(sentence)
    return " ".join(out), list(cited.values())
