"""Writing a trained adapter for llama.cpp (GGUF LoRA) and the training report.

The GGUF follows llama.cpp's `convert_lora_to_gguf.py`:

* metadata `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`, and the
  base model's `general.architecture`; llama.cpp scales the product by alpha / rank like peft;
* for each adapted linear layer, two tensors named after the base tensor from gguf's name map
  (`model.layers.3.self_attn.q_proj` -> `blk.3.attn_q`) plus `.weight.lora_a` / `.weight.lora_b`:
  lora_a is peft's `lora_A.weight` as is, numpy shape [rank, in] (ggml ne [in, rank]), and
  lora_b is `lora_B.weight`, numpy [out, rank] (ggml ne [rank, out]); llama.cpp checks
  `w.ne[0] == a.ne[0]`, `w.ne[1] == b.ne[1]` and `a.ne[1] == b.ne[0]`.

Gemma 3 needs no reordering: the HF -> GGUF conversion of gemma3 does not permute q/k rows
(unlike llama; transformers' own GGUF reader only undoes the norm "+1" for gemma2/3, and LoRA
never touches norms). The parity check (`parity.py`) confirms this numerically.

Weights are written as F32: a rank-8 adapter on all projections of the 270M model is ~7.6 MB.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.errors import ModelError

_PEFT_PREFIX = "base_model.model."


def gguf_arch(architecture: str) -> Any:
    import gguf

    for arch, name in gguf.MODEL_ARCH_NAMES.items():
        if name == architecture:
            return arch
    raise ModelError(f"The gguf package does not know the architecture '{architecture}'.")


def lora_tensor_names(module_names: list[str], architecture: str,
                      n_layers: int) -> dict[str, str]:
    """HF module name ("model.layers.0.self_attn.q_proj") -> GGUF base tensor ("blk.0.attn_q")."""
    import gguf

    name_map = gguf.get_tensor_name_map(gguf_arch(architecture), n_layers)
    out: dict[str, str] = {}
    for module in module_names:
        mapped = name_map.get_name(module)
        if mapped is None:
            raise ModelError(f"No llama.cpp tensor corresponds to '{module}' in a "
                             f"{architecture} model; train only the attention and MLP "
                             "projections.")
        out[module] = mapped
    return out


def _pairs(state: Mapping[str, Any]) -> dict[str, dict[str, npt.NDArray[np.float32]]]:
    """Group peft's tensors into {module: {"A": ..., "B": ...}} as float32 numpy arrays."""
    pairs: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    for key, value in state.items():
        name = key.removeprefix(_PEFT_PREFIX)
        for part, tag in ((".lora_A.weight", "A"), (".lora_B.weight", "B")):
            if name.endswith(part):
                module = name[: -len(part)].removesuffix(".default")
                array = value.detach().cpu().float().numpy() if hasattr(value, "detach") \
                    else np.asarray(value, dtype=np.float32)
                pairs.setdefault(module, {})[tag] = np.ascontiguousarray(array,
                                                                         dtype=np.float32)
                break
        else:
            raise ModelError(f"The adapter holds '{key}', which is not a LoRA A/B weight; only "
                             "plain LoRA adapters (no extra trained modules) can be exported.")
    for module, pair in pairs.items():
        if set(pair) != {"A", "B"}:
            raise ModelError(f"The adapter is incomplete: '{module}' lacks a LoRA half.")
    return pairs


def write_lora_gguf(state: Mapping[str, Any], out_path: str | Path, *, alpha: float,
                    architecture: str = "gemma3", n_layers: int, name: str = "") -> Path:
    """Write LoRA A/B tensors (peft names) as a llama.cpp GGUF adapter; returns the path.

    The file is written under a temporary name and renamed, so a reader never sees half of it.
    """
    import gguf

    out_path = Path(out_path)
    pairs = _pairs(state)
    if not pairs:
        raise ModelError("The adapter has no LoRA weights to export.")
    names = lora_tensor_names(sorted(pairs), architecture, n_layers)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        _write_gguf(gguf, tmp, pairs, names, alpha=alpha, architecture=architecture, name=name)
        os.replace(tmp, out_path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ModelError(_write_failure("The adapter", out_path, err)) from err
    return out_path


def _write_failure(what: str, path: Path, err: OSError) -> str:
    """A write that failed, in a sentence: a full disk is named as such."""
    if err.errno == errno.ENOSPC:
        return (f"The disk holding {path.parent} is full, so {what.lower()} could not be "
                "written. Free some space there and try again.")
    return f"{what} could not be written to {path.parent}: {err.strerror or err}."


def _write_gguf(gguf: Any, tmp: Path, pairs: dict[str, dict[str, npt.NDArray[np.float32]]],
                names: dict[str, str], *, alpha: float, architecture: str, name: str) -> None:
    writer = gguf.GGUFWriter(str(tmp), architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        if name:
            writer.add_name(name)
        for module in sorted(pairs, key=_layer_order):
            a, b = pairs[module]["A"], pairs[module]["B"]
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise ModelError(f"'{module}' has LoRA shapes {a.shape} and {b.shape}.")
            base = names[module]
            writer.add_tensor(f"{base}.weight.lora_a", a)  # [rank, in]
            writer.add_tensor(f"{base}.weight.lora_b", b)  # [out, rank]
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _layer_order(module: str) -> tuple[int, str]:
    parts = module.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "layers" and parts[i + 1].isdigit():
            return int(parts[i + 1]), module
    return -1, module


def export_peft_adapter(adapter_dir: str | Path, out_path: str | Path, *,
                        architecture: str = "gemma3", n_layers: int, name: str = "") -> Path:
    """Convert a peft LoRA adapter folder (adapter_config.json + safetensors) to GGUF."""
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    except (OSError, ValueError) as err:
        raise ModelError(f"The adapter in {adapter_dir} cannot be read: {err}.") from err
    if config.get("peft_type", "LORA") != "LORA":
        raise ModelError(f"The adapter in {adapter_dir} is {config.get('peft_type')}, not LoRA.")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ModelError("Adapters with per-layer ranks or alphas cannot be exported to GGUF.")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha = alpha * math.sqrt(rank)  # llama.cpp scales by alpha/rank; rsLoRA by alpha/sqrt(r)
    float_state = {k: v.astype(np.float32) for k, v in state.items()}
    return write_lora_gguf(float_state, out_path, alpha=alpha, architecture=architecture,
                           n_layers=n_layers, name=name)


def write_training_report(path: str | Path, report: Mapping[str, Any]) -> Path:
    """Write the training report JSON (atomically) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ModelError(_write_failure("The training report", path, err)) from err
    return path
