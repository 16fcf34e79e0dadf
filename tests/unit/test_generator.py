"""The llama.cpp generator with the real default model: determinism, streaming, adapters."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from assistant.errors import ModelError
from assistant.llm import models
from assistant.llm.generator import PREFILL_CHUNK, ChatMessage, Generator, _StopFilter
from assistant.llm.gguf_check import GGUFInfo

pytestmark = pytest.mark.slow

TEST_MODELS = Path(os.environ.get(
    "KA_TEST_MODELS", Path.home() / ".cache" / "knowledge-assistant" / "test-models"))
PROMPT = "The capital of France is"

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else 'user' }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


@pytest.fixture(scope="module")
def generator() -> Generator:
    path = models.ensure_default_model(directory=TEST_MODELS)
    with Generator(path, n_ctx=1024, n_threads=2) as gen:
        yield gen


def write_lora(path: Path, base: GGUFInfo, *, seed: int, rank: int = 8, layers: int = 18,
               std: float = 0.08) -> Path:
    """A random LoRA on every layer's attn_q/attn_v, written like the training code would."""
    rng = np.random.default_rng(seed)
    shapes = base.tensor_shapes()
    writer = GGUFWriter(path, arch=base.architecture)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    for layer in range(layers):
        for part in ("attn_q", "attn_v"):
            name = f"blk.{layer}.{part}.weight"
            n_in, n_out = shapes[name][0], shapes[name][1]
            writer.add_tensor(f"{name}.lora_a",
                              rng.normal(0, std, (rank, n_in)).astype(np.float32))
            writer.add_tensor(f"{name}.lora_b",
                              rng.normal(0, std, (n_out, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_basics(generator: Generator) -> None:
    assert not generator.has_chat_template
    assert generator.architecture == "gemma3"
    assert generator.count_tokens("") == 0
    assert 3 <= generator.count_tokens("Hello, world!") <= 6
    assert generator.n_ctx == 1024


def test_temperature_zero_is_deterministic(generator: Generator) -> None:
    first = generator.complete(PROMPT, max_tokens=24, temperature=0.0)
    logits = generator.next_token_logits(PROMPT)
    generator.complete("Something else entirely, to change the cached state.", max_tokens=8)
    second = generator.complete(PROMPT, max_tokens=24, temperature=0.0)
    assert first == second
    assert first.strip()
    # Bitwise identical logits, whatever ran before (prefix reuse keeps chunk boundaries).
    assert np.array_equal(logits, generator.next_token_logits(PROMPT))
    assert np.array_equal(logits, generator.next_token_logits(PROMPT))


def test_sampling_with_fixed_seed_repeats(generator: Generator) -> None:
    first = generator.complete("Once upon a time", max_tokens=16, temperature=0.9)
    second = generator.complete("Once upon a time", max_tokens=16, temperature=0.9)
    assert first == second


def test_logprobs(generator: Generator) -> None:
    logprobs = generator.next_token_logprobs(PROMPT)
    assert logprobs.shape == (generator.n_vocab,)
    assert np.isclose(np.logaddexp.reduce(logprobs.astype(np.float64)), 0.0, atol=1e-4)
    best = int(np.argmax(logprobs))
    assert generator.llama.detokenize([best]).decode().strip() in {"the", "Paris"}


def test_cancel_stops_generation_quickly(generator: Generator) -> None:
    cancel = threading.Event()
    pieces = []
    cancelled_at = 0.0
    for piece in generator.stream("Once upon a time", max_tokens=400, cancel=cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            cancelled_at = time.perf_counter()
            cancel.set()
    stopped_after = time.perf_counter() - cancelled_at
    assert len(pieces) == 3
    assert stopped_after < 0.5


def test_cancel_from_another_thread_during_long_prompt(generator: Generator) -> None:
    """Cancelling while the prompt is read stops the call well before it would have ended.
    Measured against the same call left to finish, not a fixed time: on cores shared with
    other work a fixed bound fails for nothing."""
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 80  # ~800 tokens
    started = time.perf_counter()
    full = generator.complete(long_prompt, max_tokens=200)
    whole = time.perf_counter() - started
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    started = time.perf_counter()
    timer.start()
    try:
        out = generator.complete(long_prompt, max_tokens=200, cancel=cancel)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - started
    assert cancel.is_set()
    assert elapsed < whole / 2, f"cancel took {elapsed:.2f}s of the {whole:.2f}s call"
    assert len(out) < len(full)
    # The generator is still usable and still deterministic afterwards.
    assert generator.complete(PROMPT, max_tokens=8) == generator.complete(PROMPT, max_tokens=8)


def test_stop_strings_and_max_tokens(generator: Generator) -> None:
    prompt = "1. apples\n2. pears\n3."
    free = generator.complete(prompt, max_tokens=30)
    assert "\n" in free  # the list goes on ...
    stopped = generator.complete(prompt, max_tokens=30, stop=["\n"])
    assert "\n" not in stopped and free.startswith(stopped)
    short = list(generator.stream(prompt, max_tokens=2))
    assert 1 <= len(short) <= 2


def test_stop_filter_holds_back_partial_stops() -> None:
    filt = _StopFilter(["\nQuestion:", "\n\n"])
    assert filt.feed("Paris is") == "Paris is"
    assert filt.feed(" nice\nQue") == " nice"  # "\nQue" may start "\nQuestion:"
    assert filt.feed("st") == ""
    assert filt.feed("ion: next") == "" and filt.stopped
    filt = _StopFilter(["\nQuestion:"])
    assert filt.feed("a\nQue") == "a"
    assert filt.feed("en Mary") == "\nQueen Mary"
    assert filt.flush() == ""


def test_multibyte_text_is_never_garbled(generator: Generator) -> None:
    text = generator.complete("日本の首都は東京です。日本の", max_tokens=40)
    assert text and "\ufffd" not in text
    emoji = generator.complete("I love pizza 🍕🍕🍕 and sushi 🍣", max_tokens=20)
    assert "\ufffd" not in emoji


def test_prompt_longer_than_context(generator: Generator) -> None:
    with pytest.raises(ModelError, match="context holds 1024"):
        generator.complete("word " * 2000, max_tokens=4)


def test_chat_template_override(generator: Generator) -> None:
    path = generator.model_path
    with Generator(path, n_ctx=512, n_threads=2, chat_template=GEMMA_TEMPLATE) as chat:
        assert chat.has_chat_template
        messages = [ChatMessage("user", "Say <start_of_turn>hi"), ]
        prompt = chat.format_chat(messages)
        assert prompt.startswith("<bos><start_of_turn>user\n")
        assert prompt.endswith("<start_of_turn>model\n")
        # Control-token text inside a message stays text: one <start_of_turn> token per turn.
        start = chat.tokenize("<start_of_turn>", special=True)
        assert len(start) == 1
        tokens = chat.tokenize(prompt, special=True)
        assert tokens.count(start[0]) == 2
        out = "".join(chat.stream_chat(messages, max_tokens=12))
        assert isinstance(out, str)
    # Without a template stream_chat falls back to a plain transcript.
    plain = generator.format_chat([ChatMessage("user", "Hi")])
    assert plain == "User: Hi\n\nAssistant:"


# --------------------------------------------------------------------------- adapters

def test_adapters_apply_swap_remove_without_reloading(generator: Generator,
                                                      tmp_path: Path) -> None:
    llama = generator.llama
    prompt = "The capital of France is"
    base = generator.complete(prompt, max_tokens=16)
    base_logits = generator.next_token_logits(prompt)

    first = write_lora(tmp_path / "first.gguf", generator.info, seed=1)
    second = write_lora(tmp_path / "second.gguf", generator.info, seed=2)

    generator.set_adapter(first, 1.0)
    assert generator.adapter_path == first.resolve() and generator.adapter_scale == 1.0
    with_first = generator.complete(prompt, max_tokens=16)
    first_logits = generator.next_token_logits(prompt)
    assert with_first != base
    assert not np.array_equal(first_logits, base_logits)

    generator.set_adapter(first, 0.5)  # re-scale the loaded adapter
    half_logits = generator.next_token_logits(prompt)
    assert not np.array_equal(half_logits, first_logits)
    assert not np.array_equal(half_logits, base_logits)

    generator.set_adapter(second, 1.0)  # swap
    assert generator.adapter_path == second.resolve()
    with_second = generator.complete(prompt, max_tokens=16)
    assert with_second != with_first and with_second != base

    generator.set_adapter(first, 1.0)  # back: same output as the first time
    assert generator.complete(prompt, max_tokens=16) == with_first
    assert np.array_equal(generator.next_token_logits(prompt), first_logits)

    generator.set_adapter(None, 1.0)  # remove: exactly the base model again
    assert generator.adapter_path is None
    assert generator.complete(prompt, max_tokens=16) == base
    assert np.array_equal(generator.next_token_logits(prompt), base_logits)

    generator.set_adapter(first, 1.0)
    generator.set_adapter(first, 0.0)  # scale 0 also removes it
    assert generator.adapter_path is None
    assert np.array_equal(generator.next_token_logits(prompt), base_logits)

    assert generator.llama is llama  # never reloaded


def test_bad_adapters_leave_the_current_one_in_place(generator: Generator,
                                                     tmp_path: Path) -> None:
    good = write_lora(tmp_path / "good.gguf", generator.info, seed=3, layers=2)
    generator.set_adapter(good, 1.0)
    try:
        with_good = generator.next_token_logits(PROMPT)

        other = tmp_path / "other.gguf"
        writer = GGUFWriter(other, arch="llama")
        writer.add_type("adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((4, 640), np.float32))
        writer.add_tensor("blk.0.attn_q.weight.lora_b", np.ones((1024, 4), np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with pytest.raises(ModelError, match="made for a 'llama' model"):
            generator.set_adapter(other, 1.0)

        with pytest.raises(ModelError, match="is not a LoRA adapter"):
            generator.set_adapter(generator.model_path, 1.0)
        with pytest.raises(ModelError, match="does not exist"):
            generator.set_adapter(tmp_path / "missing.gguf", 1.0)
        with pytest.raises(ModelError, match="strength"):
            generator.set_adapter(good, -1.0)

        assert generator.adapter_path == good.resolve()
        assert np.array_equal(generator.next_token_logits(PROMPT), with_good)
    finally:
        generator.set_adapter(None, 1.0)


def test_llama_refusing_an_adapter_is_a_clear_error(generator: Generator, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = write_lora(tmp_path / "refused.gguf", generator.info, seed=4, layers=1)
    monkeypatch.setattr(generator._lib, "llama_adapter_lora_init", lambda *_: None)
    with pytest.raises(ModelError, match=r"could not load the adapter 'refused\.gguf'"):
        generator.set_adapter(adapter, 1.0)
    assert generator.adapter_path is None


def test_reading_past_a_prompt_then_answering_it_evaluates_the_prompt_once(
        generator: Generator) -> None:
    """The answer path reads the refusal's first two tokens, then answers the same prompt:
    the second token's reading evaluates one token, the answer none of the prompt's, and
    both give what they give on a fresh model, whatever ran before."""
    prompt = ("Passage: the lighthouse on the north cape was built in 1871 of granite from "
              "the island's own quarry, and its lens was turned by clockwork. ") * 4
    prompt += "Question: when was the lighthouse built? Answer:"
    assert generator.count_tokens(prompt) % PREFILL_CHUNK not in (0, 1)
    generator.forget_state()
    fresh_first = generator.next_token_logprobs(prompt)
    fresh_second = generator.next_token_logprobs_after(prompt, " I")
    generator.forget_state()
    fresh_answer = generator.complete(prompt, max_tokens=12, temperature=0.0)
    fresh_logprobs = list(generator.last_logprobs)

    generator.complete("Something else entirely, to change the cached state.", max_tokens=8)
    llama = generator.llama
    real_eval = llama.eval
    evaluated: list[int] = []

    def counting(tokens):  # type: ignore[no-untyped-def]  # a spy around the real call
        evaluated.append(len(tokens))
        return real_eval(tokens)

    llama.eval = counting
    try:
        assert np.array_equal(generator.next_token_logprobs(prompt), fresh_first)
        evaluated.clear()
        assert np.array_equal(generator.next_token_logprobs_after(prompt, " I"), fresh_second)
        assert evaluated == [1]  # " I" on top of the prompt
        evaluated.clear()
        answer = generator.complete(prompt, max_tokens=12, temperature=0.0)
    finally:
        del llama.eval
    assert answer == fresh_answer and generator.last_logprobs == fresh_logprobs
    assert answer.strip() and set(evaluated) == {1}  # the answer's own tokens only
