"""Questions that ask "is it so?" are answered with the sentence that says so, not a phrase.

"Can we have a dog in the flat?" was answered with the reader's span "10 kg", and "Do I have
to pay for water separately?" with "the rent": the words the answer leans on, but no answer a
person can read as yes or no. The passage's sentence holding them is: "Tenants may keep one
small dog under 10 kg with the landlord's written consent." So when the question (or its last
clause: "We paid ten days late - is there a penalty?") opens with an auxiliary verb, a cited
answer becomes that sentence of its passage, quoted and highlighted there. A choice offered in
the question ("Is the deposit paid by card or by transfer?") is answered by the choice, so it
keeps its phrase. A question asking what a text says about something ("What does the
contract say about termination?") is answered the same way, by the sentence holding the
answer's words ("writing", alone, says nothing).
"""

from __future__ import annotations

import math
import re

from assistant.answer.beside import spans_between
from assistant.answer.citations import content_words

_AUXILIARY = ("is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "will",
              "would", "should", "shall", "may", "might", "must", "has", "have", "had",
              "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "can't",
              "cannot", "couldn't", "won't", "wouldn't", "shouldn't", "mustn't", "hasn't",
              "haven't", "hadn't")
_OPENS = re.compile(r"^(?:(?:and|but|so|then|also|or)\s+)?(?:" +
                    "|".join(re.escape(a) for a in _AUXILIARY) + r")\b", re.IGNORECASE)
# a clause ends at a comma, a semicolon, a colon, a sentence's end, or a dash between spaces
_CLAUSE_END = re.compile(r"[,;:.!?]\s+|\s[-\u2013\u2014]\s")
_CHOICE = re.compile(r"\bor\b(?!\s+not\b)", re.IGNORECASE)
# where a sentence ends: see `sentence_spans`
_BREAK = re.compile(r"(?<=[.!?])(?=\s)|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*\u2022|#>]|\d+[.)]\s))")
AT_ANSWER = 0.25  # added to the score of the sentence holding the answer's words
QUESTION_CHARS = 1000  # as qualifiers.QUESTION_CHARS: a pasted page is no question to parse


# "What does the contract say about termination?", "what does the handbook say on refunds":
# the question asks what a text says, so its answer is the sentence that says it, not the
# phrase the reader picks ("writing" for the contract's termination clause).
_WHAT_IT_SAYS = re.compile(
    r"\bwhat\s+(?:does|do|did)\s+.{1,80}?\b(?:say|state|mention|write|stipulate|specify)\s+"
    r"(?:about|regarding|concerning|on)\b|\bwhat\s+(?:is|was)\s+(?:said|stated|written)\s+"
    r"(?:about|regarding|concerning|on)\b", re.IGNORECASE)


def asks_what_it_says(question: str) -> bool:
    """Whether the question asks what a text says about something ("What does the contract
    say about termination?"); SQuAD's "What did the court say Steymann was entitled to?" asks
    for a fact, and is not such a question."""
    return _WHAT_IT_SAYS.search(question[:QUESTION_CHARS]) is not None


def sentence_holding(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The [start, end) of the sentence of `text` (`sentence_spans`) that holds text[start:end],
    or None when the words run across sentences."""
    return next(((a, b) for a, b in sentence_spans(text) if a <= start and end <= b), None)


def asks_yes_or_no(question: str) -> bool:
    """Whether the question's last clause opens with an auxiliary verb ("Is ...", "Can I ...",
    "... - is there a penalty?", "If I volunteer, do I get anything?") and offers no choice."""
    text = question.strip()[:QUESTION_CHARS].replace("\u2019", "'")
    clauses = [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]
    if not clauses:
        return False
    last = clauses[-1]
    return bool(_OPENS.match(last)) and not _CHOICE.search(last)


def _plain(text: str) -> str:
    return " ".join(text.split()).strip(" \u201c\u201d\"'.").lower()


def answer_at(words: str, text: str) -> tuple[int, int] | None:
    """Where the answer's words stand in `text` (case aside), or None; never for a bare yes or
    no, whose word stands anywhere."""
    flat = _plain(words)
    if not content_words(flat) or flat in ("yes", "no"):
        return None
    at = text.lower().find(flat)
    return None if at < 0 else (at, at + len(flat))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The [start, end) of each sentence of `text`. A sentence ends at ".", "!" or "?" before a
    space ("1.6 litres" goes on), at a blank line, or at a line break before a list item, a
    table row or a heading; other line breaks are inside it (a PDF breaks its lines anywhere:
    "The warranty covers the kettle body, the lid mechanism, the power base and the" is half
    of one)."""
    return spans_between(text, _BREAK)


def answering_sentence(question: str, passages: list[str],
                       marks: dict[int, tuple[int, int]] | None = None
                       ) -> tuple[int, int, int] | None:
    """(n, start, end): the sentence of the passages (numbered from 1) that answers the
    yes-or-no `question`: the one sharing most of its content words (over the square root of
    the sentence's length, so "Cats are not allowed." beats a long sentence with one word of
    the question; an earlier passage wins a tie). Holding the answer found in passage n at
    marks[n] (the reader's span, or the generator's words where it cites) breaks near ties:
    "10 kg" picks the sentence about the dog where the question's "flat" names another one;
    it adds AT_ANSWER only, a fraction of what one shared word gives a short sentence, since a
    reader of spans is no judge of yes or no ("Can we keep a cat?" still finds "Cats are not
    allowed.", not the dog's sentence where the reader put its span). A heading (no closing
    mark, under five words) is no answer; None when no sentence shares a word with the
    question."""
    wanted = content_words(question)
    best: tuple[float, int, int, int] | None = None
    for n, text in enumerate(passages, 1):
        at = (marks or {}).get(n)
        for a, b in sentence_spans(text):
            sentence = text[a:b]
            words = content_words(sentence)
            if not words or (sentence[-1] not in ".!?;:" and len(sentence.split()) < 5):
                continue
            shared = len(words & wanted)
            score = shared / math.sqrt(len(words)) - 0.001 * n
            if at is not None and a < at[1] and at[0] < b:
                score += AT_ANSWER
            if shared and (best is None or score > best[0]):
                best = (score, n, a, b)
    return None if best is None else best[1:]
