"""The shipped grounded-answer adapter is a real trained file that moves answers the right way.

Fixed held-out examples (SQuAD 2.0 articles never used in training; CC BY-SA 4.0) are scored
with and without the adapter, through the same prompt builder the app uses: on unanswerable
ones the refusal must become more likely, on answerable ones the gold answer must.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from assistant.answer import NOT_FOUND_TEXT
from assistant.llm.gguf_check import read_gguf_info
from assistant.llm.grounded import builtin_adapter_path, choose_adapter, fits
from assistant.settings import Settings
from assistant.training.data import load_jsonl
from assistant.training.evaluate import response_logprobs
from assistant.training.parity import close_llama, open_llama

HELD_OUT = Path(__file__).parents[1] / "data" / "qa" / "heldout_grounded.jsonl"


@pytest.fixture(scope="module")
def adapter() -> Path:
    path = builtin_adapter_path()
    assert path is not None, "the grounded adapter must ship in resources/adapters/"
    return path


def test_the_adapter_is_a_real_lora_for_the_embedded_model(adapter: Path,
                                                           default_gguf: Path) -> None:
    info = read_gguf_info(adapter)
    assert info.architecture == "gemma3"
    assert adapter.stat().st_size > 100_000  # trained LoRA tensors, not a placeholder
    assert fits(adapter, read_gguf_info(default_gguf))
    report = adapter.with_suffix(".report.json")
    assert report.is_file() and "CC BY-SA 4.0" in (adapter.parent / "README.md").read_text()


def test_it_is_chosen_by_default_and_only_where_it_fits(adapter: Path,
                                                        default_gguf: Path) -> None:
    settings = Settings()
    chosen, why = choose_adapter(settings, read_gguf_info(default_gguf))
    assert (chosen, why) == (adapter, "grounded")
    settings.set("grounded_adapter", False)
    assert choose_adapter(settings, read_gguf_info(default_gguf)) == (None, "off")
    settings.set("grounded_adapter", True)
    assert choose_adapter(settings, read_gguf_info(default_gguf), override="") == (None, "off")


@pytest.mark.slow
def test_it_moves_held_out_examples_the_right_way(adapter: Path, default_gguf: Path) -> None:
    examples = load_jsonl(HELD_OUT, scrub_pii=False).examples
    refuse = [e for e in examples if e.response == NOT_FOUND_TEXT]
    answer = [e for e in examples if e.response != NOT_FOUND_TEXT]
    assert refuse and answer
    refusal = [dataclasses.replace(e, response=NOT_FOUND_TEXT) for e in refuse]

    def score(llama: Any) -> tuple[float, float]:
        r = sum(sum(response_logprobs(llama, e)) for e in refusal) / len(refusal)
        a = sum(sum(response_logprobs(llama, e)) for e in answer) / len(answer)
        return r, a

    for lora in (None, adapter):
        llama = open_llama(default_gguf, lora_path=lora, n_ctx=1536)
        try:
            if lora is None:
                base_refuse, base_answer = score(llama)
            else:
                tuned_refuse, tuned_answer = score(llama)
        finally:
            close_llama(llama)
    # Summed log-probabilities of the whole target: the adapter must make both clearly likelier.
    assert tuned_refuse > base_refuse + 1.0, (base_refuse, tuned_refuse)
    assert tuned_answer > base_answer + 1.0, (base_answer, tuned_answer)
