"""Answers from an OpenAI-compatible inference server (llama-server, vLLM, Ollama, ...).

`RemoteGenerator` offers what answering uses of the embedded `Generator` (see
`assistant.answer.prompt.TextModel`), so retrieval, the prompt builder, the answerability
decision, citations and the support check all stay on this computer and work unchanged; only
the text generation moves to the server. The mapping onto the OpenAI API:

* the base-model prompt goes to `/v1/completions` (streamed); chat messages, for a server
  whose model is a chat model, to `/v1/chat/completions`;
* stop strings go to the server (the first four, the API's limit) and are all enforced here;
* token counts come from the server's own tokenizer (llama-server's and vLLM's `/tokenize`,
  llama-cpp-python's `/extras/tokenize`); without one they are estimated generously;
* the judgement (the probability that the answer opens with the refusal) is read from the
  `top_logprobs` of a one-token completion, and the answer's confidence from the streamed
  tokens' `logprobs`. A server that gives no log-probabilities gets no judgement at all
  (`next_token_logprobs` is None): the answer then stands unless the model writes the refusal
  itself, as with an uncalibrated model (README, "Answers from an inference server").

The calibrated decision applies, as locally, only to the embedded model with the shipped
grounded adapter: a server says it runs that pair by serving it under the model name
`CALIBRATED_MODEL`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.llm.generator import DEFAULT_SEED, LOGPROB_TOKENS, ChatMessage, _StopFilter
from assistant.llm.grounded import ADAPTER_NAME
from assistant.llm.remote_http import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    HttpClient,
    ServerError,
)

CALIBRATED_MODEL = Path(ADAPTER_NAME).stem  # "grounded-gemma3-270m"
MAX_SERVER_STOPS = 4  # the OpenAI API's limit; the rest are enforced by this client
TOP_LOGPROBS = 10  # alternatives asked for the judgement's next token
BYTES_PER_TOKEN = 3.0  # the estimate without a tokenizer: above the ~4 of English text
_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class ServerConfig:
    """Where the answers come from. `model` empty: the first model the server lists."""

    url: str
    api_key: str | None = None
    model: str = ""
    chat: bool = False  # the server's model is a chat model: send messages, not a prompt
    n_ctx: int = 2048
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT


class TopLogprobs:
    """A next-token distribution known only by its top entries, indexed like a logits array.

    `[token_id]` is the entry's log-probability, or for a token outside the top entries the
    smallest of them (an upper bound: its true value is at most that). `argmax()` is the top
    entry's token id (-1 where its text is not one token).
    """

    def __init__(self, entries: Mapping[str, float], ids_of: Callable[[str], list[int]]) -> None:
        self.entries = sorted(entries.items(), key=lambda kv: kv[1], reverse=True)
        self.ids_of = ids_of

    def __getitem__(self, token: int) -> float:
        for text, logprob in self.entries:
            if self.ids_of(text) == [int(token)]:
                return logprob
        return self.entries[-1][1] if self.entries else -math.inf

    def argmax(self) -> int:
        if not self.entries:
            return -1
        ids = self.ids_of(self.entries[0][0])
        return ids[0] if len(ids) == 1 else -1


class _Tokenizer:
    """The server's tokenizer endpoint, found once; None where the server has none."""

    # (path, body for a text); the reply holds "tokens" (ints, or {id, piece} objects)
    CANDIDATES: tuple[tuple[str, Callable[[str, str], dict[str, Any]]], ...] = (
        ("/tokenize", lambda text, model: {"content": text, "add_special": False,
                                           "prompt": text, "model": model,
                                           "add_special_tokens": False}),
        ("/extras/tokenize", lambda text, model: {"input": text, "model": model or None}),
    )

    def __init__(self, http: HttpClient, model: str) -> None:
        self.http = http
        self.model = model
        self.path: str | None = None
        self.body: Callable[[str, str], dict[str, Any]] | None = None
        self.prefix: list[int] = []  # what every result starts with (a BOS), removed
        for path, body in self.CANDIDATES:
            try:
                empty = self._call(path, body, "")
                probe = self._call(path, body, "Hello world")
            except ServerError as err:
                if err.status is not None and err.status < 500 and err.status not in (401, 403):
                    continue  # not this kind of server
                raise
            if probe is not None and empty is not None and len(probe) > len(empty):
                self.path, self.body, self.prefix = path, body, empty
                break

    def _call(self, path: str, body: Callable[[str, str], dict[str, Any]],
              text: str) -> list[int] | None:
        reply = self.http.post(path, body(text, self.model))
        tokens = reply.get("tokens") if isinstance(reply, dict) else None
        if not isinstance(tokens, list):
            return None
        try:
            return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]
        except (KeyError, TypeError, ValueError):
            return None  # not a token list this client knows

    def __call__(self, text: str) -> list[int] | None:
        if self.path is None or self.body is None:
            return None
        tokens = self._call(self.path, self.body, text) or []
        n = len(self.prefix)
        return tokens[n:] if tokens[:n] == self.prefix else tokens


