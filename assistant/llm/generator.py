"""Text generation with llama.cpp: streaming, cancellable, deterministic at temperature 0.

`Generator` wraps one `llama_cpp.Llama` and drives it through llama.cpp's own C API for
sampling (a sampler chain we own) rather than `Llama.create_completion`, so that we control:

* cancellation: checked between prompt chunks and between generated tokens, so a cancel takes
  effect within one small batch (well under a second on two cores);
* UTF-8: pieces go through an incremental decoder, so a character split over several byte
  tokens is emitted whole and never as replacement garbage;
* stop strings: text that could be the start of a stop string is held back until it is clear;
* determinism: the prompt is always evaluated in chunks at the same boundaries, and only KV
  entries computed that way are reused, so the same prompt gives bitwise the same logits;
* LoRA adapters: swapped on the live context (see `set_adapter`), without reloading the model.

Only one generation runs at a time per Generator (a lock); use one Generator per thread
otherwise. The object is not Qt-aware: a GUI runs `stream` in a worker thread.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assistant.errors import ModelError
from assistant.llm.adapters import apply_adapter, release_adapter
from assistant.llm.gguf_check import GGUFInfo, check_model_file

if TYPE_CHECKING:
    import llama_cpp

log = logging.getLogger(__name__)

DEFAULT_SEED = 1234
# Prompt tokens evaluated per llama.cpp call: small enough that cancel is quick, large enough
# to keep batched matrix multiplication efficient.
PREFILL_CHUNK = 128
_LOG_LEVELS = {2: logging.WARNING, 3: logging.ERROR}


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


_log_callback: Any = None


def route_llama_logs() -> None:
    """Send llama.cpp's log lines to Python logging instead of raw stderr (once)."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        try:
            message = text.decode("utf-8", errors="replace").rstrip()
        except Exception:
            return
        if message:
            log.log(logging.DEBUG if level not in _LOG_LEVELS else logging.INFO, "%s", message)

    _log_callback = _callback  # keep a reference: C holds only the pointer
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


class _StopFilter:
    """Holds back text that might begin a stop string; reports when one is complete."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add text; return what can safely be shown now."""
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0),
                  default=-1)
        if cut >= 0:
            out, self.pending, self.stopped = self.pending[:cut], "", True
            return out
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.pending)), hold, -1):
                if self.pending.endswith(stop[:n]):
                    hold = n
                    break
        out = self.pending[:len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold:]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


LOGPROB_TOKENS = 16  # generated tokens whose log-probability a stream records


def _log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits.astype(np.float64) - float(logits.max())
    out: npt.NDArray[np.float32] = (shifted - np.log(np.exp(shifted).sum())).astype(np.float32)
    return out


