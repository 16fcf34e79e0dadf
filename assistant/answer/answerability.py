"""Is the question answerable from these passages? The decision that replaces a lone floor.

Two stages, each using the evidence it has:

1. **Retrieval** (before any generation): a passage counts when its cosine similarity clears
   the strictness's floor, or when keyword and vector search agree on it (it ranks first on
   both, or near the top of both with a lower similarity). A passage that ranks first on both
   signals is never thrown away: that is where a cosine of 0.2498 against a 0.25 floor used to
   lose the right answer. No passage counting means "not in your documents" without asking
   the model (a small model would otherwise answer from its own memory).
2. **After the answer is written**: the model's refusal probability (with the grounded
   adapter it has learned to open with the refusal sentence when no passage holds the
   answer), read from the prefill that serves the answer anyway; the best passage's
   similarity; the model's confidence in the answer it wrote (the mean log-probability of
   its first tokens; the refusal opening is suppressed so an answer is always written); the
   share of the question's words the first passage holds; and, with the reader, its best
   probability that a passage holds the answer. A logistic score over them, fitted on the
   development data, is compared with the strictness's threshold (`refusal_score`). A
   refusal probability of EARLY_REFUSAL or more refuses at once, without writing an answer.

Strictness trades false refusals for invented answers; "balanced" is the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.search import Hit
from assistant.store.store import query_words


@dataclass(frozen=True)
class Strictness:
    name: str
    label: str
    floor: float  # cosine a passage needs on its own
    agreed_floor: float  # cosine enough when keyword and vector search both rank it high
    refuse_at: float  # `refusal_score` from which the answer is refused (reader on: WEIGHTS)
    # The reader's best probability that a passage holds the answer, below which the question
    # is refused before generation: only at "strict". On SQuAD-like passages 0.15 refused
    # 11% of unanswerable questions for 4.4% of answerable ones (tests/bench/calibrate_reader.py,
    # the reader's 817 validation questions), but on short plain passages the reader's
    # probability runs low ("Who founded Acme Corporation?" against "Acme Corporation was
    # founded in 1987 by Maria Lopez": 0.04, with the right span), so lenient and balanced
    # never refuse on it (resources/reader/README.md).
    reader_at: float = 0.0
    # the threshold for the decision without the reader (WEIGHTS_WITHOUT_READER)
    refuse_at_without_reader: float = 0.55


# Floors: on NFCorpus and SQuAD paragraphs a passage holding the answer has cosine >= 0.30
# for most questions and unrelated passages rarely exceed 0.20. Refusal thresholds on
# `refusal_score`, set by tests/bench/calibrate_strictness.py from 5-fold cross-validated
# scores: balanced maximises correct minus false refusals, lenient keeps false refusals
# <= 5%, strict keeps correct refusals >= 80%.
# - With the reader (refuse_at; WEIGHTS): the answers of the shipped adapter (since 7
#   December the one trained with plain documents mixed in) to 94 answerable questions of
#   the reader's 2 validation articles and 120 more asked with their answer taken out of the
#   library, and to the generated plain documents of tests/data/qa/plain_calibration.jsonl (84
#   questions asked in plain words, 48 near misses no document answers, and 83 asked with
#   their answer taken out; `--with-reader --refusals missing --absent`), the reader's
#   probability being its judge head's (since 7 December), and since the evening of 7
#   December its probability for the answer's sentence and its neighbours too: balanced 0.65
#   (74% vs 21%, both sets together), lenient 0.95 (26% vs 6%), strict 0.50 (82.5% vs 33%).
#   Balanced is the best correct-minus-false rate between strict's and lenient's thresholds.
#   Fitted on SQuAD alone, an earlier decision refused 77% of the plain questions (its AUC
#   there 0.47).
# - Without it (refuse_at_without_reader; WEIGHTS_WITHOUT_READER): the same answers, the
#   reader's probability left out: balanced 0.60 (71% vs 29%), lenient 0.95 (20% vs 5%),
#   strict 0.50 (82% vs 38%).
# See README, "Answer quality", and resources/adapters/README.md, "Calibration".
STRICTNESS: dict[str, Strictness] = {
    "lenient": Strictness("lenient", "Lenient: answer whenever a passage may hold it",
                          0.15, 0.05, 0.95, 0.0, refuse_at_without_reader=0.95),
    "balanced": Strictness("balanced", "Balanced (recommended)", 0.22, 0.10, 0.65, 0.0,
                           refuse_at_without_reader=0.60),
    "strict": Strictness("strict", "Strict: answer only when clearly covered", 0.30, 0.15, 0.50,
                         0.15, refuse_at_without_reader=0.50),
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
    refuse: bool  # so sure of a refusal (EARLY_REFUSAL) that no answer is written
    greedy_refuses: bool  # greedy decoding would open with the refusal


def refusal_tokens(model: Any, refusal: str) -> list[int]:
    """The tokens the refusal sentence opens with, as the model writes it after "Answer:"."""
    return list(model.tokenize(" " + refusal))[:2]


def judge(model: Any, prompt: str, refusal: str) -> Judgement | None:
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
        after = getattr(model, "next_token_logprobs_after", None)  # leaves the model at
        word = " " + refusal.split()[0]  # the prompt's end, ready to answer it
        second = after(prompt, word) if after is not None else reader(prompt + word)
        p = p1 * math.exp(float(second[tokens[1]]))
        greedy_first = greedy_first and int(second.argmax()) == tokens[1]
    return Judgement(p, p >= EARLY_REFUSAL, greedy_first)


# --------------------------------------------------------------------------- the decision

@dataclass(frozen=True)
class Evidence:
    """Everything known once the model has written its answer (refusal opening suppressed)."""

    refusal_probability: float  # the model's judgement before answering
    top_similarity: float  # retrieval's confidence: see `retrieval_confidence`
    answer_logprob: float  # mean log-probability of the answer's first tokens
    coverage: float = 1.0  # share of the question's words the first passage holds
    reader_probability: float | None = None  # the reader's best "a passage holds it" (None:
    # the reader is off, and the decision without it, WEIGHTS_WITHOUT_READER, applies)
    sentence_probability: float | None = None  # the reader's, for the sentence the answer
    # came from and its neighbours, read alone (`answer_sentence`); None (no such sentence,
    # or a table's row): the passages' best stands in


# The median similarity of the best passage for answerable questions of the development data.
# A best passage that keyword and vector search both rank first counts as at least this
# similar: agreement of the two is evidence of its own (answerable questions show it 67% of
# the time, unanswerable ones 49%), and a passage ranked first on both is never held against
# the answer for a low cosine, which real documents often give (0.2498 in the case).
AGREED_SIMILARITY = 0.6


def retrieval_confidence(hits: Sequence[Hit]) -> float:
    best = max((h.similarity for h in hits), default=0.0)
    if hits and hits[0].keyword_rank == 1 and hits[0].vector_rank == 1:
        return max(best, AGREED_SIMILARITY)
    return best


STEM = 5  # letters a word is compared by: "patented" and "patent" agree, across languages


def _content_words(text: str) -> set[str]:
    """The words keyword search matches (stop words out), cut to STEM letters."""
    return {w[:STEM] for w in query_words(text)}


def question_coverage(question: str, hits: Sequence[Hit]) -> float:
    """The share of the question's words (as keyword search reads them, compared by their
    first STEM letters) that the first passage given to the model holds; 1.0 for a question
    with no words.

    A passage that leaves out what the question is about rarely answers it: where the library
    lacks the answer, search still returns its closest passage, and that passage misses some
    of the question's words far more often than one that holds the answer (5 December:
    alone it separates such questions from answerable ones with an AUC of 0.85, retrieval's
    cosine 0.785; SQuAD's adversarial unanswerable ones only 0.57). README, "Answer
    quality"."""
    wanted = _content_words(question)
    if not wanted:
        return 1.0
    held = _content_words(hits[0].text) if hits else set()
    return len(wanted & held) / len(wanted)


