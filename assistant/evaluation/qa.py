"""`assistant eval qa`: questions with gold answers, asked through the app's own answer path.

The passages are written as files and indexed into a throw-away store, exactly as a user's
documents would be; each question then goes through `answer_question` with the app's
settings and adapter. With `oracle`, retrieval is skipped and each question gets its own
passages (to measure the model and adapter alone). With a collection name, the questions
are asked against that collection of the user's own store instead.

Metrics follow the SQuAD 2.0 script where it defines them (exact match and token F1 on
normalised text; an unanswerable question scores 1 when refused) and add what a user of this
app cares about: "the answer contains a gold answer", correct and false refusals, empty
answers, citation accuracy (a cited passage holds a gold answer) and latency.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.answer import EMPTY_ANSWER_TEXT, SHIPPED, Answer, answer_question
from assistant.answer.support import QUOTE_LEAD
from assistant.search import Hit
from assistant.training.squad import QASet, Question, normalize, token_f1, write_passages

Progress = Callable[[int, int, str], None]


_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def answer_text(answer: Answer) -> str:
    """The words of the answer, without markers (for a quote: the quoted sentence)."""
    if answer.grounding == "quoted" and answer.quote is not None:
        return answer.quote.text
    text = _MARKERS.sub("", answer.text)
    return text.replace(QUOTE_LEAD, "").strip().strip("\u201c\u201d")


@dataclass
class Row:
    """One question's outcome, kept in the JSON report."""

    id: str
    question: str
    answerable: bool
    gold: list[str]
    answer: str
    grounding: str
    exact: float
    f1: float
    contains: bool
    refused: bool
    empty: bool
    cited_gold: bool | None  # None when nothing was cited or the question is unanswerable
    seconds: float
    refusal_probability: float | None
    not_found_reason: str
    reader_probability: float | None = None
    # "answerable", "unanswerable" (SQuAD's own), or "missing": an answerable question asked
    # with every passage holding its answer taken out of the results, so the library lacks it
    kind: str = ""
    # whether a passage given to the model held a gold answer (None: no gold answers)
    passage_holds_gold: bool | None = None
    # the answer-or-refuse decision's score (refused from the strictness's threshold; None
    # where it did not decide): with it a report can be read again at another threshold
    refusal_score: float | None = None
    # the reader's probability for the sentence the answer came from, read alone
    sentence_probability: float | None = None
    # the decision's inputs (`answerability.Evidence`), so that a report can be scored again
    # with other weights without asking again (tests/bench/rethreshold.py --weights)
    evidence: dict[str, float | None] | None = None


def holds_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether a passage holds one of the gold answers (as `cited_gold` reads it)."""
    norm = normalize(text)
    return any(normalize(a) and normalize(a) in norm for a in answers)


def holds_gold(text: str, answers: Sequence[str]) -> bool:
    """Whether an answer's words hold one of the gold answers, as whole words ("contains")."""
    norm = f" {normalize(text)} "
    return any(f" {normalize(g)} " in norm for g in answers)


def score(question: Question, answer: Answer, missing: bool = False) -> Row:
    """The answer's metrics; `missing`: the question was asked without the passages holding its
    answer, so it is unanswerable from the library and a refusal is right."""
    refused = answer.grounding == "not_found"
    text = answer_text(answer)
    empty = not refused and (not text or answer.text.strip() == EMPTY_ANSWER_TEXT)
    answerable = question.answerable and not missing
    kind = "missing" if missing else "answerable" if answerable else "unanswerable"
    if answerable:
        exact = 0.0 if refused else max(float(normalize(text) == normalize(g))
                                        for g in question.answers)
        f1 = 0.0 if refused else max(token_f1(text, g) for g in question.answers)
        contains = not refused and holds_gold(text, question.answers)
        cited: bool | None = None
        if not refused and answer.citations:
            cited = any(holds_answer(c.hit.text, question.answers) for c in answer.citations)
    else:
        exact = f1 = float(refused)
        contains, cited = False, None
    return Row(question.id, question.question, answerable, list(question.answers),
               answer.text, answer.grounding, exact, f1, contains, refused, empty, cited,
               round(answer.seconds, 3), answer.refusal_probability, answer.not_found_reason,
               answer.reader_probability, kind,
               any(holds_answer(h.text, question.answers) for h in answer.consulted)
               if question.answers else None,
               None if answer.refusal_score is None else round(answer.refusal_score, 4),
               answer.sentence_probability,
               None if answer.evidence is None else asdict(answer.evidence))


