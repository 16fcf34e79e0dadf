"""LoRA fine-tuning of the base model on the user's examples, resumable and cancellable.

The loop is written out (no `Trainer`) because the app needs: progress events after every
step, cancellation between steps, checkpoints that resume bit-for-bit (adapter weights,
optimizer, scheduler, step, RNG state; the data order is a pure function of seed and epoch),
and a loss on response tokens only. Two things keep it fast on a laptop CPU:

* the vocabulary projection (262,144 x 640, larger than the rest of the model) is computed
  only at the response positions, not over the whole (mostly prompt) sequence;
* batches are padded to their own longest example, not to `max_length`.

Outputs in `out_dir`: `adapter/` (peft), `adapter.gguf` (for llama.cpp), `training_report.json`;
`checkpoint/` while a run is unfinished (removed when it completes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import Cancelled, ModelError, UserError
from assistant.training.adapters import ADAPTER_GGUF, REPORT_FILE
from assistant.training.batches import (
    IGNORE_INDEX,
    MIN_PROMPT_TOKENS,
    collate,
    encode_example,
    evaluate_loss,
    hf_tokenize,
    response_loss,
)
from assistant.training.data import Example, Split, split_examples

if TYPE_CHECKING:
    import torch

    from assistant.training.base_model import BaseModelInfo

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
ADAPTER_DIR = "adapter"
DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a run. The defaults suit tens to hundreds of short examples.

    Learning rate 2e-4 with rank 8 / alpha 16: on 29 templated RAG-style examples (24 steps) it
    took the validation loss from 2.39 to 0.24 after one epoch and 0.001 after three; 5e-4 got
    there within one epoch (more overfitting risk with hundreds of examples). Warmup is 10%
    of the steps, then the rate decays linearly to zero.

    Memory: the float32 base model takes ~1.7 GB once touched; activations grow with
    batch_size x tokens per example (~3 GB more at 4 x 270 tokens with dropout on). To save
    memory lower batch_size and raise grad_accumulation (same effective batch), or turn on
    gradient_checkpointing.
    """

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 2e-4
    epochs: int = 3
    batch_size: int = 4  # examples per forward/backward pass
    grad_accumulation: int = 1  # passes per optimizer step
    max_length: int = 512  # tokens per example (prompt + response), the prompt's start is cut
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    seed: int = 0
    device: str = "auto"  # "auto" = cuda if available, else cpu
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    validation_fraction: float = 0.15  # used when train() is given plain examples
    checkpoint_every: int = 20  # optimizer steps between checkpoints (and at cancel)
    # ... or this many minutes, whichever comes first: a slow machine still loses at most
    # this much work to a kill.
    checkpoint_minutes: float = 15.0
    # torch CPU threads; None = physical cores - 1 (at least 1), see default_threads().
    threads: int | None = None
    # Recompute layer activations in the backward pass: about 1 GB less peak memory at
    # batch 4 x ~270 tokens, for ~20-30% more time per step.
    gradient_checkpointing: bool = False
    # bf16 autocast of the forward pass on the CPU (LoRA weights and optimizer stay fp32).
    # None: where the CPU computes bf16 natively (AVX-512 BF16 or AMX), see cpu_computes_bf16.
    bf16: bool | None = None
    # Store the optimizer's two moments in bf16 (the LoRA weights stay fp32): a checkpoint a
    # third smaller (rank 8 on the 270M model: 22.8 -> 15.2 MB), for one committed to a
    # repository between sessions. A resumed run then differs from an uninterrupted one by the
    # moments' rounding (about 0.4% of each), not by its examples or schedule.
    compact_checkpoint: bool = False

    def __post_init__(self) -> None:
        if self.rank < 1 or self.epochs < 1 or self.batch_size < 1 or self.grad_accumulation < 1:
            raise ValueError("rank, epochs, batch_size and grad_accumulation must be >= 1")
        if self.max_length < MIN_PROMPT_TOKENS * 2:
            raise ValueError(f"max_length must be at least {MIN_PROMPT_TOKENS * 2}")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    def fingerprint_fields(self) -> dict[str, Any]:
        """The settings that change the result (not device, threads or checkpoint spacing)."""
        out = self.to_json()
        for key in ("device", "threads", "checkpoint_every", "checkpoint_minutes",
                    "gradient_checkpointing", "bf16", "compact_checkpoint"):
            out.pop(key)
        return out