class Generator:
    """One loaded GGUF model, ready to stream completions."""

    def __init__(self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None,
                 seed: int = DEFAULT_SEED, chat_template: str | None = None,
                 n_batch: int = 512) -> None:
        """Check the file in pure Python first, then load it (mmap) with llama.cpp.

        `chat_template` overrides (or supplies) the model's Jinja chat template.
        """
        self.model_path = Path(model_path)
        self.info: GGUFInfo = check_model_file(self.model_path)
        import llama_cpp

        route_llama_logs()
        threads = n_threads or None
        kwargs: dict[str, Any] = dict(
            model_path=str(self.model_path), n_ctx=n_ctx, n_batch=n_batch,
            n_threads=threads, n_threads_batch=threads, seed=seed, logits_all=False,
            verbose=False, swa_full=True)
        try:
            try:
                self._llama: Any = llama_cpp.Llama(**kwargs)
            except OSError:
                # verbose=False silences loading by redirecting fds 1 and 2, which fails where
                # they do not exist (a windowed app on Windows); loading verbosely works there.
                kwargs["verbose"] = True
                self._llama = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelError(
                f"llama.cpp could not load '{self.model_path.name}' ({err}). The file may be "
                "damaged, or made for a newer version of llama.cpp.") from err
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self.n_ctx: int = self._llama.n_ctx()
        self.n_vocab: int = self._llama.n_vocab()
        self.seed = seed
        self._lock = threading.RLock()
        # Tokens whose KV entries were computed by chunked prefill (reusable for a new prompt).
        self._prefilled: list[int] = []
        # Whether the context's logits are those of `_prefilled`'s last token, so that a prompt
        # evaluated a moment ago is not evaluated again (`_prefill`).
        self._logits_fresh = False
        self._chat_template = chat_template if chat_template is not None else (
            self.info.chat_template)
        self._control_texts: list[str] | None = None
        self._adapter: Any = None  # an assistant.llm.adapters.LoadedAdapter
        self._closed = False
        # Log-probabilities of the first LOGPROB_TOKENS tokens the last stream generated (the
        # answer's confidence); later tokens are not scored, as each costs a softmax over the
        # whole vocabulary (about 3 ms for Gemma's 262k tokens, a tenth of a token's time).
        self.last_logprobs: list[float] = []

    # ----------------------------------------------------------------------- basics

    @property
    def llama(self) -> llama_cpp.Llama:
        """The underlying `llama_cpp.Llama` (for adapters and diagnostics)."""
        self._logits_fresh = False  # whoever holds it may evaluate: trust no cached logits
        llama: llama_cpp.Llama = self._llama
        return llama

    @property
    def has_chat_template(self) -> bool:
        return bool(self._chat_template)

    @property
    def architecture(self) -> str:
        return self.info.architecture

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def end_tokens(self) -> set[int]:
        """The end-of-sequence / end-of-turn token ids (those that end a generation)."""
        ids = {int(self._lib.llama_vocab_eos(self._vocab)), int(self._lib.llama_vocab_eot(
            self._vocab))}
        return {i for i in ids if i >= 0}

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's own tokenizer (no BOS)."""
        if not text:
            return 0
        return len(self.tokenize(text))

    def _piece(self, token: int, buffer: ctypes.Array[ctypes.c_char]) -> bytes:
        n = self._lib.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        if n < 0:
            bigger = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, bigger, -n, 0, False)
            return bigger.raw[:n]
        return buffer.raw[:n]

    def close(self) -> None:
        """Free the adapter and the model now rather than at garbage collection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            release_adapter(self)
            self._llama.close()

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ----------------------------------------------------------------------- evaluation

    def forget_state(self) -> None:
        """Drop every cached prompt/KV entry (after an adapter change they are stale)."""
        self._prefilled = []
        self._logits_fresh = False
        self._llama.reset()
        self._llama.n_tokens = 0
        memory = self._lib.llama_get_memory(self._llama.ctx)
        if memory is not None:
            self._lib.llama_memory_clear(memory, True)

    def _prefill(self, tokens: list[int], cancel: threading.Event | None) -> bool:
        """Evaluate `tokens` so the next logits follow them; False when cancelled first.

        Reuses the KV entries of the previous prompt up to a chunk boundary, and evaluates the
        rest in chunks at the same boundaries a fresh run would use, so results do not depend
        on what ran before.
        """
        if not tokens:
            raise ValueError("cannot evaluate an empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ModelError(
                f"The prompt is {len(tokens)} tokens long but the model's context holds "
                f"{self.n_ctx}; shorten it or raise the context size.")
        if self._logits_fresh and tokens == self._prefilled and \
                self._llama.n_tokens == len(tokens):
            return True  # the context ends exactly here, with these tokens' logits
        self._logits_fresh = False
        common = 0
        for old, new in zip(self._prefilled, tokens, strict=False):
            if old != new:
                break
            common += 1
        reuse = (common // PREFILL_CHUNK) * PREFILL_CHUNK
        if reuse >= len(tokens):
            reuse = ((len(tokens) - 1) // PREFILL_CHUNK) * PREFILL_CHUNK
        self._prefilled = tokens[:reuse]
        self._llama.n_tokens = reuse
        if reuse == 0:
            self._llama.reset()
        for start in range(reuse, len(tokens), PREFILL_CHUNK):
            if cancel is not None and cancel.is_set():
                return False
            chunk = tokens[start:start + PREFILL_CHUNK]
            self._llama.eval(chunk)
            self._prefilled = tokens[:start + len(chunk)]
        self._logits_fresh = True
        return True

    def _last_logits(self) -> npt.NDArray[np.float32]:
        pointer = self._lib.llama_get_logits_ith(self._llama.ctx, -1)
        logits: npt.NDArray[np.float32] = np.ctypeslib.as_array(
            pointer, shape=(self.n_vocab,)).astype(np.float32)
        return logits

    def next_token_logits(self, prompt: str, *, add_bos: bool = True) -> npt.NDArray[np.float32]:
        """Raw logits for the token after `prompt` (for parity checks against other runtimes)."""
        with self._lock:
            tokens = self.tokenize(prompt, add_bos=add_bos)
            self._prefill(tokens, None)
            return self._last_logits()

    def next_token_logprobs(self, prompt: str, *,
                            add_bos: bool = True) -> npt.NDArray[np.float32]:
        """Log-probabilities (log-softmax of the logits) of the token after `prompt`."""
        return _log_softmax(self.next_token_logits(prompt, add_bos=add_bos))

    def next_token_logprobs_after(self, prompt: str, continuation: str) -> npt.NDArray[np.float32]:
        """Log-probabilities of the token after `prompt` + `continuation`, leaving the model
        where `prompt` ends, its logits restored, so that answering `prompt` next evaluates
        nothing again.

        Why: the answer path reads the refusal's first two tokens (`answerability.judge`)
        and then answers the same prompt. Evaluated as a prompt of its own, the longer text
        re-read the prompt's last chunk (up to PREFILL_CHUNK tokens), and the answer re-read
        it once more. Here the continuation's tokens are evaluated in one step on top of the
        prompt's, whatever ran before, so the result does not depend on history either.
        """
        with self._lock:
            base = self.tokenize(prompt, add_bos=True)  # as `next_token_logits` and `stream`
            full = self.tokenize(prompt + continuation, add_bos=True)
            if len(full) <= len(base) or full[:len(base)] != base or len(full) >= self.n_ctx:
                return _log_softmax(self.next_token_logits(prompt + continuation))
            self._prefill(base, None)
            saved = self._last_logits()  # a copy
            self._logits_fresh = False
            self._llama.eval(full[len(base):])
            after = self._last_logits()
            self._llama.n_tokens = len(base)  # the continuation's entries go at the next eval
            memory = self._lib.llama_get_memory(self._llama.ctx)
            if memory is not None:
                self._lib.llama_memory_seq_rm(memory, -1, len(base), -1)
            pointer = self._lib.llama_get_logits_ith(self._llama.ctx, -1)
            np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))[:] = saved
            self._logits_fresh = True  # `_prefilled` is `base`
            return _log_softmax(after)

    def _sampler(self, temperature: float, top_k: int, top_p: float, min_p: float,
                 repeat_penalty: float, logit_bias: Mapping[int, float] | None) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if logit_bias:
            biases = (lib.llama_logit_bias * len(logit_bias))()
            for slot, (token, bias) in zip(biases, logit_bias.items(), strict=True):
                slot.token, slot.bias = int(token), float(bias)
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_logit_bias(
                self.n_vocab, len(logit_bias), biases))
        if repeat_penalty != 1.0:
            lib.llama_sampler_chain_add(
                chain, lib.llama_sampler_init_penalties(64, repeat_penalty, 0.0, 0.0))
        if temperature <= 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(top_k))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(min_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(self.seed))
        return chain

    # ----------------------------------------------------------------------- streaming

    def stream(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0,
               stop: Sequence[str] = (), cancel: threading.Event | None = None,
               top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
               repeat_penalty: float = 1.0, add_bos: bool = True,
               special: bool = False,
               logit_bias: Mapping[int, float] | None = None) -> Iterator[str]:
        """Yield the completion of `prompt` piece by piece.

        Generation ends at an end-of-generation token, a stop string (not included), after
        `max_tokens`, when the context is full, or when `cancel` is set: cancelling simply ends
        the iteration (no exception), so check `cancel.is_set()` afterwards to tell it apart.
        Temperature 0 is greedy decoding and therefore deterministic; above 0 the sampler uses
        the fixed seed, so a given prompt and settings still repeat exactly.
        `special=True` parses control-token text (like <start_of_turn>) in the prompt, as chat
        templates need; plain prompts keep it False so document text cannot inject them.
        `logit_bias` adds a fixed amount to the logits of the given token ids.
        """
        tokens = self.tokenize(prompt, add_bos=add_bos, special=special)
        return self._stream_tokens(tokens, max_tokens=max_tokens, temperature=temperature,
                                   stop=stop, cancel=cancel, top_k=top_k, top_p=top_p,
                                   min_p=min_p, repeat_penalty=repeat_penalty,
                                   logit_bias=logit_bias)

    def _stream_tokens(self, tokens: list[int], *, max_tokens: int, temperature: float,
                       stop: Sequence[str], cancel: threading.Event | None, top_k: int,
                       top_p: float, min_p: float, repeat_penalty: float,
                       logit_bias: Mapping[int, float] | None) -> Iterator[str]:
        with self._lock:
            if self._closed:
                raise ModelError("The model was closed.")
            self.last_logprobs = []
            if not self._prefill(tokens, cancel):
                return
            lib = self._lib
            ctx = self._llama.ctx
            sampler = self._sampler(temperature, top_k, top_p, min_p, repeat_penalty,
                                    logit_bias)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stops = _StopFilter(stop)
            buffer = ctypes.create_string_buffer(64)
            try:
                for _ in range(max_tokens):
                    if cancel is not None and cancel.is_set():
                        break
                    token = int(lib.llama_sampler_sample(sampler, ctx, -1))
                    if len(self.last_logprobs) < LOGPROB_TOKENS:  # raw, before any bias
                        self.last_logprobs.append(float(_log_softmax(self._last_logits())[token]))
                    if lib.llama_vocab_is_eog(self._vocab, token):
                        break
                    text = decoder.decode(self._piece(token, buffer))
                    if text:
                        shown = stops.feed(text)
                        if shown:
                            yield shown
                        if stops.stopped:
                            return
                    if self._llama.n_tokens + 1 >= self.n_ctx:
                        log.info("context full after %d tokens", self._llama.n_tokens)
                        break
                    if cancel is not None and cancel.is_set():
                        break
                    self._logits_fresh = False
                    self._llama.eval([token])
                # An incomplete UTF-8 sequence at the very end is dropped, not shown as garbage.
                rest = stops.flush()
                if rest:
                    yield rest
            finally:
                lib.llama_sampler_free(sampler)

    def complete(self, prompt: str, **kwargs: Any) -> str:
        """The whole completion as one string (see `stream` for the arguments)."""
        return "".join(self.stream(prompt, **kwargs))

    # ----------------------------------------------------------------------- chat

    def _control_token_texts(self) -> list[str]:
        """Texts of the vocabulary's control tokens (like <start_of_turn>), longest first."""
        if self._control_texts is None:
            lib = self._lib
            control = lib.LLAMA_TOKEN_ATTR_CONTROL
            texts = set()
            for token in range(self.n_vocab):
                if lib.llama_vocab_get_attr(self._vocab, token) & control:
                    text = lib.llama_vocab_get_text(self._vocab, token)
                    if text:
                        texts.add(text.decode("utf-8", errors="replace"))
            self._control_texts = sorted(texts, key=len, reverse=True)
        return self._control_texts

    def _defuse(self, text: str) -> str:
        """Break control-token text inside message content so it stays plain text."""
        texts = [t for t in self._control_token_texts() if len(t) > 1 and t in text]
        if not texts:
            return text
        pattern = re.compile("|".join(re.escape(t) for t in texts))
        return pattern.sub(lambda m: m.group(0)[0] + "\u200b" + m.group(0)[1:], text)

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """Render `messages` with the model's chat template (or a plain fallback format)."""
        safe = [ChatMessage(m.role, self._defuse(m.content)) for m in messages]
        if not self._chat_template:
            lines = [f"{m.role.capitalize()}: {m.content}" for m in safe]
            return "\n\n".join([*lines, "Assistant:"])
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos = self._token_text(self._llama.token_bos())
        eos = self._token_text(self._llama.token_eos())
        formatter = Jinja2ChatFormatter(template=self._chat_template, eos_token=eos,
                                        bos_token=bos, add_generation_prompt=True)
        try:
            chat: list[Any] = [{"role": m.role, "content": m.content} for m in safe]
            result = formatter(messages=chat)
        except Exception as err:  # jinja2 errors: a template that rejects these roles, etc.
            raise ModelError(f"The model's chat template failed: {err}") from err
        return str(result.prompt)

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text = self._lib.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", errors="replace") if text else ""

    def stream_chat(self, messages: Sequence[ChatMessage], *, max_tokens: int = 256,
                    temperature: float = 0.0, stop: Sequence[str] = (),
                    cancel: threading.Event | None = None, **kwargs: Any) -> Iterator[str]:
        """Like `stream`, for a conversation rendered with the model's chat template.

        Without a template a plain "User:/Assistant:" transcript is used, stopping before the
        model writes the next "User:" turn itself.
        """
        prompt = self.format_chat(messages)
        if not self._chat_template:
            return self.stream(prompt, max_tokens=max_tokens, temperature=temperature,
                               stop=[*stop, "\nUser:", "\nSystem:"], cancel=cancel, **kwargs)
        bos_text = self._token_text(self._llama.token_bos())
        add_bos = not (bos_text and prompt.startswith(bos_text))
        return self.stream(prompt, max_tokens=max_tokens, temperature=temperature, stop=stop,
                           cancel=cancel, add_bos=add_bos, special=True, **kwargs)

    # ----------------------------------------------------------------------- adapters

    @property
    def adapter_path(self) -> Path | None:
        return None if self._adapter is None else Path(self._adapter.path)

    @property
    def adapter_scale(self) -> float:
        return 0.0 if self._adapter is None else float(self._adapter.scale)

    def set_adapter(self, path: str | Path | None, scale: float = 1.0) -> None:
        """Apply, swap or (path None / scale 0) remove a LoRA adapter; the model stays loaded."""
        with self._lock:
            if self._closed:
                raise ModelError("The model was closed.")
            apply_adapter(self, path, scale)
