"""Is the question answerable from these passages? The decision that replaces a lone floor.

Two stages, each using the evidence it has:

1. **Retrieval** (before any generation): a passage counts when its cosine similarity clears
   the strictness's floor, or when keyword and vector search agree on it (it ranks first on
   both, or near the top of both with a lower similarity). A passage that ranks first on both
   signals is never thrown away: that is where a cosine of 0.2498 against a 0.25 floor used to
   lose the right answer. No passage counting means "not in your documents" without asking
   the model (a small model would otherwise answer from its own memory).
2. **The model's own judgement**: with the grounded-answer adapter, the model has learned to
   open with the refusal sentence when no passage holds the answer. The probability it gives
   that opening, read from one forward pass over the prompt it is about to answer (free: the
   same prefill serves the answer), is compared with the strictness's threshold.

Strictness trades false refusals for invented answers; "balanced" is the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.search import Hit


@dataclass(frozen=True)
class Strictness:
    name: str
    label: str
    floor: float  # cosine a passage needs on its own
    agreed_floor: float  # cosine enough when keyword and vector search both rank it high
    refuse_at: float  # the model's refusal probability from which the answer is refused


# Floors: on NFCorpus and SQuAD paragraphs a passage holding the answer has cosine >= 0.30
# for most questions and unrelated passages rarely exceed 0.20. Refusal thresholds: set by
# tests/bench/calibrate_strictness.py on 80 questions of the SQuAD split's TRAINING articles
# (none the adapter was trained on) with the shipped adapter: balanced maximises correct
# minus false refusals (0.55: 52% vs 33%), lenient keeps false refusals <= 5% (0.80),
# strict keeps correct refusals >= 80% (0.30). See README, "Answer quality".
STRICTNESS: dict[str, Strictness] = {
    "lenient": Strictness("lenient", "Lenient: answer whenever a passage may hold it",
                          0.15, 0.05, 0.80),
    "balanced": Strictness("balanced", "Balanced (recommended)", 0.22, 0.10, 0.55),
    "strict": Strictness("strict", "Strict: answer only when clearly covered", 0.30, 0.15, 0.30),
}
DEFAULT_STRICTNESS = "balanced"
AGREED_RANK = 3  # "near the top of both": within the first three of each


def strictness(name: str | None) -> Strictness:
    return STRICTNESS.get(name or DEFAULT_STRICTNESS, STRICTNESS[DEFAULT_STRICTNESS])


def counts(hit: Hit, level: Strictness) -> bool:
    """Whether retrieval alone lets this passage go to the model."""
    if hit.keyword_rank == 1 and hit.vector_rank == 1:
        return True
    if hit.similarity >= level.floor:
        return True
    both_high = (hit.keyword_rank is not None and hit.keyword_rank <= AGREED_RANK
                 and hit.vector_rank is not None and hit.vector_rank <= AGREED_RANK)
    return both_high and hit.similarity >= level.agreed_floor


def usable_passages(hits: Sequence[Hit], level: Strictness) -> list[Hit]:
    """The passages retrieval lets through, in rank order (empty: not in the documents)."""
    return [hit for hit in hits if counts(hit, level)]


@dataclass(frozen=True)
class Judgement:
    """The model's view of the prompt it is about to answer."""

    refusal_probability: float  # probability of opening with the refusal sentence
    refuse: bool  # refused at this strictness
    greedy_refuses: bool  # greedy decoding would open with the refusal


def refusal_tokens(model: Any, refusal: str) -> list[int]:
    """The tokens the refusal sentence opens with, as the model writes it after "Answer:"."""
    return list(model.tokenize(" " + refusal))[:2]


def judge(model: Any, prompt: str, refusal: str, level: Strictness) -> Judgement | None:
    """The refusal probability of the answer's first two tokens, or None when unreadable.

    Two tokens (" I", " couldn") rather than one, so an answer that merely starts with "I"
    (a roman numeral, a pronoun) is not read as a refusal.
    """
    tokens = refusal_tokens(model, refusal)
    reader = getattr(model, "next_token_logprobs", None)
    if reader is None or not tokens:
        return None
    first = reader(prompt)
    p1 = math.exp(float(first[tokens[0]]))
    greedy_first = int(first.argmax()) == tokens[0]
    p = p1
    if len(tokens) > 1 and p1 > 1e-4:
        second = reader(prompt + " " + refusal.split()[0])
        p = p1 * math.exp(float(second[tokens[1]]))
        greedy_first = greedy_first and int(second.argmax()) == tokens[1]
    return Judgement(p, p >= level.refuse_at, greedy_first)
