"""Whose price it is: a price asked for a child is not answered with the adults' price.

A price list names several rates side by side, so where the library has no child's price
the model answers with the adult's from the same line: asked what the aquarium tickets cost
per child, "€20 per adult"; asked what the Observation Lounge costs for a child, "£8 per
adult"; asked what a weekend costs per adult, "£20 per child aged 4 to 15". Retrieval, the
reader and the model are all confident (the passage is the right price list), but the answer
names who it is for, and it is someone else.

So where a question asking a price (`answer_types`, or "how much" answered with one) names who pays (an adult, a child, a
student, a senior, a member, a non-member, a guest, a family, an infant, a teenager) and the
answer names who pays too, one of those it names must be one the question names. An answer
naming no one ("£8"), or anyone at all ("per person", "each"), is left alone: a price for
everyone is a price for a child.

Found on the plain calibration documents' answers (the aquarium), measured on the recorded
answers (`tests/bench/replay_support.py` on the 669 calibration answers; the final answers of
the held-out `eval qa` reports): it fires on 1 calibration near miss (whose answer becomes the
reader's "€9", still wrong: an answer failing it gives way to the reader's span that passes,
as with `answer_types`) and on 2 held-out answers (a near miss the decision lets through at
balanced, and a wrong answer to an answerable question), and on no right answer.
"""

from __future__ import annotations

import re

from assistant.answer import answer_types
from assistant.answer.qualifiers import QUESTION_CHARS

# who pays, by the word's forms; the key is what both sides are compared by
_PAYERS = {
    "adult": r"adults?",
    "child": r"child(?:ren)?(?:'s)?|kids?",
    "student": r"students?",
    "senior": r"seniors?|pensioners?|over-6[05]s?",
    "member": r"members?",
    "non-member": r"non-?members?",
    "guest": r"guests?",
    "family": r"famil(?:y|ies)",
    "infant": r"infants?|babies|baby|toddlers?",
    "teenager": r"teen(?:ager)?s?",
}
_PAYER = {who: re.compile(rf"(?<![\w-])(?:{forms})(?![\w-])", re.IGNORECASE)
          for who, forms in _PAYERS.items()}


_HOW_MUCH = re.compile(r"\bhow much\b", re.IGNORECASE)


def payers(text: str) -> set[str]:
    """Who `text` names as paying ("non-members" is not "members")."""
    return {who for who, pattern in _PAYER.items() if pattern.search(text)}


def unmet(question: str, words: str) -> bool:
    """Whether the answer's `words` give the price for someone other than whom the price
    `question` asks for."""
    question = question[:QUESTION_CHARS]
    wanted = answer_types.expected(question)
    asks_price = wanted is not None and wanted.name == "a price"
    # "how much is it per adult" answered with a price
    priced = bool(_HOW_MUCH.search(question) and answer_types.KINDS["price"][0].search(words))
    if not (asks_price or priced):
        return False
    asked = payers(question)
    given = payers(words)
    return bool(asked) and bool(given) and not asked & given
