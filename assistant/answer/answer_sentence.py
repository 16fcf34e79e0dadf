"""Where in its passages an answer came from, for the reader to judge on its own.

The reader's best probability reads whole passages, so a passage about the right thing
scores high even when the sentence the model answered from is about something else: "What's
the part number for the three-pin charging cable?" answered from a manual's line about its
Type 2 cable, or one of SQuAD's adversarial questions answered from the sentence it was
rewritten from. The reader reads that sentence again with the sentence before and after it
(`source_window`), and the decision weighs its probability beside the passage's
(`answerability.Evidence.sentence_probability`).

Why the neighbours: the reader learnt on paragraphs, and a sentence read alone is often too
short for it ("starting at 250 milliseconds.": 0.01 for the right answer). On the recorded
calibration answers (tests/bench/decision_rows, 7 December) the decision refitted with the
window separates better than with the sentence alone: cross-validated AUC 0.836 against
0.823 (0.822 without either); over its rows, answers taken out of SQuAD's articles 0.912
against 0.893, of the plain documents 0.855 against 0.848, plain near misses 0.638 against
0.633; two sentences each side did no better there. Why units rather than lines: prose
wrapped at a fixed width (PDFs, text files) cut at each line's end gave the right answers
from our own documents 0.01 too. The reader is no judge of a table's row (it learnt from
prose), so an answer from one leaves the passages' best probability standing in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.answer.citations import MARKER_GROUP, content_words, parse_citations
from assistant.answer.focus import sentences
from assistant.answer.support import plain_words
from assistant.search import Hit

if TYPE_CHECKING:
    from assistant.answer.reader import Reader

# The probability given to an answer with words of its own that no sentence of its passages
# shares: it came from elsewhere (the model's memory), so no sentence holds it.
UNPLACED = 0.01
AROUND = 1  # sentences read on each side of the answer's own


_TABLE_ROW = re.compile(r"[\t|]")
_LINE_OF_ITS_OWN = re.compile(r"^\s*(?:[-*•#>]|\d+[.)]|[a-z][.)]\s)", re.IGNORECASE)


def _units(text: str) -> list[str]:
    """The text's paragraphs and the lines that stand alone: a blank line ends a paragraph,
    and a table's row, a list's item or a marked heading is a unit of its own; other lines
    continue the paragraph (prose wrapped at a fixed width, as PDFs and text files often
    are, is read as the sentences it holds, not cut at each line's end)."""
    units: list[str] = []
    prose: list[str] = []

    def end_prose() -> None:
        if prose:
            units.append(" ".join(prose))
            prose.clear()

    for line in text.splitlines():
        if not line.strip():
            end_prose()
        elif _TABLE_ROW.search(line) or _LINE_OF_ITS_OWN.match(line):
            end_prose()
            units.append(line.strip())
        else:
            prose.append(line.strip())
    end_prose()
    return units


def _sentences(text: str) -> list[str]:
    """The text's sentences, each within one of its units (`_units`)."""
    return [s for unit in _units(text) for s in sentences(unit)]


def _source(answer: str, hits: Sequence[Hit]) -> tuple[list[str], int] | None:
    """The sentences of the passage `answer` came from, and which one it came from."""
    if not hits:
        return None
    cleaned, citations = parse_citations(answer, hits)
    cleaned = MARKER_GROUP.sub("", cleaned)
    cited = [c.hit for c in citations]
    order = cited + [h for h in hits if not any(h is c for c in cited)]
    words = plain_words(cleaned)
    if words.strip():
        for hit in order:
            parts = _sentences(hit.text)
            for i, sentence in enumerate(parts):
                if words in plain_words(sentence):
                    return parts, i
    wanted = content_words(cleaned)
    best, best_shared = None, 0
    for hit in cited or hits[:1]:
        parts = _sentences(hit.text)
        for i, sentence in enumerate(parts):
            shared = len(wanted & content_words(sentence))
            if shared > best_shared:
                best, best_shared = (parts, i), shared
    return best


def source_sentence(answer: str, hits: Sequence[Hit]) -> str | None:
    """The passage sentence `answer` (the model's text, with its [n] markers) came from.

    The first sentence, of the passages it cites and then the others, that holds the answer's
    words in a row; else the sentence of the passages it cites (the first passage when it
    cites none) sharing the most content words with it, the earlier one on a tie; None when
    no sentence shares a word with it (an answer without content words, such as "Yes", or
    one from elsewhere).
    """
    found = _source(answer, hits)
    return None if found is None else found[0][found[1]]


def _window(parts: list[str], i: int, around: int = AROUND) -> str:
    return " ".join(parts[max(0, i - around):i + around + 1])


def source_window(answer: str, hits: Sequence[Hit], around: int = AROUND) -> str | None:
    """`source_sentence` with up to `around` sentences of its passage on each side."""
    found = _source(answer, hits)
    return None if found is None else _window(*found, around)


def sentence_probability(reader: Reader, question: str, answer: str,
                         hits: Sequence[Hit]) -> float | None:
    """The reader's probability that the sentences `answer` came from (`source_window`) hold
    the answer to `question`, read alone; UNPLACED for an answer whose words no sentence
    shares; None, for which the passages' best then stands, for one with no content words to
    place ("Yes") or from a table's row."""
    found = _source(answer, hits)
    if found is None:
        return UNPLACED if content_words(MARKER_GROUP.sub("", answer)) else None
    parts, i = found
    if _TABLE_ROW.search(parts[i]):
        return None  # the reader learnt from prose and is no judge of a table's row
    return reader.read(question, [_window(parts, i)])[0].judged
