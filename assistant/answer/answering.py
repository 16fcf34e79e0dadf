"""Question -> answer from the user's documents, with citations of the exact passages.

The flow: build a retrieval query from the conversation, retrieve passages, refuse early when
none is relevant enough (no generation: a small model would otherwise answer from its own
memory), fit the passages and the earlier turns into the model's context by its own token
count, generate, then turn `[n]` markers into citations of the passages that were shown.

Two prompt styles:

* models with a chat template get chat messages (system instruction, earlier turns, a user
  message holding the numbered sources and the question);
* base models such as the embedded Gemma 3 270M get a short completion prompt (one
  instruction line, the numbered sources, earlier turns, `Question: ...` / `Answer:`) and stop
  strings, because a base model only continues text and would otherwise go on to invent the
  next question; answers end at the first line break, as the 270M model's later lines were
  always run-on copies of other sources. Among the formats tried this one answered short
  factual questions best (24 of 30 in a small test with five ~400-character passages).
  `source_bias` (a logit bias towards the sources' tokens) is available but off by default:
  at +2 it avoided invented numbers in that test (25/30) but made answers ~75% longer.

The 270M model almost never writes `[n]` itself (a "cite like [1]" cue only made it copy the
source list), and when it does the number is often wrong. So when the model cites nothing,
each answer sentence is attributed to the passage holding most of its content words and
every number in it, and that marker is added; `Answer.citation_source` says which happened.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.answer.citations import Citation, hit_json, infer_citations, parse_citations
from assistant.answer.prompt import (
    ANSWER_MARGIN,
    HistoryLike,
    TextModel,
    build_prompt,
    retrieval_query,
    turns_of,
)
from assistant.errors import ModelError
from assistant.search import Hit

NOT_FOUND_TEXT = "I couldn't find this in your documents."
EMPTY_ANSWER_TEXT = "The model gave no answer."
DEFAULT_COPY_BIAS = 0.0  # see source_bias; applied to base-model prompts only when > 0

CitationSource = Literal["model", "inferred", "none"]

@dataclass
class Answer:
    """The answer shown to the user plus everything needed to show where it came from.

    `consulted` are the passages given to the model, numbered 1.. in that order (for a
    not-found answer: the nearest passages, none of which was given to a model).
    """

    text: str
    citations: list[Citation]
    consulted: list[Hit]
    not_found: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cancelled: bool = False
    citation_source: CitationSource = "none"
    history_used: int = 0
    seconds: float = 0.0
    prompt: str = field(default="", repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "citations": [c.to_json() for c in self.citations],
            "consulted": [hit_json(n, hit) for n, hit in enumerate(self.consulted, start=1)],
            "not_found": self.not_found,
        }


# --------------------------------------------------------------------------- answering

def source_bias(generator: TextModel, hits: Sequence[Hit], bias: float) -> dict[int, float]:
    """A logit bias towards the tokens of the sources (and the tokens that end an answer).

    A 270M base model readily swaps a number or name from the passage for one it likes
    better ("15 days" for "25 days"); nudging it towards tokens it can copy from the sources
    makes it quote them. Line ends and end tokens get the same bias so answers still stop.
    """
    tokens: set[int] = set(generator.end_tokens())
    tokens.update(generator.tokenize("\n."))
    for hit in hits:
        text = " ".join(hit.text.split())
        tokens.update(generator.tokenize(text))
        tokens.update(generator.tokenize(" " + text))
    return dict.fromkeys(sorted(tokens), bias)


def _repeats(text: str) -> int | None:
    """Where a looping answer starts repeating an earlier sentence (None when it does not)."""
    sentences = [(m.start(), m.group(0).strip()) for m in re.finditer(r"[^.!?\n]+[.!?]", text)]
    seen: set[str] = set()
    for start, sentence in sentences:
        if len(sentence) >= 8 and sentence in seen:
            return start
        seen.add(sentence)
    return None


def _clean(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^(Answer\s*:\s*)", "", text, flags=re.IGNORECASE)
    return text.strip()


def answer_question(question: str, *, retriever: Callable[[str, int], list[Hit]],
                    generator: TextModel, top_k: int = 5, relevance_floor: float = 0.25,
                    history: HistoryLike | None = None, no_docs: bool = False,
                    on_token: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None, max_tokens: int = 256,
                    temperature: float = 0.0, infer_missing_citations: bool = True,
                    copy_bias: float = DEFAULT_COPY_BIAS) -> Answer:
    """Answer `question` from the documents (or, with `no_docs`, from the model alone).

    When no retrieved passage reaches `relevance_floor` the model is not asked: the answer
    says the documents do not cover the question and lists the nearest passages.
    `on_token` receives the text as it is generated; the final `Answer.text` may differ a
    little (invalid markers removed, inferred markers added), so show it when done.
    Cancelling returns what was generated so far with `cancelled=True`.
    """
    started = time.monotonic()
    question = question.strip()
    if not question:
        raise ModelError("Ask a question first.")
    turns = turns_of(history)
    hits: list[Hit] = []
    if not no_docs:
        hits = list(retriever(retrieval_query(question, turns), top_k))
        relevant = [hit for hit in hits if hit.similarity >= relevance_floor]
        if not relevant:
            return Answer(NOT_FOUND_TEXT, [], hits, True, seconds=time.monotonic() - started)
        hits = relevant

    budget = generator.n_ctx - max_tokens - ANSWER_MARGIN
    if budget < 64:
        raise ModelError(f"The context size ({generator.n_ctx} tokens) leaves no room for "
                         f"sources next to a {max_tokens}-token answer; raise it.")
    prompt = build_prompt(question, hits, turns, generator, budget, no_docs=no_docs)
    if prompt.messages is not None:
        pieces = generator.stream_chat(prompt.messages, max_tokens=max_tokens,
                                       temperature=temperature, stop=prompt.stop, cancel=cancel)
    else:
        bias = source_bias(generator, prompt.hits, copy_bias) if copy_bias and prompt.hits else None
        pieces = generator.stream(prompt.text, max_tokens=max_tokens, temperature=temperature,
                                  stop=prompt.stop, cancel=cancel, logit_bias=bias)
    text = ""
    count = 0
    try:
        for piece in pieces:
            count += 1
            text += piece
            cut = _repeats(text)
            if cut is not None:
                text = text[:cut]
                break
            if on_token is not None:
                on_token(piece)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    cancelled = cancel is not None and cancel.is_set()
    count = generator.count_tokens(text)
    text = _clean(text)
    source: CitationSource = "none"
    citations: list[Citation] = []
    if not no_docs:
        text, citations = parse_citations(text, prompt.hits)
        if citations:
            source = "model"
        elif infer_missing_citations and text:
            text, citations = infer_citations(text, prompt.hits)
            source = "inferred" if citations else "none"
    if not text and not cancelled:
        text = EMPTY_ANSWER_TEXT
    return Answer(text=text, citations=citations, consulted=prompt.hits, not_found=False,
                  prompt_tokens=prompt.tokens, completion_tokens=count, cancelled=cancelled,
                  citation_source=source, history_used=prompt.history_used,
                  seconds=time.monotonic() - started, prompt=prompt.text)