ANSWER_TOKENS = 5  # the answer's opening: a short answer's words, before its [n] marker
EARLY_REFUSAL = 0.97  # so sure of a refusal that writing an answer is not worth the time
# Logistic weights over `features` (intercept, refusal probability's logit, retrieval
# confidence, answer log-probability, question coverage, and with the reader its two logits:
# the best passage's and the answer's sentence's), fitted by tests/bench/calibrate_strictness.py
# on the questions above.
# WEIGHTS, with the reader: cross-validated AUC 0.836 of "the library lacks the answer"
# against answerable over SQuAD's calibration articles and the plain documents together
# (0.822 without the answer's sentence; held out, see tests/bench/ANSWER_QUALITY.md, "The answer's own sentence";
# the reader's judge head alone 0.800, its probability for the answer's sentence and its
# neighbours alone 0.816, the shipped reader before it without a judge head 0.758; the
# adapter's refusal probability alone 0.726: the adapter trained with plain near misses
# learnt to refuse where the answer is missing, and its weight is positive; the 272-example
# adapter before it scored 0.49 there, and its weight came out negative). SQuAD's
# unanswerable questions are not in the fit: on held-out articles no input told them from
# answerable ones (AUC 0.45-0.52 each), and fitting on them only made the decision refuse
# more often at random. README, "Answer quality".
# WEIGHTS_WITHOUT_READER (the reader off): the same rows and fit without the reader's input,
# cross-validated AUC 0.794.
WEIGHTS: tuple[float, ...] = (-0.3395, 0.2211, -0.2733, -0.4951, -0.2957, -0.2824, -0.3438)
WEIGHTS_WITHOUT_READER: tuple[float, ...] = (0.0822, 0.3105, -0.4124, -1.0104, -0.4612)


