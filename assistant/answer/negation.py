"""A question that asks what is *not* so needs a passage that says something is not so.

"Who did the geographic scholars not work for?" was answered "President Wilson", from "The
inquiry was the idea of President Wilson": the passage is about the right people, so
retrieval, the reader and the model are all confident, but nothing in it denies anything.
SQuAD 2.0 makes many of its unanswerable questions this way, by putting a "not" or a "never"
into a question whose paragraph answers the positive one; a library's near misses look the
same ("Which parts does the warranty not cover?" asked of a page listing what it covers).

So when the question negates ("not", "n't", "never", "cannot"), the sentence of a cited
passage that holds the answer, or the sentence before it (the reason for "why should I not
...?" often follows the warning), must carry a negation of its own in any form a passage
uses: "not", "no", "without", "except", "excluding", "refused", "failed", "lacks",
"prohibited", "instead", "other than", "unable", "invalid" and the like. "Not only", "or
not" and "whether or not" do not negate the answer and are left out.

Measured on recorded answers whose question negates (3 calibration and 4 held-out SQuAD
articles, our own documents; the held-out eval's figures are in the README): the answer's
sentences lacked a negation for 9 of the 15 answers to SQuAD-unanswerable questions, 2 of
3 whose answer was taken out, 2 of 5 wrong answers to answerable questions and none of the
4 right ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answer.beside import beside_answer
from assistant.answer.qualifiers import QUESTION_CHARS  # a pasted page is read no further

_NEGATES = re.compile(r"\b(?:not|never|cannot)\b|n[’']t\b", re.IGNORECASE)
_NOT_NEGATING = re.compile(r"\bnot only\b|\bor not\b|\bwhether not\b", re.IGNORECASE)

# A passage says something is not so in many more ways than a question asks it.
_STATES_A_NEGATION = re.compile(
    r"\b(?:not|never|no|none|nor|neither|nothing|nobody|nowhere|without|cannot|unless|instead|"
    r"except\w*|exclu\w*|refus\w*|fail\w*|lack\w*|den(?:y|ied|ies|ial)|reject\w*|"
    r"prohibit\w*|forb[ia]d\w*|ban(?:s|ned|ning)?|ignor\w*|omi(?:t|ts|tted|tting|ssion)|"
    r"absen\w*|avoid\w*|prevent\w*|rather than|other than|apart from|free of|"
    r"unable|unavailable|unsupported|unsuitable|unsafe|unknown|unlike|incompatible|invalid|"
    r"illegal|impossible|insufficient|inadequate)\b|n[’']t\b", re.IGNORECASE)


def negates(question: str) -> bool:
    """Whether the question asks about what is not so ("What did the Netherlands not let
    America use?"), not just a yes-or-no form ("... or not?")."""
    question = _NOT_NEGATING.sub(" ", question[:QUESTION_CHARS])
    return _NEGATES.search(question) is not None


def unmet(question: str, words: str, passages: Sequence[str]) -> bool:
    """Whether the question negates and no cited passage says anything is not so beside the
    answer `words` (the sentence holding them or the one before). A passage that holds none
    of the answer's words is read whole."""
    if not negates(question):
        return False
    return not any(_STATES_A_NEGATION.search(text)
                   for passage in passages for text in beside_answer(words, passage))
