"""Text helpers for showing passages (no Qt here): the cited span, and finding a passage again.

* `cited_span(passage, answer, n)` picks the sentence(s) of a passage that the answer's
  sentences marked `[n]` lean on most, so the sources pane can highlight them.
* `locate(passage, text)` finds a passage inside another rendering of the same document
  (PDFium's page text differs from our extractor's in whitespace, hyphenation and ligatures),
  comparing letters and digits only and mapping the match back to `text`'s offsets.
* `link_citations(markdown, known)` turns `[n]` markers into `cite:n` links.
* `lay_out(pages)` puts a document's places under their headings for the text view.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from assistant.answer.beside import spans_between
from assistant.ingest import places

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n{2,}|\n(?=\s*[-*•\d])")
_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_STOP = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "at", "for", "by", "with", "and", "or", "but", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "as", "from", "into", "than", "then", "there", "their", "they", "them", "you", "your", "we", "our", "not", "no", "yes", "do", "does", "did", "has", "have", "had", "can", "could", "will", "would", "should", "may", "might", "must", "which", "who", "whom", "what", "when", "where", "why", "how", "if", "so", "such", "also", "any", "all", "each", "per"])


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and (len(w) > 1 or w.isdigit())}


def sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence (or list item / paragraph) of `text`, trimmed."""
    return spans_between(text, _SENTENCE_END)


def citing_text(answer: str, n: int) -> str:
    """The sentences of `answer` that carry the marker [n] (all of it when none does)."""
    picked = []
    for s, e in sentences(answer):
        sentence = answer[s:e]
        for m in _MARKER.finditer(sentence):
            numbers = {int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))}
            if n in numbers:
                picked.append(_MARKER.sub(" ", sentence))
                break
    return " ".join(picked) if picked else _MARKER.sub(" ", answer)


def cited_span(passage: str, reference: str, *, max_sentences: int = 2) -> tuple[int, int] | None:
    """The [start, end) of the passage sentences that best match `reference`, or None.

    Up to `max_sentences` consecutive sentences are taken when the next one also matches.
    """
    ref = content_words(reference)
    if not ref or not passage.strip():
        return None
    spans = sentences(passage)
    if not spans:
        return None
    scores = []
    for s, e in spans:
        sent = content_words(passage[s:e])
        overlap = ref & sent
        # favour rare, specific tokens: digits and long words count double
        score = sum(2.0 if (w.isdigit() or len(w) > 6) else 1.0 for w in overlap)
        scores.append(score / (1.0 + 0.02 * len(sent)))
    best = max(range(len(spans)), key=lambda i: scores[i])
    if scores[best] <= 0:
        return None
    first = last = best
    while last - first + 1 < max_sentences:
        after = last + 1 if last + 1 < len(spans) and scores[last + 1] >= 0.6 * scores[best] \
            else None
        before = first - 1 if first > 0 and scores[first - 1] >= 0.6 * scores[best] else None
        if after is None and before is None:
            break
        if after is not None and (before is None or scores[after] >= scores[before]):
            last = after
        else:
            assert before is not None
            first = before
    return spans[first][0], spans[last][1]


def question_coverage(passage: str, question: str) -> float:
    """How much of the question's content the passage's best matching sentences hold (0-1).

    On a refusal this tells the sources pane whether to say that none of the nearest passages
    matches or, honestly, that the closest one may hold the answer."""
    asked = {_stem(w) for w in content_words(question)}
    span = cited_span(passage, question)
    if not asked or span is None:
        return 0.0
    return len(asked & {_stem(w) for w in content_words(passage[span[0]:span[1]])}) / len(asked)


def _stem(word: str) -> str:
    """A crude stem, enough to match "terminate" with "termination"."""
    return word[:6] if len(word) > 6 and not word.isdigit() else word