@dataclass(frozen=True)
class TrainProgress:
    """One progress event. `phase` is loading, training, validating, saving or done."""

    phase: str
    step: int  # optimizer steps completed
    total_steps: int
    epoch: float  # fractional epochs completed
    loss: float | None = None  # mean response-token loss of the last step
    learning_rate: float | None = None
    tokens_per_s: float | None = None  # all tokens (prompt and response) per second
    eta_s: float | None = None
    val_loss: float | None = None
    message: str = ""


@dataclass
class TrainResult:
    out_dir: Path
    adapter_dir: Path  # peft format (for transformers)
    adapter_gguf: Path  # for llama.cpp
    report_path: Path
    steps: int
    total_steps: int
    train_loss: float | None  # mean loss of the last epoch
    val_loss_before: float | None
    val_loss_after: float | None
    duration_s: float  # this call's wall time, loading included
    resumed_from: int  # step the run resumed from (0 for a fresh run)
    report: dict[str, Any] = field(repr=False, default_factory=dict)


ProgressFn = Callable[[TrainProgress], None]


# ---------------------------------------------------------------------------- schedule

class LinearWarmupDecay:
    """LR multiplier: linear warmup over `warmup` steps, then linear decay to zero.

    A class (not a lambda) so that LambdaLR's state_dict records it and a resumed run
    continues on the same curve. Never zero on a step that is taken.
    """

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup = warmup
        self.total = total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


def steps_per_epoch(n_train: int, config: TrainConfig) -> int:
    batches = math.ceil(n_train / config.batch_size)
    return math.ceil(batches / config.grad_accumulation)


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    order = list(range(n))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


