"""A question that asks about one side of a pair ("the lowest stage", "a public member")
needs a passage that says that side, not only its opposite.

"Who wrote that imperialism is the lowest stage of capitalism?" was answered "Russian leader
Lenin", from a sentence calling it "the highest stage"; "It is always possible to model
forces as being due to what?" with "gradient of potentials", from "For certain physical
scenarios, it is impossible to model forces as being due to gradient of potentials". The
passage is about the right thing, so retrieval, the reader and the model are confident.
SQuAD 2.0 makes some of its unanswerable questions this way (an antonym put into an
answerable one), and a library's near misses do too ("the maximum load" asked where the
manual gives the minimum).

So when the question names a word of a clear pair (most/least, highest/lowest, maximum/
minimum, internal/external, public/private, possible/impossible ...: `PAIRS`), the sentence
of a cited passage that holds the answer, or the one before (`beside`), must not say the
opposite without saying the word itself. Left out: comparatives and relations that turn
round with their order ("A is less efficient than B" says B is more efficient: more/less,
higher/lower, better/worse, above/below), and pairs whose words have other senses
(open/closed, long/short, old/new, first/last, before/after, light/heavy).

Measured on recorded answers (3 calibration and 4 held-out SQuAD articles, our own
documents): of the 38 answers whose question names such a word, the check caught 3, all to
SQuAD-unanswerable questions, and none of the 9 right ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answer.beside import beside_answer
from assistant.answer.qualifiers import QUESTION_CHARS  # a pasted page is read no further

PAIRS = (
    ("most", "least"), ("highest", "lowest"), ("largest", "smallest"), ("biggest", "smallest"),
    ("best", "worst"), ("greatest", "least"), ("strongest", "weakest"), ("longest", "shortest"),
    ("fastest", "slowest"), ("earliest", "latest"), ("oldest", "newest"),
    ("maximum", "minimum"), ("increase", "decrease"), ("increased", "decreased"),
    ("increases", "decreases"), ("positive", "negative"), ("success", "failure"),
    ("successful", "unsuccessful"), ("succeeded", "failed"), ("internal", "external"),
    ("inner", "outer"), ("northern", "southern"), ("eastern", "western"), ("legal", "illegal"),
    ("possible", "impossible"), ("accepted", "rejected"), ("hot", "cold"), ("wet", "dry"),
    ("public", "private"), ("majority", "minority"),
)
_OPPOSITE: dict[str, set[str]] = {}
for _a, _b in PAIRS:
    _OPPOSITE.setdefault(_a, set()).add(_b)
    _OPPOSITE.setdefault(_b, set()).add(_a)
_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def sided(question: str) -> set[str]:
    """The words of `PAIRS` the question names ("lowest"), except where it names both sides
    ("western countries, and which eastern one?" contrasts them)."""
    named = _words(question[:QUESTION_CHARS])
    return {w for w in named & _OPPOSITE.keys() if not _OPPOSITE[w] & named}


def unmet(question: str, words: str, passages: Sequence[str]) -> list[str]:
    """The question's pair words that every cited passage contradicts beside the answer
    `words`: it says the opposite there and never the word itself (empty: none)."""
    asked = sided(question)
    if not asked or not passages:
        return []
    near = [_words(text) for passage in passages for text in beside_answer(words, passage)]
    return sorted(w for w in asked if all(_OPPOSITE[w] & said and w not in said for said in near))
