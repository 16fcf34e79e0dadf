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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from assistant.errors import ModelError
from assistant.retrieval import Hit

NOT_FOUND_TEXT = "I couldn't find this in your documents."
EMPTY_ANSWER_TEXT = "The model gave no answer."
DEFAULT_COPY_BIAS = 0.0  # see source_bias; applied to base-model prompts only when > 0
ANSWER_MARGIN = 16  # tokens kept free for tokenization differences and the end token

BASE_INSTRUCTION = "Answer the question from the sources."
NO_DOCS_INSTRUCTION = "Answer the question briefly."
SYSTEM_INSTRUCTION = (
    "You answer questions using only the numbered sources the user gives you. Cite the "
    "sources you use with their numbers in square brackets, like [1] or [1][2]. If the "
    "sources do not contain the answer, say that the documents do not cover it. Be brief.")
SYSTEM_NO_DOCS = "You are a helpful assistant. Be brief."
BASE_STOPS = ("\n", "Question:", "Sources:", "<end_of_turn>", "<start_of_turn>")

CitationSource = Literal["model", "inferred", "none"]


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


def _turns(history: HistoryLike | None) -> list[Turn]:
    return [t if isinstance(t, Turn) else Turn(str(t[0]), str(t[1])) for t in history or ()]


def _without_markers(text: str) -> str:
    """An earlier answer without its [n] markers: they referred to other numbered sources."""
    return " ".join(_MARKER_GROUP.sub("", text).split())


@dataclass(frozen=True)
class Citation:
    n: int
    hit: Hit

    def to_json(self) -> dict[str, Any]:
        return _hit_json(self.n, self.hit)


def _hit_json(n: int, hit: Hit) -> dict[str, Any]:
    return {"n": n, "path": hit.path, "page": hit.page, "start": hit.start, "end": hit.end,
            "text": hit.text}


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
            "consulted": [_hit_json(n, hit) for n, hit in enumerate(self.consulted, start=1)],
            "not_found": self.not_found,
        }


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
    turns = _turns(history)
    if not turns or not _is_follow_up(question):
        return question
    parts = [question]
    for turn in reversed(turns[-2:]):
        parts.insert(0, turn.question.strip())
        if not _is_follow_up(turn.question):
            break
    return " ".join(p for p in parts if p)


# --------------------------------------------------------------------------- prompt

def _source_label(n: int, hit: Hit) -> str:
    name = Path(hit.path).name or hit.path
    where = f"{name}, page {hit.page}" if hit.page is not None else name
    return f"[{n}] ({where})"


def _source_block(n: int, hit: Hit, text: str | None = None) -> str:
    body = " ".join((hit.text if text is None else text).split())
    return f"{_source_label(n, hit)}\n{body}"


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
    lines = [NO_DOCS_INSTRUCTION if no_docs else BASE_INSTRUCTION]
    if not no_docs:
        lines.append("\nSources:\n" + "\n\n".join(blocks) + "\n")
    for turn in turns:
        lines.append(f"Question: {' '.join(turn.question.split())}\n"
                     f"Answer: {_without_markers(turn.answer)}")
    lines.append(f"Question: {question}\nAnswer:")
    return "\n".join(lines), None


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
                 generator: TextModel, budget: int, *, no_docs: bool = False) -> Prompt:
    """Fit sources (best first) and earlier turns (most recent first) into `budget` tokens.

    `budget` is what the prompt may use: n_ctx minus the answer's tokens minus a margin.
    Up to a quarter of it goes to the conversation so far, the rest to sources; whatever
    does not fit is dropped, never cut mid-way (except the best passage, which is shortened
    rather than dropped when it alone is too long).
    """
    chat = generator.has_chat_template
    turns = _turns(history)
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
            block = _source_block(len(used) + 1, hit)
            cost = generator.count_tokens(block) + 2
            if cost > remaining:
                if used:
                    continue  # a shorter later passage may still fit
                label_cost = generator.count_tokens(_source_label(1, hit)) + 4
                short = _truncate_to_tokens(generator, " ".join(hit.text.split()),
                                            remaining - label_cost)
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


# --------------------------------------------------------------------------- citations

_MARKER_GROUP = re.compile(r"(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_NUMBER = re.compile(r"\d+")


def parse_citations(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Map `[n]`, `[n, m]` and `[n][m]` markers to `hits` (numbered from 1).

    Numbers that point at no passage are removed from the text (a marker left with none is
    removed whole). Citations come in order of first mention, each passage once.
    """
    cited: dict[int, Citation] = {}

    def replace(match: re.Match[str]) -> str:
        valid = []
        for number in (int(n) for n in _NUMBER.findall(match.group(0))):
            if 1 <= number <= len(hits) and number not in valid:
                valid.append(number)
                cited.setdefault(number, Citation(number, hits[number - 1]))
        return "".join(f"[{n}]" for n in valid)

    cleaned = _MARKER_GROUP.sub(replace, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # "fact [9]." -> "fact."
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, list(cited.values())


_STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for",
    "from", "with", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its",
    "this", "that", "these", "those", "there", "here", "he", "she", "they", "them", "his",
    "her", "their", "i", "you", "your", "we", "our", "me", "my", "do", "does", "did", "not",
    "no", "yes", "so", "than", "then", "too", "very", "can", "could", "should", "would",
    "will", "shall", "may", "might", "must", "have", "has", "had", "what", "which", "who",
    "whom", "whose", "when", "where", "why", "how", "about", "into", "over", "under", "also",
    "just", "only", "any", "all", "some", "each", "more", "most", "other", "such", "own",
    "same", "up", "down", "out", "off", "again", "further",
))


_NUMBER_WORDS = {w: str(i) for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve"))}


def _normal(word: str) -> str:
    """A crude stem, so "Tuesday"/"Tuesdays" and "two"/"2" count as the same word."""
    word = word.lower()
    word = _NUMBER_WORDS.get(word, word)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def _content_words(text: str) -> set[str]:
    return {_normal(w) for w in _WORD.findall(text) if w.lower() not in _STOPWORDS}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def infer_citations(text: str, hits: Sequence[Hit], *,
                    min_support: float = 0.5) -> tuple[str, list[Citation]]:
    """Attribute each sentence of an uncited answer to the passage that supports it best.

    Support is the share of the sentence's content words found in the passage; a sentence
    gets the marker of its best passage when that share is at least `min_support`. A number
    the passage does not contain rules the passage out: "15 days" is not supported by a
    passage saying "25 days", however many other words they share.
    """
    passage_words = [_content_words(hit.text) for hit in hits]
    sentences = _SENTENCE_END.split(text.strip())
    cited: dict[int, Citation] = {}
    out = []
    for sentence in sentences:
        words = _content_words(sentence)
        best_n, best = 0, 0.0
        numbers = {w for w in words if w.isdigit()}
        for n, pw in enumerate(passage_words, start=1):
            if not words or not numbers <= pw:
                continue
            support = len(words & pw) / len(words)
            if support > best:
                best_n, best = n, support
        if best_n and best >= min_support:
            cited.setdefault(best_n, Citation(best_n, hits[best_n - 1]))
            stripped = sentence.rstrip()
            if stripped[-1:] in ".!?":
                sentence = f"{stripped[:-1]} [{best_n}]{stripped[-1]}"
            else:
                sentence = f"{stripped} [{best_n}]"
        out.append(sentence)
    return " ".join(out), list(cited.values())


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
    turns = _turns(history)
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
