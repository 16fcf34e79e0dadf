"""Question-passage pairs for the reader, built from SQuAD-format QA data.

The reader learns one judgement: does this passage hold the answer to this question, and
where. Four kinds of pairs teach it (Rajpurkar et al. 2018 for the unanswerable kind):

* `answer`: an answerable question with the chunk of its own paragraph that holds the
  answer, and the answer's character span in that chunk;
* `unanswerable`: a question the data marks unanswerable, with its own paragraph (on topic,
  plausible, no answer: the hard case a generator gets wrong);
* `hard`: a question with another paragraph of the same article (same topic, no answer);
* `easy`: a question with a paragraph of another article.

Passages are the chunks the indexer cuts (same chunker, same size), so the reader sees at
training time what retrieval gives it at answer time. Splits are by article.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.training.squad import Passage, QASet, Question, split_articles

KINDS = ("answer", "unanswerable", "hard", "easy")


@dataclass(frozen=True)
class ReaderPair:
    question: str
    passage: str
    start: int  # character span of the answer in `passage`; -1 when the passage lacks it
    end: int
    answers: tuple[str, ...]  # gold answers (for exact match and F1); empty for negatives
    kind: str  # one of KINDS
    article: str

    @property
    def positive(self) -> bool:
        return self.start >= 0


def find_answer(passage: str, answers: Sequence[str]) -> tuple[int, int] | None:
    """The character span of the first gold answer found in `passage` (exact case first)."""
    for answer in answers:
        at = passage.find(answer)
        if at >= 0:
            return at, at + len(answer)
    low = passage.lower()
    for answer in answers:
        at = low.find(answer.lower())
        if at >= 0:
            return at, at + len(answer)
    return None


def _holds(text: str, answers: Sequence[str]) -> bool:
    low = text.lower()
    return any(a.lower() in low for a in answers)


def build_reader_pairs(qa: QASet, passages: dict[str, list[Passage]], *, seed: int = 0,
                       hard_per_question: int = 1, easy_share: float = 0.3,
                       unanswerable_chunks: int = 1) -> list[ReaderPair]:
    """Every question of `qa` as reader pairs (see the module's docstring), shuffled.

    A negative never contains a gold answer of its question (a paragraph that happens to
    mention it would teach the reader to ignore the answer).
    """
    rng = random.Random(seed)
    by_article: dict[str, list[Passage]] = {}
    for plist in passages.values():
        for p in plist:
            by_article.setdefault(p.paragraph.article, []).append(p)
    articles = sorted(by_article)
    pairs: list[ReaderPair] = []

    def pair(q: Question, p: Passage, kind: str, span: tuple[int, int] | None = None,
             answers: tuple[str, ...] = ()) -> ReaderPair:
        start, end = span if span is not None else (-1, -1)
        return ReaderPair(q.question, p.text, start, end, answers, kind, q.article)

    for q in qa.questions:
        own = [p for pid in q.paragraph_ids for p in passages.get(pid, [])]
        if q.answerable:
            for p in own:
                span = find_answer(p.text, q.answers)
                if span is not None:
                    pairs.append(pair(q, p, "answer", span, q.answers))
                    break
        else:
            for p in rng.sample(own, min(unanswerable_chunks, len(own))):
                pairs.append(pair(q, p, "unanswerable"))
        same = [p for p in by_article.get(q.article, [])
                if p.paragraph.id not in q.paragraph_ids and not _holds(p.text, q.answers)]
        for p in rng.sample(same, min(hard_per_question, len(same))):
            pairs.append(pair(q, p, "hard"))
        others = [a for a in articles if a != q.article]
        if others and rng.random() < easy_share:
            p = rng.choice(by_article[rng.choice(others)])
            if not _holds(p.text, q.answers):
                pairs.append(pair(q, p, "easy"))
    rng.shuffle(pairs)
    return pairs


@dataclass(frozen=True)
class ReaderSplit:
    """Articles for training, for validation while training (the checkpoint and the
    decision's calibration are chosen on these), and held out (never seen, reported only)."""

    train: list[str]
    validation: list[str]
    held_out: list[str]


def reader_split(articles: Sequence[str], *, held_out: float = 0.25, validation: float = 0.2,
                 seed: int = 0) -> ReaderSplit:
    """The held-out articles are exactly `assistant eval qa --split held-out`'s (same seed and
    share); the validation articles are taken from the training side."""
    train, out = split_articles(articles, held_out=held_out, seed=seed)
    fit, val = split_articles(train, held_out=validation, seed=seed + 1)
    return ReaderSplit(fit, val, out)