def _three(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class QAReport:
    source: str
    mode: str  # "indexed", "oracle" or "collection"
    settings: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    index_seconds: float = 0.0

    def _reader_auc(self, against: str = "unanswerable") -> float | None:
        """How well the reader's best probability separates answerable questions from those
        of kind `against` (questions refused by retrieval count as 0)."""
        from assistant.training.reader_metrics import auc

        rows = [r for r in self.rows if r.kind in ("answerable", against)]
        if all(r.reader_probability is None for r in rows) or all(r.answerable for r in rows):
            return None
        value = auc([r.answerable for r in rows], [r.reader_probability or 0.0 for r in rows])
        return None if value is None else round(value, 4)

    def summary(self) -> dict[str, Any]:
        ans = [r for r in self.rows if r.answerable]
        una = [r for r in self.rows if r.kind == "unanswerable"]
        missing = [r for r in self.rows if r.kind == "missing"]
        answered = [r for r in ans if not r.refused]
        cited = [r for r in answered if r.cited_gold is not None]

        def share(rows: Sequence[Row], test: Callable[[Row], bool]) -> float | None:
            return round(sum(1 for r in rows if test(r)) / len(rows), 4) if rows else None

        seconds = [r.seconds for r in self.rows]
        grounding = Counter(r.grounding for r in self.rows)
        return {
            "questions": len(self.rows), "answerable": len(ans), "unanswerable": len(una),
            "exact_match": share(self.rows, lambda r: r.exact == 1.0),
            "f1": round(sum(r.f1 for r in self.rows) / len(self.rows), 4) if self.rows else None,
            "answerable_exact_match": share(ans, lambda r: r.exact == 1.0),
            "answerable_f1": (round(sum(r.f1 for r in ans) / len(ans), 4) if ans else None),
            "contains_gold": share(ans, lambda r: r.contains),
            "correct_refusals": share(una, lambda r: r.refused),
            "false_refusals": share(ans, lambda r: r.refused),
            "empty_answers": sum(1 for r in self.rows if r.empty),
            "citation_accuracy": share(cited, lambda r: bool(r.cited_gold)),
            # search's part: a passage given to the model held the answer
            "passage_recall": share([r for r in ans if r.passage_holds_gold is not None],
                                    lambda r: bool(r.passage_holds_gold)),
            "latency_p50_s": round(_percentile(seconds, 0.5), 3),
            "latency_p95_s": round(_percentile(seconds, 0.95), 3),
            "grounding": dict(grounding),
            "reader_auc": self._reader_auc(),
            "missing": len(missing),
            "missing_correct_refusals": share(missing, lambda r: r.refused),
            "reader_auc_missing": self._reader_auc("missing") if missing else None,
            "index_seconds": round(self.index_seconds, 1),
        }

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "mode": self.mode, "settings": self.settings,
                "summary": self.summary(), "questions": [asdict(r) for r in self.rows]}

    def markdown(self) -> str:
        s = self.summary()

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        lines = [f"# QA evaluation: {self.source}", "",
                 f"Mode: {self.mode}; {s['questions']} questions ({s['answerable']} answerable, "
                 f"{s['unanswerable']} unanswerable"
                 + (f", {s['missing']} with the answer taken out of the library"
                    if s["missing"] else "") + ").", "",
                 "| metric | value |", "| --- | --- |",
                 f"| exact match (all) | {pct(s['exact_match'])} |",
                 f"| token F1 (all) | {pct(s['f1'])} |",
                 f"| answerable: contains a gold answer | {pct(s['contains_gold'])} |",
                 f"| answerable: exact match | {pct(s['answerable_exact_match'])} |",
                 f"| answerable: false refusals | {pct(s['false_refusals'])} |",
                 f"| unanswerable: correct refusals | {pct(s['correct_refusals'])} |",
                 *([f"| answer not in the library ({s['missing']}): correct refusals | "
                    f"{pct(s['missing_correct_refusals'])} |"] if s["missing"] else []),
                 f"| empty answers | {s['empty_answers']} |",
                 f"| citation accuracy | {pct(s['citation_accuracy'])} |",
                 f"| reader AUC (answerable vs not) | "
                 f"{'-' if s['reader_auc'] is None else format(s['reader_auc'], '.3f')} |",
                 *([f"| reader AUC (answerable vs not in the library) | "
                    f"{_three(s['reader_auc_missing'])} |"] if s["missing"] else []),
                 f"| latency p50 / p95 | {s['latency_p50_s']:.2f} s / "
                 f"{s['latency_p95_s']:.2f} s |",
                 f"| grounding | {', '.join(f'{k} {v}' for k, v in s['grounding'].items())} |",
                 "", "Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()), ""]
        wrong = [r for r in self.rows if (r.answerable and not r.contains) or
                 (not r.answerable and not r.refused)][:10]
        if wrong:
            lines += ["## Examples that went wrong", ""]
            for r in wrong:
                gold = "; ".join(r.gold) if r.gold else "(unanswerable)"
                lines.append(f"- **{r.question}** gold: {gold} — got ({r.grounding}): "
                             f"{' '.join(r.answer.split())[:200]}")
        return "\n".join(lines) + "\n"

    def save(self, folder: Path, stem: str = "qa") -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False),
                             encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path


def sample(questions: Sequence[Question], limit: int | None, seed: int = 0,
           balanced: bool = False) -> list[Question]:
    """`limit` questions, answerable and unanswerable in their original proportion (or, with
    `balanced`, half each)."""
    if not limit or limit >= len(questions):
        return list(questions)
    rng = random.Random(seed)
    ans = [q for q in questions if q.answerable]
    una = [q for q in questions if not q.answerable]
    n_una = limit // 2 if balanced else round(limit * len(una) / len(questions))
    picked = rng.sample(ans, min(len(ans), limit - n_una)) + rng.sample(una, min(len(una), n_una))
    rng.shuffle(picked)
    return picked


