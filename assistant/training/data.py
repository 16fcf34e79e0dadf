"""Training examples: loading, checking, scrubbing and splitting the user's data.

Two sources feed a training run:

* a JSONL file, one object a line, either `{"prompt": ..., "response": ..., "sources": [...]}`
  (`sources` optional) or the chat form `{"messages": [{"role": ..., "content": ...}, ...]}`
  whose last assistant message is the response and everything before it the prompt;
* the user's own conversations (`examples_from_conversations`): answers marked good, and
  answers the user corrected (the correction is the target).

Problems are collected in a `DataReport` (with line numbers) rather than raised, so the user
sees everything that is wrong at once; only a file with no usable content raises `UserError`.
Every example is rendered with `format_example_prompt`, the one place that defines how a
question and its numbered sources become the model's prompt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.answer.focus import focus
from assistant.answer.prompt import completion_prompt, source_block
from assistant.errors import UserError
from assistant.training import pii

# A split needs this many examples before one can be held out for validation.
MIN_EXAMPLES_FOR_VALIDATION = 5
DEFAULT_VALIDATION_FRACTION = 0.15

TokenCounter = Callable[[str], int]


def format_example_prompt(prompt: str, sources: Sequence[str] = (), preamble: str = "",
                          source_names: Sequence[str] = ()) -> str:
    """The completion prompt for a question and its numbered sources.

    Built by `assistant.answer.prompt.completion_prompt`, the function the app answers with,
    so an adapter trains on exactly the prompts it will see: the instruction line, "Sources:"
    with "[1] (name)" blocks, earlier turns (`preamble`), then "Question: ..." and "Answer:".
    `source_names` are the file names (", page n") shown beside each source; none by default.
    Each source is focused on the question exactly as at answer time (`focus`).
    """
    cleaned = [(focus(prompt, s), source_names[i] if i < len(source_names) else "")
               for i, s in enumerate(sources) if s.strip()]
    blocks = [source_block(n, name, text) for n, (text, name) in enumerate(cleaned, 1)]
    return completion_prompt(prompt, blocks, preamble, no_docs=not blocks)


def format_response(response: str) -> str:
    """The target text that follows the prompt (the model writes it after "Answer:")."""
    return " " + response.strip()


@dataclass(frozen=True)
class Example:
    """One training example: a question (with optional sources and preamble) and its answer."""

    prompt: str
    response: str
    sources: tuple[str, ...] = ()
    preamble: str = ""  # system text and earlier turns of a chat, already rendered
    source_names: tuple[str, ...] = ()  # "file.pdf, page 2" shown beside each source
    line: int | None = None  # 1-based line in the file it came from
    origin: str = ""  # "file.jsonl", "conversation 3", ...

    def render_prompt(self, *, with_sources: bool = True) -> str:
        if not with_sources:
            return format_example_prompt(self.prompt, (), self.preamble)
        return format_example_prompt(self.prompt, self.sources, self.preamble,
                                     self.source_names)

    def render_response(self) -> str:
        return format_response(self.response)

    def key(self) -> str:
        """Identity for duplicate detection and the split (whitespace-insensitive)."""
        norm = [" ".join(self.preamble.split()), " ".join(self.prompt.split()),
                *(" ".join(s.split()) for s in self.sources), "\x00",
                " ".join(self.response.split())]
        return hashlib.sha256("\x1f".join(norm).encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt, "response": self.response}
        if self.sources:
            out["sources"] = list(self.sources)
        if self.preamble:
            out["preamble"] = self.preamble
        if self.source_names:
            out["source_names"] = list(self.source_names)
        if self.line is not None:
            out["line"] = self.line
        if self.origin:
            out["origin"] = self.origin
        return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data; `line` is 1-based where it came from a file."""

    kind: str  # "json", "field", "type", "empty", "duplicate", "too_long", "too_few"
    message: str
    line: int | None = None
    example: int | None = None  # index in the loaded examples, where the example was kept

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class DataReport:
    """The outcome of loading and checking a data set: kept examples and every problem."""

    source: str
    examples: list[Example]
    problems: list[Problem] = field(default_factory=list)  # lines or examples left out
    warnings: list[Problem] = field(default_factory=list)  # kept, but worth knowing
    pii: pii.PiiReport = field(default_factory=pii.PiiReport)
    lines_read: int = 0
    token_counts: list[int] | None = None  # prompt+response tokens per kept example
    max_length: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.examples)

    def summary(self) -> str:
        n = len(self.examples)
        lines = [f"{n} example{'s' if n != 1 else ''} ready from {self.source}."]
        if self.problems:
            lines.append(f"{len(self.problems)} left out:")
            lines.extend(f"  - {p}" for p in self.problems)
        if self.warnings:
            lines.append("Notes:")
            lines.extend(f"  - {w}" for w in self.warnings)
        if self.pii.removals:
            lines.append(self.pii.summary())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def problem(p: Problem) -> dict[str, Any]:
            return {"kind": p.kind, "message": p.message, "line": p.line, "example": p.example}

        return {
            "source": self.source,
            "examples": len(self.examples),
            "lines_read": self.lines_read,
            "problems": [problem(p) for p in self.problems],
            "warnings": [problem(w) for w in self.warnings],
            "pii": self.pii.to_json(),
            "max_length": self.max_length,
            "token_counts": self.token_counts,
        }