class RemoteGenerator:
    """Text generation on an inference server, with the embedded Generator's interface."""

    def __init__(self, config: ServerConfig) -> None:
        """Connect: find the model, the tokenizer and whether log-probabilities come back.

        Raises ServerError (one sentence) when the server cannot be used.
        """
        self.config = config
        self.http = HttpClient(config.url, config.api_key,
                               connect_timeout=config.connect_timeout,
                               read_timeout=config.read_timeout)
        self.model = config.model or self._first_model()
        self.n_ctx = int(config.n_ctx)
        self._tokenizer = _Tokenizer(self.http, self.model)
        self._tokens: dict[str, list[int]] = {}
        self.logprobs = not config.chat and self._probe_logprobs()
        # Log-probabilities of the first LOGPROB_TOKENS tokens the last stream generated.
        self.last_logprobs: list[float] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what it serves
    @property
    def name(self) -> str:
        """How the app names this model: the server's name for it and the server."""
        return f"{self.model} on {self.http.where}"

    @property
    def has_chat_template(self) -> bool:
        return self.config.chat

    @property
    def has_tokenizer(self) -> bool:
        return self._tokenizer.path is not None

    @property
    def adapter_path(self) -> Path | None:
        """The shipped grounded adapter where the server serves the embedded model with it.

        That is the pair the answerability decision is calibrated for (`calibrated_for`).
        """
        return Path(ADAPTER_NAME) if self.model == CALIBRATED_MODEL else None

    @property
    def adapter_scale(self) -> float:
        return 1.0 if self.adapter_path is not None else 0.0

    def _first_model(self) -> str:
        reply = self.http.get("/v1/models")
        models = reply.get("data") if isinstance(reply, dict) else None
        names = [str(m["id"]) for m in models or [] if isinstance(m, dict) and m.get("id")]
        if not names:
            raise ServerError(f"The inference server at {self.http.where} lists no model; "
                              "load one there, or name it in Settings.")
        return names[0]

    def _probe_logprobs(self) -> bool:
        """Whether completions come with log-probabilities (a server may refuse them, as
        llama-cpp-python's does with 500 when started without logits_all, or ignore them)."""
        try:
            reply = self.http.post("/v1/completions", {
                "model": self.model, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0,
                "logprobs": 2})
        except ServerError as err:
            if err.status is None or err.status in (401, 403, 404):
                raise  # down, the wrong key, or no completions endpoint: say so now
            return False
        return bool(_top_entries(_choice(reply)))

    # ------------------------------------------------------------------ tokens
    def tokenize(self, text: str, **_: Any) -> list[int]:
        """The server's token ids for `text` (no BOS); empty where it has no tokenizer."""
        cached = self._tokens.get(text)
        if cached is None:
            cached = self._tokenizer(text) or []
            if len(self._tokens) >= _CACHE_LIMIT:
                self._tokens.clear()
            self._tokens[text] = cached
        return list(cached)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        if self.has_tokenizer:
            return len(self.tokenize(text))
        return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)

    def end_tokens(self) -> set[int]:
        """Unknown from the OpenAI API: the server ends answers at its own end tokens."""
        return set()

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """A transcript as long as a chat template's rendering (for counting; the server
        applies its own template)."""
        turns = [f"<|{m.role}|>\n{m.content}<|end|>" for m in messages]
        return "\n".join([*turns, "<|assistant|>\n"])

    # ------------------------------------------------------------------ judgement
    @property
    def next_token_logprobs(self) -> Callable[..., TopLogprobs] | None:
        """The next-token distribution reader the judgement uses, None where the server gives
        no log-probabilities or has no tokenizer to name the tokens."""
        if not (self.logprobs and self.has_tokenizer):
            return None
        return self._next_token_logprobs

    def _next_token_logprobs(self, prompt: str, **_: Any) -> TopLogprobs:
        reply = self.http.post("/v1/completions", {
            "model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
            "logprobs": TOP_LOGPROBS, "seed": DEFAULT_SEED})
        return TopLogprobs(_top_entries(_choice(reply)), self.tokenize)

    # ------------------------------------------------------------------ streaming
    def stream(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0,
               stop: Sequence[str] = (), cancel: threading.Event | None = None,
               top_p: float = 0.95, logit_bias: Mapping[int, float] | None = None,
               **_: Any) -> Iterator[str]:
        """Yield the completion of `prompt` as the server streams it (see Generator.stream).

        Cancelling ends the iteration; a server that fails raises ServerError.
        """
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "stream": True,
                                "max_tokens": max_tokens, "temperature": temperature,
                                "top_p": top_p, "seed": DEFAULT_SEED}
        if self.logprobs:
            body["logprobs"] = 1
        if logit_bias:
            body["logit_bias"] = {str(int(k)): float(v) for k, v in logit_bias.items()}
        return self._stream("/v1/completions", body, stop, cancel)

    def stream_chat(self, messages: Sequence[ChatMessage], *, max_tokens: int = 256,
                    temperature: float = 0.0, stop: Sequence[str] = (),
                    cancel: threading.Event | None = None, top_p: float = 0.95,
                    **_: Any) -> Iterator[str]:
        """Like `stream`, for chat messages; the server applies its model's chat template."""
        body: dict[str, Any] = {
            "model": self.model, "stream": True, "max_tokens": max_tokens,
            "temperature": temperature, "top_p": top_p, "seed": DEFAULT_SEED,
            "messages": [{"role": m.role, "content": m.content} for m in messages]}
        return self._stream("/v1/chat/completions", body, stop, cancel)

    def _stream(self, path: str, body: dict[str, Any], stop: Sequence[str],
                cancel: threading.Event | None) -> Iterator[str]:
        stops = [s for s in stop if s]
        if stops:
            body["stop"] = stops[:MAX_SERVER_STOPS]
        with self._lock:
            self.last_logprobs = []
            filtered = _StopFilter(stops)
            for event in self.http.stream(path, body, cancel):
                choice = _choice(event)
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
                if len(self.last_logprobs) < LOGPROB_TOKENS:
                    self.last_logprobs.extend(_token_logprobs(choice))
                    del self.last_logprobs[LOGPROB_TOKENS:]
                if isinstance(text, str) and text:
                    shown = filtered.feed(text)
                    if shown:
                        yield shown
                    if filtered.stopped:
                        return
                if cancel is not None and cancel.is_set():
                    return
            rest = filtered.flush()
            if rest:
                yield rest

    def complete(self, prompt: str, **kwargs: Any) -> str:
        return "".join(self.stream(prompt, **kwargs))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Nothing is held between requests (each has its own connection)."""

    def __enter__(self) -> RemoteGenerator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# ---------------------------------------------------------------------- reply shapes

def _choice(reply: Any) -> dict[str, Any]:
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _token_logprobs(choice: dict[str, Any]) -> list[float]:
    """The generated tokens' log-probabilities, in the legacy completions shape
    (`token_logprobs`) or the newer per-token shape (`content: [{logprob}]`)."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return []
    legacy = logprobs.get("token_logprobs")
    if isinstance(legacy, list):
        return [float(v) for v in legacy if isinstance(v, int | float)]
    content = logprobs.get("content")
    if isinstance(content, list):
        return [float(t["logprob"]) for t in content
                if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)]
    return []


