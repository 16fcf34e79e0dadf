"""Prompt building: one builder for answering and for training examples.

Two prompt styles:

* models with a chat template get chat messages (system instruction, earlier turns, a user
  message holding the numbered sources and the question);
* base models such as the embedded Gemma 3 270M get a short completion prompt (one
  instruction line, the numbered sources, earlier turns, `Question: ...` / `Answer:`) and stop
  strings, because a base model only continues text and would otherwise go on to invent the
  next question.

Sources and earlier turns are fitted to the model's context by its own token count.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assistant.answer.citations import MARKER_GROUP
from assistant.answer.focus import focus
from assistant.errors import ModelError
from assistant.search import Hit

ANSWER_MARGIN = 16  # tokens kept free for tokenization differences and the end token

BASE_INSTRUCTION = "Answer the question from the sources."
NO_DOCS_INSTRUCTION = "Answer the question briefly."
SYSTEM_INSTRUCTION = (
    "You answer questions using only the numbered sources the user gives you. Cite the "
    "sources you use with their numbers in square brackets, like [1] or [1][2]. If the "
    "sources do not contain the answer, say that the documents do not cover it. Be brief.")
SYSTEM_NO_DOCS = "You are a helpful assistant. Be brief."
BASE_STOPS = ("\n", "Question:", "Sources:", "<end_of_turn>", "<start_of_turn>")


class TextModel(Protocol):
    """What answering needs from a model; `assistant.llm.generator.Generator` provides it."""

    n_ctx: int

    @property
    def has_chat_template(self) -> bool: ...

    def count_tokens(self, text: str) -> int: ...

    def tokenize(self, text: str) -> list[int]: ...

    def end_tokens(self) -> set[int]: ...

    def format_chat(self, messages: Sequence[Any]) -> str: ...

    def stream(self, prompt: str, *, max_tokens: int = ..., temperature: float = ...,
               stop: Sequence[str] = ..., cancel: threading.Event | None = ...,
               logit_bias: Mapping[int, float] | None = ...) -> Any: ...

    def stream_chat(self, messages: Sequence[Any], *, max_tokens: int = ...,
                    temperature: float = ..., stop: Sequence[str] = ...,
                    cancel: threading.Event | None = ...) -> Any: ...


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of the conversation."""

    question: str
    answer: str


HistoryLike = Sequence[Turn] | Sequence[tuple[str, str]]


def turns_of(history: HistoryLike | None) -> list[Turn]:
    return [t if isinstance(t, Turn) else Turn(str(t[0]), str(t[1])) for t in history or ()]


def _without_markers(text: str) -> str:
    """An earlier answer without its [n] markers: they referred to other numbered sources."""
    return " ".join(MARKER_GROUP.sub("", text).split())


@dataclass
class Prompt:
    """A prompt fitted to the context: text (or chat messages) plus what it contains."""

    text: str
    messages: list[Any] | None  # chat messages when the model has a chat template
    stop: list[str]
    hits: list[Hit]  # numbered 1.. in this order
    history_used: int
    tokens: int


# --------------------------------------------------------------------------- retrieval query

_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|and what|or)\b|"
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|she|him|her|his|hers|"
    r"there|same|one|ones|former|latter|above|else)\b", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


def _is_follow_up(question: str) -> bool:
    return len(_WORD.findall(question)) <= 4 or bool(_FOLLOW_UP.search(question))


def retrieval_query(question: str, history: HistoryLike | None = None) -> str:
    """The search query for `question` in its conversation.

    A follow-up ("and what about the warranty?", "how long does it last?") says little on its
    own, so the previous question(s) are put in front of it: up to two, going further back
    only while the questions are themselves follow-ups.
    """
    question = question.strip()
    turns = turns_of(history)
    if not turns or not _is_follow_up(question):
        return question
    parts = [question]
    for turn in reversed(turns[-2:]):
        parts.insert(0, turn.question.strip())
        if not _is_follow_up(turn.question):
            break
    return " ".join(p for p in parts if p)


# --------------------------------------------------------------------------- prompt

def source_name(path: str, page: int | None) -> str:
    """How a source is named in the prompt: its file name, and its page where it has one."""
    name = Path(path).name or path
    return f"{name}, page {page}" if page is not None else name


def source_block(n: int, name: str, text: str) -> str:
    """One numbered source as the model sees it: `[n] (name)` then the text on one line."""
    label = f"[{n}] ({name})" if name else f"[{n}]"
    return f"{label}\n{' '.join(text.split())}"


def _source_label(n: int, hit: Hit) -> str:
    return f"[{n}] ({source_name(hit.path, hit.page)})"


def _source_block(n: int, hit: Hit, text: str | None = None) -> str:
    return source_block(n, source_name(hit.path, hit.page), hit.text if text is None else text)


