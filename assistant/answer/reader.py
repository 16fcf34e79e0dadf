"""The reader: a small cross-encoder that judges whether a passage holds the answer, and where.

A generator asked whether it can answer is a weak judge (the 270M model separated
answerable from unanswerable questions with an AUC of 0.63); readers trained for that very
judgement on SQuAD 2.0 are strong ones. Ours is all-MiniLM-L6-v2 (the embedder's own
weights, already installed) with two heads, trained by `assistant train-reader`
(`assistant.training.reader_train`) and shipped as an int8 ONNX file of about 35 MB in
`resources/reader/`. It reads the question with one passage and gives:

* the probability that the passage holds the answer (answerability, reranking);
* the answer's span in the passage (the support check, the quoted fallback, the highlight);
* for a reader trained with a judge head, a second probability that the passage holds the
  answer, for the answer-or-refuse decision alone (`Reading.judged`).

It runs on ONNX Runtime, like the fast embedder: no torch at answer time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.search import Hit
from assistant.search.parallel import each_alone

READER_FILE = "reader.onnx"
MANIFEST_FILE = "reader.json"
READER_RECIPE = 1  # the recipe this code reads (the training side writes the same number)


@dataclass(frozen=True)
class Reading:
    """The reader's view of one passage."""

    probability: float  # that the passage holds the answer
    start: int  # character span of the answer in the passage (start == end: none found)
    end: int
    span_score: float  # start + end logit of that span
    # the judge head's probability that the passage holds the answer, for a reader trained
    # with one (`train-reader --judge-head`); None for one without
    judge: float | None = None

    @property
    def judged(self) -> float:
        """The probability the answer-or-refuse decision reads: the judge's where the reader
        has one (it learnt the near misses the ranking probability was kept from), else the
        ranking probability."""
        return self.probability if self.judge is None else self.judge

    def span(self, passage: str) -> str:
        return passage[self.start:self.end]


def shipped_dir() -> Path:
    from assistant import paths

    return paths.resources_dir() / "reader"


def _tokenizer_path() -> Path:
    from assistant.search import default_model_path

    return default_model_path() / "tokenizer.json"


class Reader:
    """The int8 reader on ONNX Runtime. Thread-safe (ONNX Runtime takes concurrent runs)."""

    def __init__(self, folder: Path | None = None, *, threads: int | None = None,
                 verify: bool = True) -> None:
        self.folder = folder or shipped_dir()
        self.file = self.folder / READER_FILE
        try:
            manifest = json.loads((self.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"The reader in {self.folder} has no readable manifest. "
                             "Reinstall the app.") from exc
        if not isinstance(manifest, dict) or manifest.get("recipe") != READER_RECIPE:
            raise ModelError(f"The reader in {self.folder} was made for another version of "
                             "the app. Reinstall the app.")
        if verify:
            try:
                digest = hashlib.sha256(self.file.read_bytes()).hexdigest()
            except OSError as exc:
                raise ModelError(f"The reader {self.file} cannot be read.") from exc
            if digest != manifest.get("sha256"):
                raise ModelError(f"The reader {self.file} is damaged. Reinstall the app.")
        self.max_length = int(manifest.get("max_length", 256))
        self.max_question_tokens = int(manifest.get("max_question_tokens", 64))
        self.max_answer_tokens = int(manifest.get("max_answer_tokens", 30))
        # One single-threaded session, run by `workers` threads on different passages at
        # once: each passage is read alone (see `read`).
        self.workers = threads or min(4, os.cpu_count() or 1)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
            self.tokenizer.no_padding()
            self.tokenizer.no_truncation()
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self.session = ort.InferenceSession(str(self.file), options,
                                                providers=["CPUExecutionProvider"])
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"The reader {self.file} could not be loaded ({exc}).") from exc
        self._cls = int(self.tokenizer.token_to_id("[CLS]") or 101)
        self._sep = int(self.tokenizer.token_to_id("[SEP]") or 102)

    def _encode(self, question_ids: list[int], passage: str
                ) -> tuple[list[int], list[int], int, list[tuple[int, int]]]:
        p = self.tokenizer.encode(passage, add_special_tokens=False)
        room = max(1, self.max_length - len(question_ids) - 3)
        ids: list[int] = [self._cls, *question_ids, self._sep, *p.ids[:room], self._sep]
        types = [0] * (len(question_ids) + 2) + [1] * (len(p.ids[:room]) + 1)
        offsets = [(int(a), int(b)) for a, b in p.offsets[:room]]
        return ids, types, len(question_ids) + 2, offsets

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        """One `Reading` per passage, in the order given.

        Each passage is read alone. The int8 model quantises its activations with one scale
        for the whole input, so in a batch a passage's probability moved with the passages
        beside it and their padding (by up to 0.13 on SQuAD paragraphs): the same passage
        could be judged differently for two searches. Alone it is also faster, no padding
        being computed (5 paragraphs on 2 cores: 64 ms at the median one after another with
        2 threads, against 83-107 ms in batches of 8).
        """
        if not passages:
            return []
        q_ids = self._question_ids(question)

        def one(passage: str) -> Reading:
            first, offsets, logit, start, end, judge = self._run(q_ids, passage)
            s_tok, e_tok, score = best_span(start, end, first, first + len(offsets),
                                            self.max_answer_tokens)
            if offsets and s_tok >= first:
                a, b = offsets[s_tok - first][0], offsets[e_tok - first][1]
            else:
                a = b = 0
            return Reading(_sigmoid(logit), int(a), int(b), score,
                           None if judge is None else _sigmoid(judge))

        return each_alone(one, passages, self.workers)

    def _question_ids(self, question: str) -> list[int]:
        """The question's tokens, cut to the first `max_question_tokens` (as in training)."""
        return list(self.tokenizer.encode(question, add_special_tokens=False).ids
                    [:self.max_question_tokens])

    def _run(self, q_ids: list[int], passage: str
             ) -> tuple[int, list[tuple[int, int]], float, Any, Any, float | None]:
        """One passage through the model: its first token's position, the passage tokens'
        character offsets, the answer logit, the start and end logits of every token, and
        the judge's logit (None for a reader without a judge head)."""
        tokens, types, first, offsets = self._encode(q_ids, passage)
        ids = np.asarray([tokens], dtype=np.int64)
        logit, start, end, *judge = self.session.run(None, {
            "input_ids": ids, "attention_mask": np.ones_like(ids),
            "token_type_ids": np.asarray([types], dtype=np.int64)})
        return (first, offsets, float(logit[0]), start[0], end[0],
                float(judge[0][0]) if judge else None)

    def logits(self, question: str, passages: Sequence[str]
               ) -> list[tuple[float, Any, Any]]:
        """Per passage: the answer logit and the start and end logits of the passage's own
        tokens (as float32 arrays): what a reader distilled from this one is held to
        (`assistant train-reader --distill-spans`)."""
        q_ids = self._question_ids(question)

        def one(passage: str) -> tuple[float, Any, Any]:
            first, offsets, logit, start, end, _ = self._run(q_ids, passage)
            last = first + len(offsets)
            return (logit, np.asarray(start[first:last], dtype=np.float32),
                    np.asarray(end[first:last], dtype=np.float32))

        return each_alone(one, passages, self.workers)

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[tuple[Hit, Reading]]:
        """The hits with their readings, the likeliest to hold the answer first (ties keep
        the retrieval order)."""
        readings = self.read(question, [hit.text for hit in hits])
        order = sorted(range(len(hits)), key=lambda i: -readings[i].probability)
        return [(hits[i], readings[i]) for i in order]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


