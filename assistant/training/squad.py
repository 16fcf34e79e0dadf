"""Question-answering data: SQuAD 2.0 JSON or our JSONL, an article split, and RAFT examples.

Used twice, so both sides read the data the same way:

* `assistant eval qa` reads questions with their passages and gold answers;
* the grounded-answer adapter is trained on RAFT-style examples built from the same data
  (Zhang et al. 2024, "RAFT"): the question with 3 to 5 numbered passages, where either one
  passage holds the answer and the target is the short answer with its `[n]` marker, or none
  does and the target is the refusal sentence.

Passages are the chunks the indexer would make of each paragraph (same chunker, same size),
and they are named like the files `assistant eval qa` indexes, so a training prompt looks
exactly like the prompt the app builds at answer time. The split is by article, so a model
is validated on articles it never saw.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import UserError
from assistant.training.data import Example
from assistant.training.windows import short_window

REFUSAL = "I couldn't find this in your documents."  # the same sentence as answer.NOT_FOUND_TEXT


@dataclass(frozen=True)
class Paragraph:
    """One passage of the data set: the unit `assistant eval qa` writes as a file."""

    id: str  # "<article>-<n>", also the file name's stem
    article: str
    text: str

    @property
    def file_name(self) -> str:
        return f"{self.id}.txt"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty when the passages do not hold the answer
    paragraph_ids: tuple[str, ...]  # the passages the question was written against
    article: str

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class QASet:
    """Questions and the paragraphs they refer to."""

    source: str
    paragraphs: dict[str, Paragraph] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)

    @property
    def articles(self) -> list[str]:
        return sorted({p.article for p in self.paragraphs.values()})

    def only_articles(self, articles: Sequence[str]) -> QASet:
        keep = set(articles)
        return QASet(self.source,
                     {k: p for k, p in self.paragraphs.items() if p.article in keep},
                     [q for q in self.questions if q.article in keep])


def normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 on normalised text."""
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "article"


def _dedupe(answers: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for a in answers:
        a = " ".join(str(a).split())
        if a and a not in seen:
            seen.append(a)
    return tuple(seen)


def _from_squad(data: dict[str, Any], source: str) -> QASet:
    qa = QASet(source)
    for article in data.get("data", []):
        title = _slug(str(article.get("title", "article")))
        for i, para in enumerate(article.get("paragraphs", []), 1):
            pid = f"{title}-{i:03d}"
            qa.paragraphs[pid] = Paragraph(pid, title, str(para.get("context", "")))
            for q in para.get("qas", []):
                impossible = bool(q.get("is_impossible", False))
                answers = () if impossible else _dedupe(a.get("text", "") for a in
                                                       q.get("answers", []))
                qa.questions.append(Question(str(q.get("id", len(qa.questions))),
                                             str(q.get("question", "")), answers, (pid,), title))
    return qa


def _from_jsonl(text: str, source: str) -> QASet:
    """Our JSONL: {"question", "answers": [...], "context" or "contexts": [...],
    "answerable": false allowed, "article" optional}, one object a line."""
    qa = QASet(source)
    by_text: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{source}, line {line_no}: not valid JSON ({err.msg}).") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise UserError(f"{source}, line {line_no}: needs a \"question\" text.")
        contexts = obj.get("contexts", obj.get("context", []))
        if isinstance(contexts, str):
            contexts = [contexts]
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise UserError(f"{source}, line {line_no}: \"contexts\" must be a list of texts.")
        article = _slug(str(obj.get("article", "questions")))
        pids = []
        for context in contexts:
            key = " ".join(context.split())
            if key not in by_text:
                pid = f"{article}-{len(by_text) + 1:04d}"
                by_text[key] = pid
                qa.paragraphs[pid] = Paragraph(pid, article, context)
            pids.append(by_text[key])
        answers = obj.get("answers", [])
        if isinstance(answers, str):
            answers = [answers]
        answerable = obj.get("answerable", True) is not False
        qa.questions.append(Question(str(obj.get("id", line_no)), obj["question"],
                                     _dedupe(answers) if answerable else (), tuple(pids),
                                     article))
    return qa


