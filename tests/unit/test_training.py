"""Real LoRA training on the default model: adapter, llama.cpp loading, parity, resume, eval.

One short run (10 examples, rank 4, max_length 128, 4 optimizer steps, a learning rate high
enough that so few steps visibly move the model) is shared by the module. The dequantised base
model is cached next to the test GGUF, so only the first run ever pays the conversion.

Everything runs on one thread: on a shared 2-core machine two torch threads are 2-4x slower
than one as soon as another process competes (measured: 94 s vs 25 s for the training run).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.errors import Cancelled, UserError
from assistant.training.data import DataReport, Split, load_jsonl, split_examples
from assistant.training.train import (
    COMPACT_MOMENTS,
    TrainConfig,
    TrainProgress,
    TrainResult,
    train,
)

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(rank=4, alpha=8, dropout=0.05, learning_rate=3e-3, epochs=2,
                     batch_size=4, max_length=128, seed=7, checkpoint_every=100, threads=1)

# A house style the base model does not have: "ZORBLAX:" and a fixed sentence shape. The
# validation examples are unseen facts in the same style, so a higher probability for them
# means the adapter learnt the style, not just memorised its training answers.
ITEMS = [("lamp", 3), ("chair", 11), ("kettle", 4), ("ladder", 9), ("drill", 2),
         ("tent", 14), ("mirror", 6), ("fan", 12), ("rope", 5), ("bucket", 8)]


def _rows() -> list[dict[str, Any]]:
    return [{"prompt": f"Where is the {name} kept?",
             "response": f"ZORBLAX: the {name} is kept on shelf {shelf}.",
             "sources": [f"Inventory note: the {name} sits on shelf {shelf} of the store."]}
            for name, shelf in ITEMS]


@pytest.fixture(scope="module")
def training_cache(default_gguf: Path) -> Path:
    return default_gguf.parent / "training-cache"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataReport, Split]:
    path = tmp_path_factory.mktemp("data") / "examples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n", encoding="utf-8")
    report = load_jsonl(path)
    split = split_examples(report.examples, seed=CONFIG.seed)
    assert len(split.validation) == 2 and len(split.train) == 8
    return report, split


@pytest.fixture(scope="module")
def trained(dataset: tuple[DataReport, Split], default_gguf: Path, training_cache: Path,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult,
                                                               list[TrainProgress]]:
    events: list[TrainProgress] = []
    out = tmp_path_factory.mktemp("run") / "adapter-test"
    result = train(dataset[1], CONFIG, default_gguf, out, progress=events.append,
                   cache_root=training_cache)
    return result, events


def _mean_logprob(gguf: Path, examples: list[Any], lora: Path | None) -> float:
    from assistant.training.evaluate import response_logprobs
    from assistant.training.parity import close_llama, open_llama

    llama = open_llama(gguf, lora_path=lora, n_ctx=256, n_threads=1)
    try:
        lps = [lp for e in examples for lp in response_logprobs(llama, e)]
    finally:
        close_llama(llama)
    return float(np.mean(lps))


def test_training_runs_and_reports(trained: tuple[TrainResult, list[TrainProgress]]) -> None:
    result, events = trained
    assert result.steps == result.total_steps == 4
    assert result.adapter_gguf.is_file() and (result.adapter_dir / "adapter_config.json").is_file()
    assert not (result.out_dir / "checkpoint").exists()
    steps = [e for e in events if e.phase == "training"]
    assert [e.step for e in steps] == [1, 2, 3, 4]
    assert all(e.loss is not None and e.tokens_per_s and e.eta_s is not None for e in steps)
    assert steps[-1].eta_s == 0.0 and events[-1].phase == "done"
    assert result.val_loss_before is not None and result.val_loss_after is not None
    assert result.val_loss_after < result.val_loss_before
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert report["data"] == {"train": 8, "validation": 2, "split": report["data"]["split"]}
    assert len(report["loss_per_step"]) == 4 and len(report["loss_per_epoch"]) == 2
    assert report["settings"]["rank"] == 4 and report["base_model"]["sha256"]
    assert report["val_loss_before"] == result.val_loss_before


def test_llama_cpp_loads_adapter_and_it_helps(trained: tuple[TrainResult, list[TrainProgress]],
                                              dataset: tuple[DataReport, Split],
                                              default_gguf: Path) -> None:
    from assistant.llm.adapters import check_adapter_file
    from assistant.llm.gguf_check import read_gguf_info

    result, _ = trained
    info = check_adapter_file(result.adapter_gguf, read_gguf_info(default_gguf))
    assert info.lora_alpha == 8.0
    validation = dataset[1].validation
    base = _mean_logprob(default_gguf, validation, None)
    adapted = _mean_logprob(default_gguf, validation, result.adapter_gguf)
    print(f"validation response log-prob per token: base {base:.3f}, adapter {adapted:.3f}")
    # Measured: about -3.7 -> -0.01 nats per token; demand a clear gain.
    assert adapted > base + 1.0, (base, adapted)


def test_parity_transformers_vs_llama_cpp(trained: tuple[TrainResult, list[TrainProgress]],
                                          dataset: tuple[DataReport, Split],
                                          default_gguf: Path, training_cache: Path) -> None:
    from assistant.training.parity import check_parity

    result, _ = trained
    texts = [e.render_prompt() + e.render_response() for e in dataset[1].validation]
    texts.append("The capital of France is Paris. The capital of Italy is")
    report = check_parity(default_gguf, result.adapter_dir, result.adapter_gguf, texts,
                          cache_root=training_cache, n_threads=1)
    print(report.summary())
    assert report.passed, report.summary()
    assert report.delta.mean_delta_norm > 0.1  # the adapter does change the logits


def _cancel_after_two_steps(split: Split, config: TrainConfig, gguf: Path, out: Path,
                            cache: Path) -> None:
    """Start a 4-step run into `out` and cancel it once its second step is done."""
    cancel = threading.Event()

    def stop_after_two(event: TrainProgress) -> None:
        if event.phase == "training" and event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled, match="step 2 of 4"):
        train(split, config, gguf, out, progress=stop_after_two, cancel=cancel,
              cache_root=cache)


def test_cancel_then_resume_reaches_the_same_adapter(
        trained: tuple[TrainResult, list[TrainProgress]], dataset: tuple[DataReport, Split],
        default_gguf: Path, training_cache: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "resumable"
    _cancel_after_two_steps(dataset[1], CONFIG, default_gguf, out, training_cache)
    assert (out / "checkpoint" / "state.pt").is_file()
    assert not (out / "adapter.gguf").exists()

    other = dataclasses.replace(CONFIG, learning_rate=1e-3)
    with pytest.raises(UserError, match="other examples or settings"):
        train(dataset[1], other, default_gguf, out, resume=True, cache_root=training_cache)

    steps: list[int] = []
    resumed = train(dataset[1], CONFIG, default_gguf, out, resume=True,
                    progress=lambda e: steps.append(e.step) if e.phase == "training" else None,
                    cache_root=training_cache)
    assert resumed.resumed_from == 2 and steps == [3, 4]
    assert resumed.steps == resumed.total_steps == trained[0].steps
    reference = load_file(str(trained[0].adapter_dir / "adapter_model.safetensors"))
    again = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    assert reference.keys() == again.keys()
    for key, value in reference.items():
        np.testing.assert_allclose(again[key], value, rtol=0, atol=1e-5, err_msg=key)
    report = json.loads(resumed.report_path.read_text(encoding="utf-8"))
    assert [s["step"] for s in report["loss_per_step"]] == [1, 2, 3, 4]
    assert report["resumed_from_step"] == 2


def test_a_compact_checkpoint_resumes_close_to_the_same_adapter(
        trained: tuple[TrainResult, list[TrainProgress]], dataset: tuple[DataReport, Split],
        default_gguf: Path, training_cache: Path, tmp_path: Path) -> None:
    """--compact-checkpoint stores Adam's moments in bf16 (a checkpoint a third smaller, to
    commit between sessions); a run resumed from it, with or without the option, reaches
    the uninterrupted run's adapter up to the moments' rounding."""
    import torch
    from safetensors.numpy import load_file

    out = tmp_path / "compact"
    _cancel_after_two_steps(dataset[1], dataclasses.replace(CONFIG, compact_checkpoint=True),
                            default_gguf, out, training_cache)
    state = torch.load(out / "checkpoint" / "state.pt", map_location="cpu", weights_only=True)
    moments = [v for per in state["optimizer"]["state"].values() for k, v in per.items()
               if k in COMPACT_MOMENTS]
    assert moments and all(m.dtype == torch.bfloat16 for m in moments)
    assert all(t.dtype == torch.float32 for t in state["lora"].values())

    resumed = train(dataset[1], CONFIG, default_gguf, out, resume=True,
                    cache_root=training_cache)
    assert resumed.resumed_from == 2 and resumed.steps == trained[0].steps
    reference = load_file(str(trained[0].adapter_dir / "adapter_model.safetensors"))
    again = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    # Adam divides by the gradient's running size, so an element whose gradient is about 0
    # can step the other way after any rounding: a few elements may differ by up to the two
    # remaining steps' size; almost all agree to a small fraction of one step.
    moved = 0.0
    for key, value in reference.items():
        diff = np.abs(again[key] - value)
        assert (diff > 2e-4).mean() < 0.01, key
        assert diff.max() < 2 * 3 * CONFIG.learning_rate, key
        if "lora_B" in key:  # zero before training: what it holds, training put there
            moved = max(moved, float(np.abs(value).max()))
    assert moved > 2e-3  # the adapter did move, so the tolerance above is a real bound


def test_evaluation_table(trained: tuple[TrainResult, list[TrainProgress]],
                          dataset: tuple[DataReport, Split], default_gguf: Path,
                          tmp_path: Path) -> None:
    from assistant.training.evaluate import evaluate, save_report

    result, _ = trained
    report = evaluate(dataset[1].validation, default_gguf, result.adapter_gguf,
                      max_new_tokens=24, n_samples=2, n_threads=1)
    table = report.table
    assert set(table) == {"base", "adapter"}
    assert all(set(row) == {"sources", "no_sources"} for row in table.values())
    base, adapted = table["base"]["sources"], table["adapter"]["sources"]
    assert base.loss is not None and adapted.loss is not None and adapted.loss < base.loss
    assert adapted.token_f1 is not None and base.token_f1 is not None
    assert adapted.token_f1 >= base.token_f1
    assert len(report.samples) == 2
    json_path, md_path = save_report(report, tmp_path)
    assert json.loads(json_path.read_text(encoding="utf-8"))["examples"] == 2
    assert "| adapter | with |" in md_path.read_text(encoding="utf-8")