def calibrated_for(model: Any) -> bool:
    """Whether WEIGHTS apply: they were fitted with the shipped grounded adapter at strength 1.

    Any other model or adapter (or strength) has no calibration: it refuses only where it
    writes the refusal itself (or is sure of it: EARLY_REFUSAL).
    """
    from assistant.llm.grounded import ADAPTER_NAME

    path = getattr(model, "adapter_path", None)
    scale = getattr(model, "adapter_scale", 0.0)
    return path is not None and Path(path).name == ADAPTER_NAME and abs(scale - 1.0) < 1e-6


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def features(evidence: Evidence) -> list[float]:
    """The decision's inputs, each on a scale of a few units so that one L2 penalty suits
    every weight; the reader's logits come last, when the reader read the passages: the best
    passage's, then the answer's sentence's."""
    out = [1.0, logit(evidence.refusal_probability), 10.0 * (evidence.top_similarity - 0.5),
           max(evidence.answer_logprob, -10.0), 5.0 * (evidence.coverage - 0.5)]
    if evidence.reader_probability is not None:
        sentence = evidence.sentence_probability
        out += [logit(evidence.reader_probability),
                logit(evidence.reader_probability if sentence is None else sentence)]
    return out


def answer_logprob(logprobs: Sequence[float]) -> float:
    head = list(logprobs)[:ANSWER_TOKENS]
    return sum(head) / len(head) if head else -10.0


def decision_weights(evidence: Evidence) -> Sequence[float]:
    return WEIGHTS_WITHOUT_READER if evidence.reader_probability is None else WEIGHTS


def refuse_at(level: Strictness, evidence: Evidence) -> float:
    """The level's threshold on `refusal_score` for the decision this evidence gets."""
    return level.refuse_at_without_reader if evidence.reader_probability is None \
        else level.refuse_at


def refusal_score(evidence: Evidence, weights: Sequence[float] | None = None) -> float:
    """How likely the passages lack the answer, 0..1, from the model's and retrieval's signals.

    The model's refusal probability alone separates answerable from unanswerable questions
    only weakly; the passages' similarity to the question and the model's confidence in the
    answer it wrote add what it misses.
    """
    if weights is None:
        weights = decision_weights(evidence)
    z = sum(w * x for w, x in zip(weights, features(evidence), strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