def _step_batches(n: int, config: TrainConfig, step: int) -> list[list[int]]:
    """Example indices of each micro-batch of optimizer step `step` (0-based)."""
    spe = steps_per_epoch(n, config)
    epoch, k = divmod(step, spe)
    order = _epoch_order(n, config.seed, epoch)
    per_step = config.batch_size * config.grad_accumulation
    chunk = order[k * per_step:(k + 1) * per_step]
    return [chunk[i:i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]


# ---------------------------------------------------------------------------- checkpoints

def _fingerprint(config: TrainConfig, split: Split, base_sha: str) -> str:
    payload = json.dumps({"config": config.fingerprint_fields(), "base": base_sha,
                          "train": [e.key() for e in split.train],
                          "validation": [e.key() for e in split.validation]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _trainable(model: Any) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


COMPACT_MOMENTS = ("exp_avg", "exp_avg_sq")  # AdamW's state kept in bf16 by a compact checkpoint


def _compact_moments(optimizer_state: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's state with Adam's moments in bf16; `load_state_dict` casts them back to
    the parameters' fp32 when a run resumes."""
    import torch

    state = {key: {name: (value.to(torch.bfloat16) if name in COMPACT_MOMENTS
                          and value.is_floating_point() else value)
                   for name, value in per_param.items()}
             for key, per_param in optimizer_state["state"].items()}
    return {**optimizer_state, "state": state}


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    import torch

    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"The checkpoint {path} cannot be read ({err}); delete the folder "
                        f"{path.parent} and start the training again.") from err
    return state


# ---------------------------------------------------------------------------- the run

@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 calls a transformers method deprecated in 5.x; nothing for us to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning,
                                message=r".*is_gradient_checkpointing.*")
        yield


def _enable_checkpointing(model: Any) -> None:
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX): there, bf16
    autocast made training 3.5x faster (the reader: 2,639 vs 743 tokens/s on 2 cores);
    elsewhere bf16 is emulated and slower than fp32."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def default_threads() -> int:
    """Physical cores minus one, at least one.

    torch's CPU kernels split work over all cores and wait for the slowest thread, so any
    other busy process (the app's own llama.cpp, the GUI, a compile) stalls every operation:
    measured on a busy 2-core machine, 2 threads trained at 20 tokens/s and 1 thread at 89.
    Leaving a core free costs little when the machine is idle and avoids that collapse.
    """
    try:
        import psutil

        cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:  # pragma: no cover - psutil is a dependency
        cores = os.cpu_count() or 1
    return max(1, int(cores) - 1)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch CPU threads (None: leave the setting alone)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(data: Split | Sequence[Example], config: TrainConfig, base_gguf: Path, out_dir: Path,
          progress: ProgressFn | None = None, cancel: threading.Event | None = None, *,
          resume: bool = False, cache_root: Path | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train a LoRA adapter; write the peft adapter, the GGUF adapter and the report.

    `data` is a Split, or examples that are split here with config.seed and
    config.validation_fraction. `cancel` is checked between steps: the run then saves a
    checkpoint and raises Cancelled; `train(..., resume=True)` with the same data and config
    continues from the last checkpoint (after a cancel or a crash) to the same final step
    and, on the same machine, the same weights. Raises UserError for unusable data.
    `stop_after` ends the run after that many steps and writes the adapter as it is then
    (with `resume`, a cancelled run is finished where it stopped, without more steps):
    for a run that turns out longer than the time there is.
    """
    with torch_threads(config.threads or default_threads()):
        return _train(data, config, Path(base_gguf), Path(out_dir), progress, cancel,
                      resume, cache_root, stop_after)


def _train(data: Split | Sequence[Example], config: TrainConfig, base_gguf: Path,
           out_dir: Path, progress: ProgressFn | None, cancel: threading.Event | None,
           resume: bool, cache_root: Path | None, stop_after: int | None = None
           ) -> TrainResult:
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant.training import export
    from assistant.training.base_model import load_base_model, sha256_of

    call_start = time.perf_counter()
    split = data if isinstance(data, Split) else split_examples(
        list(data), seed=config.seed, validation_fraction=config.validation_fraction)
    if not split.train:
        raise UserError("There are no training examples.")
    device = resolve_device(config.device)
    spe = steps_per_epoch(len(split.train), config)
    total_steps = spe * config.epochs

    def emit(event: TrainProgress) -> None:
        if progress is not None:
            progress(event)

    def check_cancel(step: int) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Training stopped at step {step} of {total_steps}.")

    emit(TrainProgress("loading", 0, total_steps, 0.0, message="Loading the base model"))
    if not base_gguf.is_file():
        raise ModelError(f"The base model {base_gguf} does not exist.")
    base_sha = sha256_of(base_gguf)
    checkpoint_path = out_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
    fingerprint = _fingerprint(config, split, base_sha)
    state = _load_checkpoint(checkpoint_path) if resume else None
    if state is not None and state.get("fingerprint") != fingerprint:
        raise UserError(f"The unfinished training in {out_dir} used other examples or "
                        "settings; start a new training instead of resuming it.")
    model, tokenizer, base_info = load_base_model(base_gguf, cache_root=cache_root,
                                                  device=device, sha256=base_sha)
    check_cancel(0)
    tokenize = hf_tokenize(tokenizer)
    bos, eos = int(tokenizer.bos_token_id), int(tokenizer.eos_token_id)
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    train_enc = [encode_example(tokenize, bos, eos, e, config.max_length) for e in split.train]
    val_enc = [encode_example(tokenize, bos, eos, e, config.max_length)
               for e in split.validation]

    if not resume and checkpoint_path.parent.exists():
        shutil.rmtree(checkpoint_path.parent)

    torch.manual_seed(config.seed)
    for p in model.parameters():
        p.requires_grad_(False)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), bias="none",
                      task_type="CAUSAL_LM")
    with quiet_peft():
        model = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        _enable_checkpointing(model.get_base_model())
    params = _trainable(model)
    optimizer = torch.optim.AdamW(params.values(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    warmup = round(total_steps * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LinearWarmupDecay(warmup,
                                                                                total_steps))
    history: dict[str, Any] = {"steps": [], "epochs": [], "val_loss_before": None,
                               "train_seconds": 0.0, "tokens": 0, "started": _now(),
                               "truncated": sum(e.truncated for e in train_enc + val_enc)}
    step = 0
    if state is not None:
        with torch.no_grad():
            for name, tensor in state["lora"].items():
                params[name].copy_(tensor.to(device))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        if device == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"])
        history = json.loads(state["history"])
        step = int(state["step"])
        log.info("resuming training at step %d of %d", step, total_steps)
    resumed_from = step

    def checkpoint() -> None:
        emit(TrainProgress("saving", step, total_steps, step / spe,
                           message="Saving a checkpoint"))
        _save_checkpoint(checkpoint_path, {
            "fingerprint": fingerprint, "step": step,
            "lora": {n: p.detach().cpu().clone() for n, p in params.items()},
            "optimizer": (_compact_moments(optimizer.state_dict()) if config.compact_checkpoint
                          else optimizer.state_dict()),
            "scheduler": scheduler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state() if device == "cuda" else None,
            "history": json.dumps(history),
        })

    if step == 0 and history["val_loss_before"] is None and val_enc:
        emit(TrainProgress("validating", 0, total_steps, 0.0, message="Validation loss before"))
        history["val_loss_before"] = evaluate_loss(model, val_enc, batch_size=config.batch_size,
                                                   pad_id=pad_id, device=device)
    autocast = device == "cpu" and (cpu_computes_bf16() if config.bf16 is None else config.bf16)
    step_time_ema: float | None = None
    last_saved = step
    last_saved_at = time.monotonic()
    last_step = total_steps if stop_after is None else max(0, min(total_steps, stop_after))
    try:
        while step < last_step:
            check_cancel(step)
            model.train()
            t0 = time.perf_counter()
            micro = [[train_enc[i] for i in idx] for idx in
                     _step_batches(len(train_enc), config, step)]
            n_targets = sum(sum(1 for x in e.labels[1:] if x != IGNORE_INDEX)
                            for b in micro for e in b)
            n_tokens = sum(len(e.input_ids) for b in micro for e in b)
            loss_total = 0.0
            for batch in micro:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    loss, _ = response_loss(model, collate(batch, pad_id, device))
                torch.autograd.backward(loss / max(1, n_targets))
                loss_total += float(loss.item())
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(list(params.values()), config.max_grad_norm)
            lr = float(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            elapsed = time.perf_counter() - t0
            step_time_ema = elapsed if step_time_ema is None else (
                0.7 * step_time_ema + 0.3 * elapsed)
            step_loss = loss_total / max(1, n_targets)
            history["steps"].append({"step": step, "epoch": (step - 1) // spe + 1,
                                     "loss": step_loss, "lr": lr, "tokens": n_tokens,
                                     "seconds": elapsed})
            history["train_seconds"] += elapsed
            history["tokens"] += n_tokens
            epoch_done = step % spe == 0
            val_loss = None
            if epoch_done:
                epoch = step // spe
                losses = [s["loss"] for s in history["steps"] if s["epoch"] == epoch]
                if val_enc:
                    emit(TrainProgress("validating", step, total_steps, float(epoch)))
                    val_loss = evaluate_loss(model, val_enc, batch_size=config.batch_size,
                                             pad_id=pad_id, device=device)
                history["epochs"].append({"epoch": epoch, "train_loss":
                                          sum(losses) / len(losses), "val_loss": val_loss})
            emit(TrainProgress("training", step, total_steps, step / spe, loss=step_loss,
                               learning_rate=lr, tokens_per_s=n_tokens / elapsed,
                               eta_s=step_time_ema * (total_steps - step), val_loss=val_loss))
            due = (step - last_saved >= config.checkpoint_every
                   or time.monotonic() - last_saved_at >= config.checkpoint_minutes * 60)
            if step < total_steps and due:
                checkpoint()
                last_saved, last_saved_at = step, time.monotonic()
    except Cancelled:
        if step > last_saved or not checkpoint_path.is_file():
            checkpoint()
        raise
    except RuntimeError as err:
        if "memory" not in str(err).lower():
            raise
        raise UserError("Training ran out of memory. Lower the batch size (and raise gradient "
                        "accumulation to keep the effective batch) or the maximum length, or "
                        "turn on gradient checkpointing; then resume.") from err
    # On a crash mid-run the last periodic checkpoint stays for resume=True.
    if step < total_steps:  # stopped early on purpose: record where (no extra validation
        # pass, which would cost as much as several steps; `assistant eval` measures it)
        losses = [s["loss"] for s in history["steps"]]
        tail = losses[-spe:]
        history["epochs"].append({"epoch": round(step / spe, 3),
                                  "train_loss": sum(tail) / len(tail) if tail else None,
                                  "val_loss": None, "stopped_at_step": step})

    emit(TrainProgress("saving", step, total_steps, float(config.epochs),
                       message="Writing the adapter"))
    adapter_dir = out_dir / ADAPTER_DIR
    model.save_pretrained(str(adapter_dir))
    gguf_path = out_dir / ADAPTER_GGUF
    export.export_peft_adapter(adapter_dir, gguf_path, architecture=base_info.architecture,
                               n_layers=base_info.n_layers, name=out_dir.name)
    report = _report(config, split, base_info, history, device, total_steps, resumed_from,
                     call_start)
    report_path = out_dir / REPORT_FILE
    export.write_training_report(report_path, report)
    shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
    last_epoch = history["epochs"][-1] if history["epochs"] else {}
    result = TrainResult(
        out_dir=out_dir, adapter_dir=adapter_dir, adapter_gguf=gguf_path,
        report_path=report_path, steps=step, total_steps=total_steps,
        train_loss=last_epoch.get("train_loss"), val_loss_before=history["val_loss_before"],
        val_loss_after=last_epoch.get("val_loss"), duration_s=time.perf_counter() - call_start,
        resumed_from=resumed_from, report=report)
    emit(TrainProgress("done", step, total_steps, float(config.epochs),
                       loss=result.train_loss, val_loss=result.val_loss_after,
                       message="Training finished"))
    return result


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _report(config: TrainConfig, split: Split, base: BaseModelInfo, history: dict[str, Any],
            device: str, total_steps: int, resumed_from: int, call_start: float,
            ) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    seconds = float(history["train_seconds"])
    epochs = history["epochs"]
    return {
        "format": 1,
        "started": history["started"],
        "finished": _now(),
        "train_seconds": seconds,
        "this_call_seconds": time.perf_counter() - call_start,
        "resumed_from_step": resumed_from,
        "base_model": {**base.to_json(), "load_seconds": base.load_s,
                       "loaded_from_cache": base.from_cache},
        "settings": config.to_json(),
        "device": device,
        "data": {"train": len(split.train), "validation": len(split.validation),
                 "split": split.to_json()},
        "steps": total_steps,
        "truncated_examples": history.get("truncated", 0),
        "tokens": history["tokens"],
        "tokens_per_s": history["tokens"] / seconds if seconds else None,
        "loss_per_step": history["steps"],
        "loss_per_epoch": epochs,
        "val_loss_before": history["val_loss_before"],
        "val_loss_after": epochs[-1]["val_loss"] if epochs else None,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
    }