def best_span(start: Any, end: Any, first: int, last: int, max_tokens: int = 30
              ) -> tuple[int, int, float]:
    """The highest-scoring span (start <= end < start + max_tokens) inside tokens
    [first, last), as (first token, last token, start + end logit)."""
    s = np.asarray(start[first:last], dtype=np.float32)
    e = np.asarray(end[first:last], dtype=np.float32)
    if s.size == 0:
        return first, first, float("-inf")
    best = (0, 0, float("-inf"))
    ends = np.argsort(-e)[:20]
    for i in np.argsort(-s)[:20]:
        for j in ends:
            if i <= j < i + max_tokens:
                score = float(s[i] + e[j])
                if score > best[2]:
                    best = (int(i), int(j), score)
    return first + best[0], first + best[1], best[2]


_WORDS = re.compile(r"\w+", re.UNICODE)
_ARTICLES = frozenset(("a", "an", "the"))


_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen twenty")
_TENS = "thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {w: str(n) for n, w in enumerate(_UNITS.split())}
_NUMBER_WORDS.update({w: str(10 * n) for n, w in enumerate(_TENS.split(), start=3)})


def _words(text: str) -> set[str]:
    """Lower-case words without articles, number words as digits ("thirty" is "30")."""
    return {_NUMBER_WORDS.get(w, w) for w in _WORDS.findall(text.lower())
            if w not in _ARTICLES}


def agrees(answer: str, span: str) -> bool:
    """Whether an answer says what the reader's span says: every number of the span is in
    the answer, and one holds the other's words or they share at least half of each other's."""
    a, s = _words(answer), _words(span)
    if not a or not s:
        return False
    if any(any(ch.isdigit() for ch in w) and w not in a for w in s):
        return False  # "15 months" never agrees with "27 months", "93 days" with "thirty days"
    if s <= a or a <= s:
        return True
    shared = len(a & s)
    return shared / len(s) >= 0.5 and shared / len(a) >= 0.5


_shared: Reader | None = None
_shared_failed = False
_shared_lock = threading.Lock()


def shipped_reader() -> Reader | None:
    """The reader installed with the app, loaded once; None when there is none (answers then
    fall back to the generator's own judgement)."""
    global _shared, _shared_failed
    with _shared_lock:
        if _shared is None and not _shared_failed:
            try:
                _shared = Reader()
            except ModelError:
                _shared_failed = True
        return _shared