def _fold(text: str) -> tuple[str, list[int]]:
    """Lower-cased letters and digits of `text`, and for each the index it came from."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isalnum():
            for c in unicodedata.normalize("NFKD", ch.lower()):
                if c.isalnum():
                    chars.append(c)
                    index.append(i)
    return "".join(chars), index


def locate(passage: str, text: str, *, anchor: int = 48) -> tuple[int, int] | None:
    """Where `passage` lies in `text` as [start, end) offsets of `text`, or None.

    Exact on letters and digits; if the whole passage is not found (a different extractor
    split a word or dropped a ligature), its head and tail are looked for separately.
    """
    needle, _ = _fold(passage)
    hay, index = _fold(text)
    if not needle or not hay:
        return None
    at = hay.find(needle)
    if at >= 0:
        return index[at], index[at + len(needle) - 1] + 1
    head = needle[:anchor]
    tail = needle[-anchor:]
    start = hay.find(head)
    if start < 0:
        for size in (anchor // 2, anchor // 4):
            start = hay.find(needle[:size]) if size >= 8 else -1
            if start >= 0:
                break
    if start < 0:
        return None
    end = hay.find(tail, start)
    if end >= 0:
        end += len(tail)
    else:
        end = min(len(hay), start + len(needle))
    return index[start], index[end - 1] + 1


def renumber_citations(answer: str, citations: list[dict[str, Any]],
                       ) -> tuple[str, list[dict[str, Any]]]:
    """Number an answer's citations 1, 2, 3 in the order the answer first cites them.

    The model numbers passages in the order it was given them, so an answer may cite only [2]
    and [5]; the reader sees [1] and [2]. Markers are rewritten in the text and in the
    citations alike (display only; the passages are the same). Citations the text never
    marks keep their order after the marked ones."""
    known = [int(c["n"]) for c in citations if c.get("n") is not None]
    order: list[int] = []
    for m in _MARKER.finditer(answer):
        for x in re.split(r"\s*[,;]\s*", m.group(1)):
            n = int(x)
            if n in known and n not in order:
                order.append(n)
    order += [n for n in known if n not in order]
    new = {old: i for i, old in enumerate(order, 1)}
    if all(old == n for old, n in new.items()):
        return answer, citations

    def repl(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        return "[" + ", ".join(str(new.get(n, n)) for n in numbers) + "]"

    renumbered = [dict(c, n=new[int(c["n"])]) if c.get("n") is not None else c
                  for c in citations]
    renumbered.sort(key=lambda c: int(c.get("n") or 0))
    return _MARKER.sub(repl, answer), renumbered


def link_citations(markdown: str, known: Collection[int]) -> str:
    """Replace `[n]` (and `[n, m]`) markers whose numbers are known by `cite:n` links."""
    def repl(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        if not all(n in known for n in numbers):
            return m.group(0)
        return "".join(f"[\\[{n}\\]](cite:{n})" for n in numbers)

    return _MARKER.sub(repl, markdown)


@dataclass
class Layout:
    """A document's places as the viewer's one text: where each place's text starts (by its
    page number, as chunks cite it) and where the headings are, to set them in bold."""

    text: str
    offset_of: dict[int | None, int]
    headings: list[tuple[int, int]]
    label_of: dict[int | None, str]


def lay_out(pages: list[tuple[int | None, str | None, str]]) -> Layout:
    """The pages (number, place label, text), each under its heading: the place in words
    ("Slide 3 — Quarterly results", "Sheet Sales, A1:D12") or "— Page 4 —". A sheet's text
    opens with its place already, so that line is its heading."""
    separate = len(pages) > 1 or any(number is not None or label for number, label, _ in pages)
    parts: list[str] = []
    offset_of: dict[int | None, int] = {}
    headings: list[tuple[int, int]] = []
    label_of: dict[int | None, str] = {}
    pos = 0
    for number, label, text in pages:
        head = places.heading(label) if label else (
            f"— Page {number} —" if number is not None else "")
        if label:
            label_of.setdefault(number, label)
        if head and text.startswith(head):
            headings.append((pos, pos + len(head)))
        elif head:
            headings.append((pos, pos + len(head)))
            parts.append(head + "\n\n")
            pos += len(head) + 2
        offset_of.setdefault(number, pos)
        parts.append(text)
        pos += len(text)
        if separate:
            parts.append("\n\n")
            pos += 2
    return Layout("".join(parts), offset_of, headings, label_of)


def word_boxes(passage: str, text: str, words: list[tuple[str, tuple[int, int, int, int]]],
               size: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Where `passage` sits on a scanned page, from OCR's words: the boxes of the words it
    covers, as fractions of the image (left, top, right, bottom). `text` is OCR's text of the
    page, `words` its words in reading order with their pixel boxes, `size` the image's."""
    width, height = size
    found = locate(passage, text) if width and height else None
    if found is None:
        return []
    start, end = found
    boxes = []
    pos = 0
    for word, (left, top, right, bottom) in words:
        at = text.find(word, pos)
        if at < 0:
            continue
        pos = at + len(word)
        if at < end and pos > start:
            boxes.append((left / width, top / height, right / width, bottom / height))
    return boxes