def load_qa(path: str | Path) -> QASet:
    """SQuAD 2.0 JSON (`{"data": [...]}`) or our JSONL; a sentence when it is neither."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"Cannot read '{path}': {err.strerror or err}.") from None
    except UnicodeDecodeError:
        raise UserError(f"'{path.name}' is not UTF-8 text.") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and '"data"' in stripped[:4096]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            qa = _from_squad(data, path.name)
            if not qa.questions:
                raise UserError(f"'{path.name}' holds no questions.")
            return qa
    qa = _from_jsonl(text, path.name)
    if not qa.questions:
        raise UserError(f"'{path.name}' holds no questions (SQuAD 2.0 JSON or JSONL expected).")
    return qa


def write_passages(qa: QASet, folder: Path) -> list[Path]:
    """Each paragraph as a text file, named as the training examples name their sources."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for paragraph in qa.paragraphs.values():
        path = folder / paragraph.file_name
        path.write_text(paragraph.text.strip() + "\n", encoding="utf-8")
        written.append(path)
    return written


def split_articles(articles: Sequence[str], *, held_out: float = 0.25,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """(training articles, held-out articles): a fixed order by hash, so anyone repeats it."""
    ranked = sorted(articles, key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    n_out = max(1, round(len(ranked) * held_out)) if len(ranked) > 1 else 0
    return sorted(ranked[n_out:]), sorted(ranked[:n_out])


# --------------------------------------------------------------------------- RAFT examples

@dataclass(frozen=True)
class Passage:
    paragraph: Paragraph
    text: str


def passages_of(qa: QASet, chunk: Any) -> dict[str, list[Passage]]:
    """Each paragraph's chunks, as the indexer would cut them (`chunk(text) -> [str]`)."""
    return {pid: [Passage(p, t) for t in chunk(p.text)] for pid, p in qa.paragraphs.items()}


def _holds(text: str, answers: Sequence[str]) -> bool:
    """Whether `text` contains one of `answers` as whole words.

    Whole words, because SQuAD has answers such as "P", "k" or "." that a plain substring test
    finds in every passage (no distractor could then be chosen). An answer with no letter or
    digit is ignored.
    """
    return _answer_at(text, answers) is not None


def _answer_at(text: str, answers: Sequence[str]) -> int | None:
    """Where the first of `answers` found as whole words (as `_holds` reads them) starts in
    `text`; None when none is there."""
    low = text.lower()
    for a in answers:
        a = a.lower().strip()
        if any(ch.isalnum() for ch in a):
            m = re.search(r"(?<!\w)" + re.escape(a) + r"(?!\w)", low)
            if m:
                return m.start()
    return None


def build_raft_examples(qa: QASet, passages: dict[str, list[Passage]], *, count: int,
                        seed: int = 0, answerable_share: float = 0.55,
                        min_passages: int = 3, max_passages: int = 5,
                        order: Callable[[str, list[str]], Sequence[float]] | None = None,
                        short_share: float = 0.0) -> list[Example]:
    """`count` examples: answerable ones (oracle among distractors) and refusals.

    Refusals are of two kinds, half each: a question the data marks unanswerable shown with
    its own paragraph (the hard case: on topic, no answer), and an answerable question shown
    with distractors only (its oracle removed). Distractors come from the same article first
    (hard negatives), then from other articles, and never contain a gold answer.

    `order(question, texts) -> scores`, when given, sorts each example's passages the way
    the answer path will show them (highest score first), so the model learns on the
    positions it will meet; without it they stay in random order.

    `short_share`: the share of examples whose passages are each cut to one or two of their
    sentences (the oracle's window holds the answer). A user's passages are often that short
    (a note, a slide, a table row), and adapters trained on whole SQuAD paragraphs only
    answered worse there and refused more: both retrained ones lost on our own documents.
    """
    rng = random.Random(seed)
    by_article: dict[str, list[Passage]] = {}
    for plist in passages.values():
        for p in plist:
            by_article.setdefault(p.paragraph.article, []).append(p)
    every = [p for plist in by_article.values() for p in plist]
    answerable = [q for q in qa.questions if q.answerable]
    impossible = [q for q in qa.questions if not q.answerable]
    rng.shuffle(answerable)
    rng.shuffle(impossible)
    n_ans = round(count * answerable_share)
    n_imp = (count - n_ans + 1) // 2 if impossible else 0
    n_removed = count - n_ans - n_imp
    examples: list[Example] = []

    def distractors(q: Question, n: int, exclude: set[str], answers: Sequence[str]
                    ) -> list[Passage]:
        same = [p for p in by_article.get(q.article, []) if p.paragraph.id not in exclude]
        rng.shuffle(same)
        chosen: list[Passage] = []
        n_same = rng.randint(1, max(1, n - 1)) if n > 1 else n
        for p in same:
            if len(chosen) >= n_same:
                break
            if not _holds(p.text, answers):
                chosen.append(p)
        for _ in range(200 * n):  # bounded: a common answer may be in most passages
            if len(chosen) >= n:
                break
            p = rng.choice(every)
            if p.paragraph.id not in exclude and p not in chosen and not _holds(p.text, answers):
                chosen.append(p)
        return chosen

    def arrange(q: Question, shown: list[Passage]) -> list[Passage]:
        if order is None:
            return shown
        scores = order(q.question, [p.text for p in shown])
        ranked = sorted(range(len(shown)), key=lambda i: -float(scores[i]))
        return [shown[i] for i in ranked]

    def shorten(shown: list[Passage], answers: Sequence[str]) -> list[Passage] | None:
        """Each passage cut to a window: the oracle's around its answer, any other's anywhere;
        None (keep the example whole) when a window would lose a gold answer the passage
        holds (the response names the shortest one the oracle holds)."""
        out = []
        for p in shown:
            at = _answer_at(p.text, answers) if answers else None
            window = short_window(p.text, at, rng)
            if window is None:
                out.append(p)
                continue
            text = p.text[window[0]:window[1]]
            if any(_holds(p.text, [a]) != _holds(text, [a]) for a in answers):
                return None  # the response names an answer the window must still hold
            out.append(Passage(p.paragraph, text))
        return out

    def example(q: Question, shown: list[Passage], response: str, kind: str) -> Example:
        if short_share > 0 and rng.random() < short_share:
            short = shorten(shown, q.answers)
            if short is not None:
                shown, kind = short, f"short_{kind}"
        return Example(prompt=q.question, response=response,
                       sources=tuple(p.text for p in shown),
                       source_names=tuple(p.paragraph.file_name for p in shown),
                       origin=f"{q.article} {kind} {q.id}")

    used = 0
    for q in answerable[:n_ans * 2]:
        if len(examples) >= n_ans:
            break
        used += 1
        oracle = [p for pid in q.paragraph_ids for p in passages.get(pid, [])
                  if _holds(p.text, q.answers)]
        if not oracle:
            continue
        n = rng.randint(min_passages, max_passages)
        shown = distractors(q, n - 1, set(q.paragraph_ids), q.answers)
        position = rng.randint(0, len(shown))
        shown.insert(position, oracle[0])
        shown = arrange(q, shown)
        position = shown.index(oracle[0])
        answer = min((a for a in q.answers if _holds(oracle[0].text, [a])), key=len)
        examples.append(example(q, shown, f"{answer} [{position + 1}]", "answer"))
    for q in impossible[:n_imp]:
        own = [p for pid in q.paragraph_ids for p in passages.get(pid, [])]
        n = rng.randint(min_passages, max_passages)
        shown = own[:n - 1] + distractors(q, n - min(len(own), n - 1), set(q.paragraph_ids), ())
        rng.shuffle(shown)
        examples.append(example(q, arrange(q, shown), REFUSAL, "unanswerable"))
    # Questions not used above lose their oracle. (From n_ans * 2 while there are enough, so
    # the shipped adapter's 320 examples are made again exactly; from the first unused one
    # when a large count would otherwise run out of questions.)
    # When even those run out, questions already shown with their oracle come again without
    # it: the same question both ways is the contrast the refusal is learned from.
    first = n_ans * 2 if len(answerable) >= n_ans * 2 + n_removed * 2 else used
    for q in answerable[first:] + answerable[:first]:
        if len(examples) >= count:
            break
        n = rng.randint(min_passages, max_passages)
        shown = distractors(q, n, set(q.paragraph_ids), q.answers)
        examples.append(example(q, arrange(q, shown), REFUSAL, "no_oracle"))
    rng.shuffle(examples)
    return examples