def _top_entries(choice: dict[str, Any]) -> dict[str, float]:
    """{token text: log-probability} of the first generated token's alternatives."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return {}
    legacy = logprobs.get("top_logprobs")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], dict):
        return {str(k): float(v) for k, v in legacy[0].items() if isinstance(v, int | float)}
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        top = content[0].get("top_logprobs") or []
        return {str(t["token"]): float(t["logprob"]) for t in top
                if isinstance(t, dict) and "token" in t and isinstance(t.get("logprob"),
                                                                       int | float)}
    return {}


def server_from_settings(settings: Any, url: str | None = None) -> RemoteGenerator | None:
    """The server the settings (or a command line's `url`) answer with; None: the embedded
    model. Only here does the app open a connection for answers, so nothing is sent anywhere
    unless the user chose a server."""
    if url is None:
        if settings["answer_model"] != "server":
            return None
        url = str(settings["answer_server_url"])
        if not url.strip():
            raise ServerError("The answer model is set to an inference server, but its "
                              "address is empty; enter it in Settings, or choose the "
                              "embedded model.")
    elif not url.strip():
        return None  # an empty --answer-server: the embedded model
    from assistant.llm.server_key import load_key

    return RemoteGenerator(ServerConfig(
        url, load_key(url), model=str(settings["answer_server_model"]).strip(),
        chat=bool(settings["answer_server_chat"]), n_ctx=int(settings["context_size"]),
        read_timeout=float(settings["answer_server_timeout"])))
