"""An answer that only repeats the question's words answers nothing.

Asked "Which country had trading posts in India after Britain?", the model answered "India";
asked "What was AUSTPAC?", "AUSTPAC"; asked "51.6% was not in favor of what?", "51.6%". Each is
cited, supported by its passage (the words are there) and confidently written, so neither
the decision nor the support check can see what a reader sees at once: nothing in it is new.
Where the passages hold the answer, the reader's span usually gives it instead; where they do
not (these were SQuAD questions written to have no answer in their paragraph), the honest
answer is "not in your documents".

Left alone: a choice the question offers ("Is the warranty 24 or 27 months?" -> "27 months"),
and answers with no content word of their own ("Yes", "No").

Measured on recorded answers (3 calibration and 4 held-out SQuAD articles, the held-out
eval's 300, our own documents): of 14 answers made only of the question's words, 13 were
wrong (4 to SQuAD-unanswerable questions, 3 whose answer was taken out, 6 wrong answers to
answerable questions); the one counted right, "the spring reaction force" for "What equals
the spring reaction force ...?", matched a slip in SQuAD's gold answers. None is in our own
documents' answers.
"""

from __future__ import annotations

import re

from assistant.answer.citations import content_words
from assistant.answer.qualifiers import QUESTION_CHARS  # a pasted page is read no further

_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)


def repeats_question(words: str, question: str) -> bool:
    """Whether the answer's `words` hold no content word that the question does not already
    hold (and the question offers no choice between things it names)."""
    question = question[:QUESTION_CHARS]
    if _CHOICE.search(question):
        return False
    said = content_words(words)
    return bool(said) and said <= content_words(question)
