"""The sentence an answer came from, for the reader to judge on its own.

The reader's best probability reads whole passages, so a passage about the right thing
scores high even when the sentence the model answered from is about something else: "What's
the part number for the three-pin charging cable?" answered from a manual's line about its
Type 2 cable, or one of SQuAD's adversarial questions answered from the sentence it was
rewritten from. Read alone against the question, the sentence an answer came from tells those
apart from answers more often than the passage does (7 December, the recorded answers of
tests/bench/decision_rows: AUC 0.625 against the best passage's 0.542 on the plain near
misses, 0.657 against 0.624 on SQuAD's calibration articles' unanswerable questions), so the
decision weighs it beside the passage's (`answerability.Evidence.sentence_probability`).
"""

from __future__ import annotations

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


def _sentences(text: str) -> list[str]:
    """The text's sentences, a line break ending one too: a list's item, a table's row or a
    heading is a line of its own in plain documents."""
    return [s for line in text.splitlines() for s in sentences(line)]


def source_sentence(answer: str, hits: Sequence[Hit]) -> str | None:
    """The passage sentence `answer` (the model's text, with its [n] markers) came from.

    The first sentence, of the passages it cites and then the others, that holds the answer's
    words in a row; else the sentence of the passages it cites (the first passage when it
    cites none) sharing the most content words with it, the earlier one on a tie; None when
    no sentence shares a word with it (an answer without content words, such as "Yes", or
    one from elsewhere).
    """
    if not hits:
        return None
    cleaned, citations = parse_citations(answer, hits)
    cleaned = MARKER_GROUP.sub("", cleaned)
    cited = [c.hit for c in citations]
    order = cited + [h for h in hits if not any(h is c for c in cited)]
    words = plain_words(cleaned)
    if words.strip():
        for hit in order:
            for sentence in _sentences(hit.text):
                if words in plain_words(sentence):
                    return sentence
    wanted = content_words(cleaned)
    best, best_shared = None, 0
    for hit in cited or hits[:1]:
        for sentence in _sentences(hit.text):
            shared = len(wanted & content_words(sentence))
            if shared > best_shared:
                best, best_shared = sentence, shared
    return best


def sentence_probability(reader: Reader, question: str, answer: str,
                         hits: Sequence[Hit]) -> float | None:
    """The reader's probability that the sentence `answer` came from holds the answer to
    `question`, read alone; UNPLACED for an answer whose words no sentence shares; None for
    one with no content words to place ("Yes"), which the passages' best then stands for."""
    sentence = source_sentence(answer, hits)
    if sentence is not None:
        return reader.read(question, [sentence])[0].judged
    return UNPLACED if content_words(MARKER_GROUP.sub("", answer)) else None