@dataclass(frozen=True)
class Split:
    """A deterministic train/validation split; `assignment` says where each example went."""

    train: list[Example]
    validation: list[Example]
    seed: int
    note: str = ""  # e.g. why there is no validation set

    @property
    def assignment(self) -> list[dict[str, Any]]:
        rows = [{"set": "train", "line": e.line, "origin": e.origin, "prompt": e.prompt}
                for e in self.train]
        rows += [{"set": "validation", "line": e.line, "origin": e.origin, "prompt": e.prompt}
                 for e in self.validation]
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "train": len(self.train),
                "validation": len(self.validation), "note": self.note,
                "assignment": self.assignment}


# --------------------------------------------------------------------------------- parsing

class _LineError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _text(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    if key not in obj:
        raise _LineError("field", f"missing \"{key}\"{where}")
    value = obj[key]
    if not isinstance(value, str):
        raise _LineError("type", f"\"{key}\"{where} must be text, not {_type_name(value)}")
    return value


def _type_name(value: object) -> str:
    return {dict: "an object", list: "a list", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(value), type(value).__name__)


def _sources(obj: Mapping[str, Any]) -> tuple[str, ...]:
    if "sources" not in obj or obj["sources"] is None:
        return ()
    value = obj["sources"]
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise _LineError("type", f"\"sources\" must be a list of texts, not {_type_name(value)}")
    for i, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise _LineError("type", f"source {i} must be text, not {_type_name(item)}")
    return tuple(value)


def _from_messages(messages: object) -> tuple[str, str, str]:
    """(preamble, prompt, response) from a chat: the last assistant message is the response."""
    if not isinstance(messages, list):
        raise _LineError("type", f"\"messages\" must be a list, not {_type_name(messages)}")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise _LineError("type", f"message {i} must be an object, not {_type_name(message)}")
        role = _text(message, "role", f" in message {i}")
        content = _text(message, "content", f" in message {i}")
        if role not in ("system", "user", "assistant"):
            raise _LineError("field", f"message {i} has role \"{role}\"; use system, user or "
                             "assistant")
        turns.append((role, content))
    if not turns or turns[-1][0] != "assistant":
        raise _LineError("field", "the last message must be the assistant's answer")
    response = turns.pop()[1]
    if not turns or turns[-1][0] != "user":
        raise _LineError("field", "the assistant's answer must follow a user message")
    prompt = turns.pop()[1]
    history: list[str] = []
    open_question = False  # the last entry is a question still waiting for its answer
    for role, content in turns:
        if role == "system":
            history.append(content.strip())
            open_question = False
        elif role == "user":
            history.append(f"Question: {content.strip()}")
            open_question = True
        elif open_question:
            history[-1] += f"\nAnswer: {content.strip()}"
            open_question = False
        else:
            history.append(f"Answer: {content.strip()}")
    return "\n".join(h for h in history if h), prompt, response


def _parse_obj(obj: object, line: int | None, origin: str) -> Example:
    if not isinstance(obj, dict):
        raise _LineError("type", f"expected an object, found {_type_name(obj)}")
    if "messages" in obj:
        preamble, prompt, response = _from_messages(obj["messages"])
    else:
        if "prompt" not in obj and "response" not in obj:
            raise _LineError("field", "needs \"prompt\" and \"response\" (or \"messages\")")
        preamble = ""
        prompt = _text(obj, "prompt")
        response = _text(obj, "response")
    names = obj.get("source_names") or ()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        names = ()
    return Example(prompt=prompt, response=response, sources=_sources(obj),
                   preamble=preamble, source_names=tuple(names), line=line, origin=origin)


def parse_example(obj: object, *, line: int | None = None, origin: str = "") -> Example:
    """One JSON value as an Example; raises ValueError with a sentence if it is not one."""
    try:
        return _parse_obj(obj, line, origin)
    except _LineError as err:
        raise ValueError(err.message) from None


def _parse_jsonl(text: str, origin: str) -> tuple[list[Example], list[Problem], int]:
    examples: list[Example] = []
    problems: list[Problem] = []
    lines_read = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        lines_read += 1
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(Problem("json", f"not valid JSON ({err.msg} at column {err.colno})",
                                    line=number))
            continue
        try:
            examples.append(_parse_obj(obj, number, origin))
        except _LineError as err:
            problems.append(Problem(err.kind, err.message, line=number))
    return examples, problems, lines_read


# --------------------------------------------------------------------------------- checks

def _scrub_example(example: Example, index: int, report: pii.PiiReport) -> Example:
    fields: dict[str, Any] = {}
    for name in ("prompt", "response", "preamble"):
        value = getattr(example, name)
        cleaned, counts = pii.scrub(value)
        if counts:
            report.removals.append(pii.Removal(index, example.line, name, counts))
            fields[name] = cleaned
    sources: list[str] = []
    changed = False
    for i, source in enumerate(example.sources):
        cleaned, counts = pii.scrub(source)
        if counts:
            report.removals.append(pii.Removal(index, example.line, f"sources[{i}]", counts))
            changed = True
        sources.append(cleaned)
    if changed:
        fields["sources"] = tuple(sources)
    return replace(example, **fields) if fields else example


def prepare(examples: Iterable[Example], *, source: str = "examples", scrub_pii: bool = True,
            token_counter: TokenCounter | None = None, max_length: int | None = None,
            problems: Sequence[Problem] = (), lines_read: int | None = None) -> DataReport:
    """Check (and by default scrub) examples; every decision lands in the returned report.

    Dropped: empty prompts or responses, and exact duplicates (the first is kept). Kept with a
    warning: examples longer than `max_length` tokens (their prompt's start is cut in
    training), and data sets too small to hold out a validation example.
    """
    items = list(examples)
    report = DataReport(source=source, examples=[], problems=list(problems),
                        lines_read=len(items) if lines_read is None else lines_read,
                        max_length=max_length)
    seen: dict[str, Example] = {}
    for example in items:
        where = example.line
        if not example.prompt.strip() or not example.response.strip():
            missing = "prompt" if not example.prompt.strip() else "response"
            report.problems.append(Problem("empty", f"the {missing} is empty", line=where))
            continue
        if scrub_pii:
            example = _scrub_example(example, len(report.examples), report.pii)
        key = example.key()
        if key in seen:
            first = seen[key]
            ref = f"line {first.line}" if first.line is not None else "an earlier example"
            report.problems.append(Problem("duplicate", f"the same example as {ref}", line=where))
            # Scrub removals recorded for the dropped duplicate no longer apply.
            index = len(report.examples)
            report.pii.removals = [r for r in report.pii.removals if r.example != index]
            continue
        seen[key] = example
        report.examples.append(example)
    if token_counter is not None:
        counts = [token_counter(e.render_prompt() + e.render_response()) + 2  # BOS and EOS
                  for e in report.examples]
        report.token_counts = counts
        if max_length is not None:
            for i, (example, count) in enumerate(zip(report.examples, counts, strict=True)):
                if count > max_length:
                    report.warnings.append(Problem(
                        "too_long", f"{count} tokens, more than the maximum length of "
                        f"{max_length}: the start of its prompt will be cut",
                        line=example.line, example=i))
    n = len(report.examples)
    if 0 < n < MIN_EXAMPLES_FOR_VALIDATION:
        report.warnings.append(Problem(
            "too_few", f"only {n} example{'s' if n != 1 else ''}: at least "
            f"{MIN_EXAMPLES_FOR_VALIDATION} are needed to hold one out for validation, so "
            "training runs without a validation set"))
    return report


def load_jsonl(path: str | Path, *, scrub_pii: bool = True,
               token_counter: TokenCounter | None = None,
               max_length: int | None = None) -> DataReport:
    """Load, check and (by default) scrub a JSONL file of examples.

    Raises UserError when the file cannot be read, is empty, or holds no usable example;
    otherwise every problem is in the report, with its line number.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"The training file {path} does not exist.") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; choose a .jsonl file of examples.") from None
    except OSError as err:
        raise UserError(f"The training file {path} cannot be read: {err.strerror or err}.") \
            from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"The training file {path.name} is not UTF-8 text; save it as UTF-8 "
                        "JSON Lines.") from None
    if not text.strip():
        raise UserError(f"The training file {path.name} is empty: add one example per line, "
                        'like {"prompt": "...", "response": "..."}.')
    examples, problems, lines_read = _parse_jsonl(text, path.name)
    report = prepare(examples, source=path.name, scrub_pii=scrub_pii,
                     token_counter=token_counter, max_length=max_length, problems=problems,
                     lines_read=lines_read)
    if not report.examples:
        first = "; ".join(str(p) for p in report.problems[:3])
        raise UserError(f"The training file {path.name} has no usable example "
                        f"({len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}"
                        f": {first}).")
    return report


def examples_from_conversations(conversations: Iterable[Mapping[str, Any]]) -> list[Example]:
    """Examples from the user's own conversations.

    Each item: {"question": str, "answer": str, "sources": [str, ...], "rating": "good" |
    "bad" | None, "correction": str | None}. A corrected answer teaches its correction
    (whatever the rating); an answer rated good teaches itself; anything else is skipped.
    The sources are the passages the answer was given with, so the example keeps the
    retrieval context.
    """
    out: list[Example] = []
    for i, conv in enumerate(conversations, 1):
        question = conv.get("question")
        if not isinstance(question, str) or not question.strip():
            continue
        correction = conv.get("correction")
        answer = conv.get("answer")
        if isinstance(correction, str) and correction.strip():
            response = correction
        elif conv.get("rating") == "good" and isinstance(answer, str) and answer.strip():
            response = answer
        else:
            continue
        raw_sources = conv.get("sources") or ()
        sources = tuple(s for s in raw_sources if isinstance(s, str) and s.strip())
        out.append(Example(prompt=question, response=response, sources=sources,
                           origin=f"conversation {i}"))
    return out


# --------------------------------------------------------------------------------- split

def split_examples(examples: Sequence[Example], *, seed: int = 0,
                   validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> Split:
    """A deterministic split: an example's place depends only on its content and the seed.

    With at least MIN_EXAMPLES_FOR_VALIDATION examples, round(n * fraction) (at least one)
    are held out; with fewer, all are used for training and `note` says so. Adding examples
    later does not move the existing ones between sets unless the count held out changes.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError("validation_fraction must be in [0, 1)")
    n = len(examples)
    if n < MIN_EXAMPLES_FOR_VALIDATION or validation_fraction == 0.0:
        note = (f"Only {n} example{'s' if n != 1 else ''}: training without a validation set "
                f"(needs at least {MIN_EXAMPLES_FOR_VALIDATION})."
                if n < MIN_EXAMPLES_FOR_VALIDATION else "No validation set was asked for.")
        return Split(train=list(examples), validation=[], seed=seed, note=note)
    n_val = max(1, round(n * validation_fraction))
    ranked = sorted(range(n), key=lambda i: hashlib.sha256(
        f"{seed}\x00{examples[i].key()}".encode()).hexdigest())
    held = set(ranked[:n_val])
    train = [e for i, e in enumerate(examples) if i not in held]
    validation = [e for i, e in enumerate(examples) if i in held]
    return Split(train=train, validation=validation, seed=seed)
