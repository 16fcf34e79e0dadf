"""Question-passage pairs for the reader, built from SQuAD-format QA data.

The reader learns one judgement: does this passage hold the answer to this question, and
where. Four kinds of pairs teach it (Rajpurkar et al. 2018 for the unanswerable kind):

* `answer`: an answerable question with the chunk of its own paragraph that holds the
  answer, and the answer's character span in that chunk;
* `unanswerable`: a question the data marks unanswerable, with its own paragraph (on topic,
  plausible, no answer: the hard case a generator gets wrong);
* `hard`: a question with another paragraph of the same article (same topic, no answer);
* `easy`: a question with a paragraph of another article;
* `retrieved`: a question with a passage that search ranks near the top for it and that does
  not hold the answer (with `neighbours`): the reader's hardest case at answer time, when the
  library lacks the answer and search still returns its closest passages. Random paragraphs
  of the same article (`hard`) are mostly off the question's point; these are not;
* `swapped` (with `swapped_share`): an answerable question with one name or number that its
  passage contains replaced by another of the same kind from the same article that the
  passage lacks ("Who ruled Normandy in 1066?" becomes "... in 1071?"), against that
  passage. The passage still reads as on topic, but it cannot answer the new question: the
  entity-swap case behind a fifth of SQuAD 2.0's unanswerable questions, and the commonest
  near miss in a library (the right manual, another model's number). Generated, so it adds
  no outside data;
* `short_answer` and `short_negative`: one or two sentences of the question's own paragraph,
  with and without the answer. A user's passages are often short (a note, a slide, a table
  row), and a reader trained on whole SQuAD paragraphs only rated a plain one-sentence
  answer at 0.04; the same sentence without the answer is the hardest negative there is.

Passages are the chunks the indexer cuts (same chunker, same size), so the reader sees at
training time what retrieval gives it at answer time. Splits are by article.

Plain documents (`train-reader --documents`, our QA JSONL whose questions list every section
of their document, `document_questions`) add the passages a user's library is made of: a
handbook's section, a contract's clause. An answerable question's own passage is then the
section holding its answer, its other sections are its `hard` negatives, and a question the
document cannot answer (written as a near miss: Sunday's hours where only weekdays' are
given) is `unanswerable` against its sections.

With `tempting` (`train-reader --tempting`), those negatives are the sections search would
hand the reader rather than random ones: a near miss meets its document's chunks nearest the
question (the chunk about weekday hours for the question about Sunday's), an answerable
question the nearest chunks of its document that lack its answer. Paired at random, a near
miss mostly met sections off its point, and the reader learned to reject those: on unseen
plain documents it told answers from near misses with an AUC of 0.89 on such pairs but 0.45
on what search gave it in the app.

With `siblings` (`train-reader --siblings`), each section a near miss meets is also given,
as an `answer` pair of kind `sibling`, to a question of the same document that it does
answer. Trained on tempting near misses alone, the reader learnt to distrust the section
search ranks first (it scored the right section first for 71.4% of held-out plain
questions, against 78.6%); meeting that section with both a question it answers and one it
nearly answers, it has to learn what is missing, not where.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.training.squad import Passage, QASet, Question, split_articles, write_passages
from assistant.training.windows import short_window

KINDS = ("answer", "unanswerable", "hard", "easy", "short_answer", "short_negative",
         "retrieved", "swapped", "sibling")


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


# A name: capitalised words in a row (inner "of", "the", "de" allowed); a number: digits.
_NAME = r"[A-Z][\w'\u2019-]*(?:\s+(?:(?:of|the|de|von|van|and)\s+)?[A-Z][\w'\u2019-]*)*"
_NUMBER = r"\d[\d,.]*\d|\d"
_TERM = re.compile(rf"(?<![\w'\u2019-])(?:(?P<number>{_NUMBER})|(?P<name>{_NAME}))(?![\w'\u2019-])")
# a capitalised word counts as a name only after a lower-case word or a comma: a sentence's
# first word ("The", "However") is not one
_AFTER_WORD = re.compile(r"[a-z,;:()]\s+$")
_NEXT_CAPITAL = re.compile(r"(?<=\s)[A-Z]")


def terms(text: str) -> list[tuple[int, int, str]]:
    """The names and numbers of `text` as (start, end, shape); shape is "name1" (one word),
    "nameN" (several) or "numberK" (K digits). A name opening a sentence is skipped."""
    found = []
    for m in _TERM.finditer(text):
        if m.group("number"):
            digits = sum(ch.isdigit() for ch in m.group())
            found.append((m.start(), m.end(), f"number{digits}"))
            continue
        start = m.start()
        if not _AFTER_WORD.search(text[max(0, start - 40):start]):
            rest = _NEXT_CAPITAL.search(m.group(), 1)  # "The Brannock": "Brannock"
            if rest is None:
                continue
            start += rest.start()
        name = text[start:m.end()]
        if len(name) < 2 or name.endswith(("'s", "\u2019s")):
            continue  # "T", "O" (a variable, a notation); a possessive reads wrong swapped
        found.append((start, m.end(), "name1" if " " not in name else "nameN"))
    return found


def swapped_question(question: str, passage: str, pool: dict[str, list[str]],
                     rng: random.Random) -> str | None:
    """`question` with one of its names or numbers that `passage` contains replaced by a
    term of the same shape from `pool` that `passage` lacks; None when there is none."""
    low = passage.lower()
    spots = [(a, b, shape) for a, b, shape in terms(question)
             if question[a:b].lower() in low and pool.get(shape)]
    if not spots:
        return None
    a, b, shape = rng.choice(spots)
    original = question[a:b].lower()
    choices = [t for t in pool[shape] if t.lower() != original and t.lower() not in low]
    if not choices:
        return None
    return question[:a] + rng.choice(choices) + question[b:]


def term_pool(texts: Sequence[str]) -> dict[str, list[str]]:
    """Every distinct name and number of `texts`, by shape (sorted: the same seed, the same
    pairs)."""
    pool: dict[str, set[str]] = {}
    for text in texts:
        for a, b, shape in terms(text):
            pool.setdefault(shape, set()).add(text[a:b])
    return {shape: sorted(found) for shape, found in pool.items()}


def document_questions(qa: QASet) -> QASet:
    """`qa` with each answerable question's passages narrowed to those holding a gold answer
    (a document's other sections become its same-article negatives)."""
    questions = []
    for q in qa.questions:
        if q.answerable:
            holding = tuple(pid for pid in q.paragraph_ids
                            if _holds(qa.paragraphs[pid].text, q.answers))
            q = Question(q.id, q.question, q.answers, holding or q.paragraph_ids, q.article)
        questions.append(q)
    return QASet(qa.source, dict(qa.paragraphs), questions)


def build_reader_pairs(qa: QASet, passages: dict[str, list[Passage]], *, seed: int = 0,
                       hard_per_question: int = 1, easy_share: float = 0.3,
                       unanswerable_chunks: int = 1, short_share: float = 0.5,
                       neighbours: Callable[[Question], Sequence[Passage]] | None = None,
                       retrieved_per_question: int = 1,
                       swapped_share: float = 0.0,
                       tempting: Callable[[Question], Sequence[Passage]] | None = None,
                       tempting_hard: bool = True,
                       siblings: bool = False) -> list[ReaderPair]:
    """Every question of `qa` as reader pairs (see the module's docstring), shuffled.

    `tempting(q)`: passages in the order search would rank them for the question, best
    first; an unanswerable question's own passages and (with `tempting_hard`) every
    question's `hard` negatives are then taken in that order instead of at random.

    `neighbours(q)`: the passages search ranks first for the question, best first; the first
    `retrieved_per_question` of them that do not hold its answer become `retrieved` pairs.

    `siblings`: each passage an unanswerable question meets is also paired with a question of
    the same article whose answer it holds (kind `sibling`), when there is one.

    A negative never contains a gold answer of its question (a paragraph that happens to
    mention it would teach the reader to ignore the answer).
    """
    rng = random.Random(seed)
    sibling_rng = random.Random(seed + 1)  # its own draws: the other pairs stay the same
    answerable: dict[str, list[Question]] = {}
    for q in qa.questions if siblings else ():
        if q.answerable:
            answerable.setdefault(q.article, []).append(q)
    by_article: dict[str, list[Passage]] = {}
    for plist in passages.values():
        for p in plist:
            by_article.setdefault(p.paragraph.article, []).append(p)
    articles = sorted(by_article)
    pairs: list[ReaderPair] = []
    pools = {a: term_pool([p.text for p in plist]) for a, plist in by_article.items()} \
        if swapped_share > 0 else {}

    def pair(q: Question, p: Passage, kind: str, span: tuple[int, int] | None = None,
             answers: tuple[str, ...] = ()) -> ReaderPair:
        start, end = span if span is not None else (-1, -1)
        return ReaderPair(q.question, p.text, start, end, answers, kind, q.article)

    def short(q: Question, p: Passage, window: tuple[int, int], kind: str,
              span: tuple[int, int] | None = None) -> ReaderPair:
        a, b = window
        cut = Passage(p.paragraph, p.text[a:b])
        inside = None if span is None else (span[0] - a, span[1] - a)
        return pair(q, cut, kind, inside, q.answers if span is not None else ())

    for q in qa.questions:
        own = [p for pid in q.paragraph_ids for p in passages.get(pid, [])]
        if q.answerable:
            for p in own:
                span = find_answer(p.text, q.answers)
                if span is not None:
                    pairs.append(pair(q, p, "answer", span, q.answers))
                    # (no draw at all when off: the shipped reader's pairs come out again)
                    if short_share > 0 and rng.random() < short_share:
                        window = short_window(p.text, span[0], rng)
                        if window is not None and window[1] >= span[1]:
                            pairs.append(short(q, p, window, "short_answer", span))
                        window = short_window(p.text, None, rng, avoid=span)
                        if window is not None and not _holds(p.text[window[0]:window[1]],
                                                             q.answers):
                            pairs.append(short(q, p, window, "short_negative"))
                    if swapped_share > 0 and rng.random() < swapped_share:
                        other = swapped_question(q.question, p.text, pools[q.article], rng)
                        if other is not None:
                            pairs.append(ReaderPair(other, p.text, -1, -1, (), "swapped",
                                                    q.article))
                    break
        else:
            for p in _first(own, tempting(q) if tempting else None, unanswerable_chunks, rng):
                pairs.append(pair(q, p, "unanswerable"))
                if siblings:
                    pairs.extend(_sibling(answerable.get(q.article, []), p, sibling_rng))
                window = short_window(p.text, None, rng) if short_share > 0 else None
                if window is not None and rng.random() < short_share:
                    pairs.append(short(q, p, window, "short_negative"))
        same = [p for p in by_article.get(q.article, [])
                if p.paragraph.id not in q.paragraph_ids and not _holds(p.text, q.answers)]
        for p in _first(same, tempting(q) if tempting and tempting_hard else None,
                        hard_per_question, rng):
            pairs.append(pair(q, p, "hard"))
        if neighbours is not None:
            near = [p for p in neighbours(q) if not _holds(p.text, q.answers)
                    and (q.answerable or p.paragraph.id not in q.paragraph_ids)]
            for p in near[:retrieved_per_question]:
                pairs.append(pair(q, p, "retrieved"))
        others = [a for a in articles if a != q.article]
        if others and rng.random() < easy_share:
            p = rng.choice(by_article[rng.choice(others)])
            if not _holds(p.text, q.answers):
                pairs.append(pair(q, p, "easy"))
    rng.shuffle(pairs)
    return pairs


def _sibling(questions: Sequence[Question], p: Passage, rng: random.Random
             ) -> list[ReaderPair]:
    """One of `questions` that `p` answers, as a `sibling` pair with its span (none: [])."""
    found = [(q, span) for q in questions if (span := find_answer(p.text, q.answers))]
    if not found:
        return []
    q, (start, end) = rng.choice(found)
    return [ReaderPair(q.question, p.text, start, end, q.answers, "sibling", q.article)]


def _first(pool: list[Passage], order: Sequence[Passage] | None, n: int,
           rng: random.Random) -> list[Passage]:
    """`n` passages of `pool` (or all, if fewer): the first in `order` when given, the
    rest (those `order` does not rank) drawn at random."""
    if order is None:
        return rng.sample(pool, min(n, len(pool)))
    inside = {id(p) for p in pool}
    ranked = [p for p in order if id(p) in inside][:n]
    taken = {id(p) for p in ranked}
    rest = [p for p in pool if id(p) not in taken]
    return ranked + rng.sample(rest, min(n - len(ranked), len(rest)))


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


def nearest_passages(questions: Sequence[Question], passages: dict[str, list[Passage]],
                     embed: Callable[[list[str]], Any], depth: int = 5
                     ) -> dict[str, list[Passage]]:
    """Each question's `depth` nearest passages by the embedder's cosine (the app's vector
    search, without the keyword half), best first: what search hands the reader."""
    import numpy as np

    flat = [p for plist in passages.values() for p in plist]
    if not flat or not questions:
        return {}
    docs = np.asarray(embed([p.text for p in flat]), dtype=np.float32)
    queries = np.asarray(embed([q.question for q in questions]), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True) + 1e-9
    queries /= np.linalg.norm(queries, axis=1, keepdims=True) + 1e-9
    out: dict[str, list[Passage]] = {}
    for q, row in zip(questions, queries @ docs.T, strict=True):
        best = np.argsort(-row)[:depth]
        out[q.id] = [flat[i] for i in best]
    return out


@contextlib.contextmanager
def indexed_search(qa: QASet, embedder: Any) -> Iterator[Callable[[str, int], list[Any]]]:
    """`search(question, k)`: the app's own search (its index, hybrid keyword and vector
    search) over `qa`'s paragraphs, each written as a file and indexed as the app indexes a
    folder, in a temporary store removed afterwards."""
    import tempfile
    from pathlib import Path

    from assistant.ingest import Indexer
    from assistant.search import Retriever
    from assistant.store import Store

    with tempfile.TemporaryDirectory(prefix="assistant-qa-") as temp:
        root = Path(temp)
        store = Store(root / "search.sqlite3")
        try:
            write_passages(qa, root / "passages")
            Indexer(store, embedder).index([root / "passages"], "qa")
            retriever = Retriever(store, embedder)
            yield lambda question, k: list(retriever.search(question, k, collections=["qa"]))
        finally:
            store.close()


def searched_passages(qa: QASet, passages: dict[str, list[Passage]], embedder: Any,
                      depth: int = 20) -> dict[str, list[Passage]]:
    """Each question's first `depth` passages as the app's own search ranks them (its index,
    hybrid keyword and vector search), best first: what the reader is handed at answer time.
    The embedder's cosine alone ranks a near miss's section less faithfully ("How much oil
    goes into the automatic gearbox?" first finds the service intervals; keyword search, the
    fluids list that names the gearbox)."""
    from pathlib import Path

    by_file = {p.file_name: pid for pid, p in qa.paragraphs.items()}
    out: dict[str, list[Passage]] = {}
    with indexed_search(qa, embedder) as search:
        for q in qa.questions:
            ranked: list[Passage] = []
            for hit in search(q.question, depth):
                chunks = passages.get(by_file.get(Path(hit.path).name, ""), [])
                text = hit.text.strip()
                match = next((c for c in chunks if c.text.strip() == text), None) or \
                    next((c for c in chunks if text[:80] in c.text), None)
                if match is not None and all(match is not r for r in ranked):
                    ranked.append(match)
            out[q.id] = ranked
    return out