def completion_prompt(question: str, blocks: Sequence[str], history: Sequence[Turn] | str = (),
                      *, no_docs: bool = False) -> str:
    """The base-model prompt: the one function behind answers and training examples alike.

    An instruction line, the numbered source blocks (see `source_block`), the earlier turns
    (or a preamble already rendered, as training examples from chats carry), then
    `Question: ...` and `Answer:`. The answer follows after one space and ends at a newline.
    """
    lines = [NO_DOCS_INSTRUCTION if no_docs else BASE_INSTRUCTION]
    if not no_docs:
        lines.append("\nSources:\n" + "\n\n".join(blocks) + "\n")
    if isinstance(history, str):
        if history.strip():
            lines.append(history.strip())
    else:
        for turn in history:
            lines.append(f"Question: {' '.join(turn.question.split())}\n"
                         f"Answer: {_without_markers(turn.answer)}")
    lines.append(f"Question: {' '.join(question.split())}\nAnswer:")
    return "\n".join(lines)


def _render(question: str, blocks: list[str], turns: list[Turn], chat: bool,
            no_docs: bool) -> tuple[str, list[Any] | None]:
    """The prompt text (and chat messages) for these parts; nothing is dropped here."""
    question = " ".join(question.split())
    if chat:
        from assistant.llm.generator import ChatMessage

        system = SYSTEM_NO_DOCS if no_docs else SYSTEM_INSTRUCTION
        messages: list[Any] = [ChatMessage("system", system)]
        for turn in turns:
            messages += [ChatMessage("user", turn.question),
                         ChatMessage("assistant", _without_markers(turn.answer))]
        if no_docs:
            messages.append(ChatMessage("user", question))
        else:
            messages.append(ChatMessage(
                "user", "Sources:\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"))
        text = "\n\n".join(f"{m.role}: {m.content}" for m in messages)
        return text, messages
    return completion_prompt(question, blocks, turns, no_docs=no_docs), None


def _count(generator: TextModel, text: str, messages: list[Any] | None) -> int:
    if messages is not None:
        return generator.count_tokens(generator.format_chat(messages))
    return generator.count_tokens(text) + 1  # + BOS


def _truncate_to_tokens(generator: TextModel, text: str, tokens: int) -> str:
    """The longest word-boundary prefix of `text` within `tokens` tokens (plus an ellipsis)."""
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if generator.count_tokens(" ".join(words[:mid]) + " …") <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …" if lo else ""


def build_prompt(question: str, hits: Sequence[Hit], history: HistoryLike | None,
                 generator: TextModel, budget: int, *, no_docs: bool = False,
                 focus_words: int | None = None) -> Prompt:
    """Fit sources (best first) and earlier turns (most recent first) into `budget` tokens.

    `budget` is what the prompt may use: n_ctx minus the answer's tokens minus a margin.
    Up to a quarter of it goes to the conversation so far, the rest to sources; whatever
    does not fit is dropped, never cut mid-way (except the best passage, which is shortened
    rather than dropped when it alone is too long). Each passage is first focused on the
    question (`focus`: its best sentences within `focus_words` words, by default
    `focus.FOCUS_WORDS`; 0 keeps it whole).
    """
    chat = generator.has_chat_template
    turns = turns_of(history)
    base_text, base_messages = _render(question, [], [], chat, no_docs)
    base_tokens = _count(generator, base_text, base_messages)
    if base_tokens > budget:
        raise ModelError(f"The question is too long for the model's context ({base_tokens} "
                         f"tokens; at most {budget} fit). Shorten it or raise the context size.")

    # Earlier turns: most recent first, within a quarter of the budget.
    history_budget = (budget - base_tokens) // (1 if no_docs else 4)
    kept: list[Turn] = []
    spent = 0
    for turn in reversed(turns):
        cost = generator.count_tokens(f"Question: {turn.question}\nAnswer: {turn.answer}") + 4
        if spent + cost > history_budget:
            break
        kept.insert(0, turn)
        spent += cost

    blocks: list[str] = []
    used: list[Hit] = []
    if not no_docs:
        remaining = budget - _count(generator, *_render(question, [], kept, chat, no_docs))
        for hit in hits:
            shown = focus(question, hit.text, focus_words)
            block = _source_block(len(used) + 1, hit, shown)
            cost = generator.count_tokens(block) + 2
            if cost > remaining:
                if used:
                    continue  # a shorter later passage may still fit
                label_cost = generator.count_tokens(_source_label(1, hit)) + 4
                short = _truncate_to_tokens(generator, shown, remaining - label_cost)
                if not short:
                    continue
                block = _source_block(1, hit, short)
                cost = generator.count_tokens(block) + 2
            blocks.append(block)
            used.append(hit)
            remaining -= cost

    # Exact count of the assembled prompt; drop the least relevant parts until it fits.
    while True:
        text, messages = _render(question, blocks, kept, chat, no_docs)
        tokens = _count(generator, text, messages)
        if tokens <= budget:
            break
        if len(blocks) > 1:
            blocks.pop()
            used.pop()
        elif kept:
            kept.pop(0)
        else:
            raise ModelError("The question and its best passage do not fit the model's "
                             "context; raise the context size.")
    stop = [] if chat else list(BASE_STOPS)
    prompt_text = generator.format_chat(messages) if messages is not None else text
    return Prompt(prompt_text, messages, stop, used, len(kept), tokens)
