"""When the reader's span may overrule the generator's answer: the passage the reader rates
likeliest to hold the answer, rated at READER_OVERRULES_AT or more, and its span a clean phrase
of prose (not across lines, not part of a word, not in a table's row). Kept apart from the
answer flow (`answering`) so that the rule reads in one place."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answer import support
from assistant.answer.reader import Reading
from assistant.search import Hit

# When the generator's answer disagrees with the reader's span, the span replaces it if the
# reader gives its passage at least this probability of holding the answer: 0.5, the reader's
# own boundary, not a tuned figure (README, "Answer quality": on recorded answers the span
# was right more often than the generator in such disagreements). 1.01 never overrules.
READER_OVERRULES_AT = 0.5
# The reader learnt from prose paragraphs: a span that crosses a line, or sits in a table's
# row, is outside what it was trained on (it answers "1 April 2024" for a contract's minimum
# term from a table row of our test contract), so such a span never overrules an answer.
_TABLE_ROW = re.compile(r"[\t|]")


def likeliest_span(hits: Sequence[Hit], readings: dict[int, Reading]) -> int | None:
    """The number of the passage with a span that the reader rates likeliest to hold the
    answer (the earlier one on a tie), or None when it found no span."""
    return next((n for n in by_probability(hits, readings)
                 if readings[id(hits[n - 1])].end > readings[id(hits[n - 1])].start), None)


def by_probability(hits: Sequence[Hit], readings: dict[int, Reading]) -> list[int]:
    """The numbers of the passages the reader read, likeliest to hold the answer first (the
    earlier one on a tie)."""
    ranked = sorted(((readings[id(hit)].probability, -n, n) for n, hit in enumerate(hits, 1)
                     if id(hit) in readings), reverse=True)
    return [n for _, _, n in ranked]


def overruling_span(hits: Sequence[Hit], readings: dict[int, Reading]) -> int | None:
    """The number of the passage whose span overrules a disagreeing answer, or None: the
    passage the reader likes best, when its probability reaches READER_OVERRULES_AT and its
    span is a phrase within one line of prose (not a table's row)."""
    n = likeliest_span(hits, readings)
    if n is None:
        return None
    return n if trusted_span(hits[n - 1].text, readings[id(hits[n - 1])]) else None


def trusted_span(text: str, reading: Reading) -> bool:
    """Whether the reader's span may replace the generator's answer: its passage rated at
    READER_OVERRULES_AT or more, and the span a phrase within one line of prose: not across
    lines, not part of a word, not in a table's row (the reader learnt from prose and judges
    neither)."""
    if reading.probability < READER_OVERRULES_AT or reading.end <= reading.start \
            or "\n" in text[reading.start:reading.end].strip() \
            or cuts_a_word(text, reading.start, reading.end):
        return False
    line_end = text.find("\n", reading.end)
    line = text[text.rfind("\n", 0, reading.start) + 1:len(text) if line_end < 0 else line_end]
    return not _TABLE_ROW.search(line)


def cuts_a_word(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] begins or ends inside a word, a hyphenated one included: the
    reader's span can stop between word pieces ("three" of "a three-day walk", asked how long
    the first day's stage is), and part of a word is no phrase to answer with."""
    def joined(edge: int, i: int, step: int) -> bool:  # text[i] continues the word at edge
        if not (0 <= i < len(text) and text[edge].isalnum()):
            return False  # "$3" of "US$3" begins a word of its own
        if text[i].isalnum():
            return True
        return text[i] == "-" and 0 <= i + step < len(text) and text[i + step].isalnum()
    return start < end and (joined(start, start - 1, -1) or joined(end - 1, end, 1))


def in_table_row(answer: str, passage: str) -> bool:
    """Whether the answer's words stand in a row of a table in the passage (the reader, which
    learnt from prose, is no judge of those)."""
    words = support.plain_words(answer)
    return words != "  " and any(words in support.plain_words(line)
                                 for line in passage.splitlines() if _TABLE_ROW.search(line))
