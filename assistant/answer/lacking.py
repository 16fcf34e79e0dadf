"""What none of the passages a refusal lists gives, in words: a day, a month, a number or an
ordinal the question names ("None of these passages mentions Sunday"), or the kind of answer
it asks for ("... gives a price"); it is said only when it is true of every passage. Where it
is not, a refusal made by a check on the answer found says that check's reason instead
(`because`). The window and `assistant ask` say it above the nearest passages, so a refusal
explains itself where it can."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.answer import answer_types, qualifiers


def named(path: str, text: str) -> str:
    """A passage's text with its file's name, which may be all that names a year or a day."""
    return f"{Path(path).name}\n{text}"


def _shown(word: str) -> str:
    """A day or a month capitalised, an ordinal alone quoted ("“second”"); numbers and named
    ordinals ("Second Minister") as they are."""
    if word in qualifiers.DAYS + qualifiers.MONTHS:
        return word.capitalize()
    return f"“{word}”" if word in qualifiers.ORDINALS else word


def lacking(question: str, passages: Sequence[tuple[str, str]]) -> str | None:
    """The words for `passages` ((path, text) pairs), without a full stop (the window and the
    command line each end them their own way), or None when nothing is lacking from all."""
    if not passages:
        return None
    missing = set.intersection(*(set(qualifiers.unmet(question, named(path, text)))
                                 for path, text in passages))
    words = sorted(_shown(w) for w in missing)
    if words:
        return f"None of these passages mentions {' or '.join(words)}"
    wanted = answer_types.expected(question)
    if wanted is not None and not any(answer_types.fits(text, question)
                                      for _, text in passages):
        return f"None of these passages gives {wanted.name}"
    return None


_BECAUSE = {
    "answer_type": "The answer found is not of the kind your question asks for.",
    "rate": "The price found is for someone else than your question asks about.",
    "qualifier": "The passage the answer came from does not name everything your question "
                 "pins down (a number, a day, a month or which one of a series).",
    "negation": "Your question asks what is not so, and the passage the answer came from "
                "never says so.",
    "opposite": "The passage the answer came from says the opposite of what your question "
                "asks about.",
    "echo": "The only answer found repeated the words of your question.",
}


def because(reason: str) -> str | None:
    """A refusal's reason (`Answer.not_found_reason`) as a sentence, for the checks on the
    answer found (said where `lacking` finds nothing all the passages lack); None for the
    others (retrieval, the reader, the decision)."""
    return _BECAUSE.get(reason)
