"""Where in a passage the answer stands: the sentence that holds it and the one before.

The checks on what a question asks (`negation`, `opposites`) read only this much of a cited
passage, because a passage of several sentences says "not" or "less" about other things too.
The sentence before is read as well: "Never use vinegar on the lid seal, because it hardens
the rubber" may be two sentences, and the reason asked for stands in the second.
"""

from __future__ import annotations

import re

from assistant.answer.citations import content_words

# up to a full stop, "!" or "?" before a space ("1.6 litres" goes on), or to the line's end
# (one mark before the space, not a run of them: "[.!?]+" backtracked quadratically on a line
# of dots)
_SENTENCE = re.compile(r"[^\n]+?(?:[.!?](?=\s)|$)", re.MULTILINE)


def spans_between(text: str, breaks: re.Pattern[str]) -> list[tuple[int, int]]:
    """The [start, end) of each piece of `text` between the matches of `breaks`, trimmed of
    whitespace, empty pieces left out (a sentence splitter's common part: the pattern says
    where one ends)."""
    cuts = [(m.start(), m.end()) for m in breaks.finditer(text)]
    out = []
    for a, b in zip([0] + [end for _, end in cuts], [start for start, _ in cuts] + [len(text)],
                    strict=True):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def sentences(text: str) -> list[str]:
    """The passage's sentences (and lines: a list's items end without a full stop)."""
    return [s for s in (m.group().strip() for m in _SENTENCE.finditer(text)) if s]


def _holding(words: str, parts: list[str]) -> list[int]:
    """The sentences that hold the answer: those holding its words as they stand, else those
    sharing the most of its content words (a written answer rephrases its passage)."""
    flat = " ".join(words.split()).strip(" “”\"'.").lower()
    if flat:
        found = [i for i, s in enumerate(parts) if flat in " ".join(s.split()).lower()]
        if found:
            return found
    wanted = content_words(words)
    shared = [len(wanted & content_words(s)) for s in parts]
    best = max(shared, default=0)
    return [i for i, n in enumerate(shared) if n == best] if best else []


def beside_answer(words: str, passage: str) -> list[str]:
    """For each sentence of `passage` holding the answer `words`, that sentence joined to the
    one before; the whole passage when none holds any of its words."""
    parts = sentences(passage)
    return [" ".join(parts[max(0, i - 1):i + 1]) for i in _holding(words, parts)] or [passage]