def sample_missing(questions: Sequence[Question], n: int, seed: int = 0,
                   skip: Sequence[Question] = ()) -> list[Question]:
    """`n` answerable questions (none of `skip`) to ask with their answer out of the library."""
    taken = {q.id for q in skip}
    pool = [q for q in questions if q.answerable and q.id not in taken]
    return random.Random(seed + 1).sample(pool, min(n, len(pool)))


MISSING_EXTRA = 10  # hits fetched beyond k for a "missing" question, as some are taken out


def oracle_hits(qa: QASet, question: Question, chunk: Callable[[str], list[Any]],
                folder: Path) -> list[Hit]:
    """The question's own passages as hits (retrieval skipped: both ranks first)."""
    hits = []
    for pid in question.paragraph_ids:
        paragraph = qa.paragraphs[pid]
        for c in chunk(paragraph.text):
            hits.append(Hit(chunk_id=-1, document_id=-1, path=str(folder / paragraph.file_name),
                            page=None, start=c.start, end=c.end, text=c.text, score=1.0,
                            similarity=1.0, keyword_rank=1, vector_rank=1, collection="oracle"))
    return hits


def run_qa(qa: QASet, questions: Sequence[Question], *, generator: Any,
           settings: dict[str, Any], embedder: Any = None, oracle: bool = False,
           collection: str | None = None, store: Any = None,
           progress: Progress | None = None, work_dir: Path | None = None,
           on_row: Callable[[Row], None] | None = None,
           on_answer: Callable[[Question, Answer], None] | None = None,
           missing: Sequence[Question] = ()) -> QAReport:
    """Ask every question the way the app does and score the answers.

    `missing`: answerable questions asked again with every passage holding a gold answer
    taken out of the search results, as if the library lacked it (the commonest "not in
    your documents" case for a user, and unlike SQuAD's unanswerable questions, which are
    written against a passage that looks as if it held the answer)."""
    if missing and oracle:
        raise ValueError("questions with the answer taken out need retrieval, not oracle")
    from assistant.ingest import Chunker, Indexer
    from assistant.search import Retriever
    from assistant.store import Store

    mode = "oracle" if oracle else "collection" if collection else "indexed"
    report = QAReport(qa.source, mode, dict(settings))
    temp = tempfile.TemporaryDirectory(prefix="assistant-eval-") if work_dir is None else None
    root = Path(temp.name) if temp is not None else Path(work_dir or ".")
    own_store = None
    try:
        folder = root / "passages"
        ask_retriever: Callable[[Question], Callable[[str, int], list[Hit]]]
        if oracle:
            chunker = Chunker()
            write_passages(qa, folder)

            def ask_retriever(q: Question) -> Callable[[str, int], list[Hit]]:
                hits = oracle_hits(qa, q, chunker.chunk_page, folder)
                return lambda _query, k: hits[:k]
        else:
            if collection is None:
                own_store = Store(root / "eval.sqlite3")
                started = time.monotonic()
                files = write_passages(qa, folder)
                if progress is not None:
                    progress(0, len(files), f"indexing {len(files)} passages")
                Indexer(own_store, embedder).index([folder], "eval")
                report.index_seconds = time.monotonic() - started
            target = collection or "eval"
            retriever = Retriever(own_store or store, embedder)

            def ask_retriever(q: Question) -> Callable[[str, int], list[Hit]]:
                return lambda query, k: retriever.search(query, k, collections=[target])

        def without_answer(q: Question) -> Callable[[str, int], list[Hit]]:
            search = ask_retriever(q)
            return lambda query, k: [h for h in search(query, k + MISSING_EXTRA)
                                     if not holds_answer(h.text, q.answers)][:k]

        asks = [(q, False) for q in questions] + [(q, True) for q in missing]
        for i, (question, taken_out) in enumerate(asks, 1):
            if progress is not None:
                progress(i - 1, len(asks), question.question[:50])
            retrieve = without_answer(question) if taken_out else ask_retriever(question)
            answer = answer_question(
                question.question, retriever=retrieve, generator=generator,
                top_k=settings["top_k"], strictness=settings["strictness"],
                max_tokens=settings["max_answer_tokens"], temperature=settings["temperature"],
                focus_words=settings.get("focus_words"),
                reader=SHIPPED if settings.get("reader", "on") == "on" else None,
                rerank=settings.get("rerank"))
            report.rows.append(score(question, answer, missing=taken_out))
            if on_answer is not None:  # the whole answer (passages, ranks), for calibration
                on_answer(question, answer)
            if on_row is not None:  # e.g. written as it comes, so a stopped run keeps its rows
                on_row(report.rows[-1])
        if progress is not None:
            progress(len(asks), len(asks), "done")
    finally:
        if own_store is not None:
            own_store.close()
        if temp is not None:
            temp.cleanup()
    return report
