"""LoRA adapters: checked in pure Python, then applied to the live llama.cpp context.

llama.cpp keeps the base weights untouched and adds the low-rank product at compute time, so an
adapter can be attached, re-scaled, swapped or removed on a loaded model in milliseconds,
without reloading the 250 MB base. Two things make that safe:

* the file is validated first (GGUF header, `general.type == "adapter"`, `adapter.type ==
  "lora"`, the same architecture as the model, and every A/B pair shaped for the tensor it
  modifies), so a wrong file is a sentence rather than a null pointer from C;
* after every change all cached prompt state (KV cache, reusable prefix) is dropped, because it
  was computed with the previous weights and would otherwise silently be reused.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assistant.errors import ModelError
from assistant.llm.gguf_check import GGUFInfo, read_gguf_info

log = logging.getLogger(__name__)

MAX_SCALE = 4.0


class AdapterHost(Protocol):
    """What an adapter is applied to: a loaded llama.cpp model and context.

    `assistant.llm.generator.Generator` is one. A protocol, not an import, so the generator
    can use this module without the two importing each other.
    """

    _adapter: Any
    info: GGUFInfo

    @property
    def _lib(self) -> Any: ...

    @property
    def llama(self) -> Any: ...

    def forget_state(self) -> None: ...


@dataclass
class LoadedAdapter:
    """An adapter loaded into llama.cpp (`handle` is its llama_adapter_lora pointer)."""

    path: Path
    info: GGUFInfo
    handle: Any
    scale: float
    identity: tuple[int, int]  # (size, mtime_ns) when loaded: a rewritten file is reloaded


def check_adapter_file(path: str | Path, base: GGUFInfo) -> GGUFInfo:
    """Validate a GGUF LoRA adapter against the model it is meant for; raise ModelError."""
    info = read_gguf_info(path)
    label = f"'{info.path.name}'"
    if not info.is_adapter:
        raise ModelError(f"{label} is not a LoRA adapter (it is a {info.file_type} file); "
                         "choose it as the model instead, or pick an adapter file.")
    if info.adapter_type != "lora":
        raise ModelError(f"{label} is a '{info.adapter_type or 'unknown'}' adapter; only LoRA "
                         "adapters are supported.")
    if info.architecture != base.architecture:
        raise ModelError(
            f"{label} was made for a '{info.architecture or 'unknown'}' model, but the loaded "
            f"model ({base.name}) is '{base.architecture}'.")
    base_shapes = base.tensor_shapes()
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for tensor in info.tensors:
        stem, _, kind = tensor.name.rpartition(".")
        if kind not in ("lora_a", "lora_b"):
            continue
        pairs.setdefault(stem, {})[kind] = tensor.shape
    if not pairs:
        raise ModelError(f"{label} contains no LoRA weights.")
    for stem, pair in pairs.items():
        if "lora_a" not in pair or "lora_b" not in pair:
            raise ModelError(f"{label} is damaged: '{stem}' lacks its "
                             f"{'lora_b' if 'lora_a' in pair else 'lora_a'} half.")
        if stem not in base_shapes:
            raise ModelError(f"{label} changes '{stem}', which the model ({base.name}) does not "
                             "have; it was made for a different model.")
        a, b, w = pair["lora_a"], pair["lora_b"], base_shapes[stem]
        if len(a) != 2 or len(b) != 2 or len(w) < 2:
            raise ModelError(f"{label} is damaged: '{stem}' has shapes {a} and {b}.")
        if stem == "token_embd.weight":  # llama.cpp expects A and B flipped for embeddings
            fits = w[0] == b[1] and w[1] == a[1] and a[0] == b[0]
        else:
            fits = w[0] == a[0] and w[1] == b[1] and a[1] == b[0]
        if not fits:
            raise ModelError(
                f"{label} does not fit this model: '{stem}' is {w} but the adapter's A/B are "
                f"{a} and {b}; it was made for a different model size.")
    return info


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _set_on_context(generator: AdapterHost, adapter: LoadedAdapter | None) -> None:
    lib: Any = generator._lib
    ctx = generator.llama.ctx
    if adapter is None:
        result = lib.llama_set_adapters_lora(ctx, None, 0, None)
    else:
        handles = (lib.llama_adapter_lora_p_ctypes * 1)(adapter.handle)
        scales = (ctypes.c_float * 1)(adapter.scale)
        result = lib.llama_set_adapters_lora(ctx, handles, 1, scales)
    if result != 0:
        raise ModelError("llama.cpp refused to apply the LoRA adapter "
                         f"(error {result}).")


def _free(generator: AdapterHost, adapter: LoadedAdapter) -> None:
    # The model frees its adapters when it is freed itself: only free while it is alive.
    model = getattr(getattr(generator.llama, "_model", None), "model", None)
    if model is not None and adapter.handle:
        generator._lib.llama_adapter_lora_free(adapter.handle)
    adapter.handle = None


def apply_adapter(generator: AdapterHost, path: str | Path | None, scale: float) -> None:
    """Attach `path` at `scale` (None or 0 detaches), dropping state computed without it.

    On failure the previous adapter stays applied, so the generator is left as it was.
    """
    if not 0.0 <= scale <= MAX_SCALE:
        raise ModelError(f"The adapter strength must be between 0 and {MAX_SCALE:g}.")
    current: LoadedAdapter | None = generator._adapter
    if path is None or not str(path).strip() or scale == 0.0:
        if current is None:
            return
        _set_on_context(generator, None)
        generator._adapter = None
        _free(generator, current)
        generator.forget_state()
        log.info("LoRA adapter removed")
        return

    resolved = Path(path).expanduser().resolve()
    if current is not None and current.path == resolved and current.handle:
        try:
            same_file = _identity(resolved) == current.identity
        except OSError:
            same_file = False
        if same_file:
            if current.scale != scale:
                previous = current.scale
                current.scale = scale
                try:
                    _set_on_context(generator, current)
                except ModelError:
                    current.scale = previous
                    raise
                generator.forget_state()
            return

    info = check_adapter_file(resolved, generator.info)
    identity = _identity(resolved)
    lib: Any = generator._lib
    handle = lib.llama_adapter_lora_init(generator.llama.model, str(resolved).encode("utf-8"))
    if not handle:
        raise ModelError(f"llama.cpp could not load the adapter '{resolved.name}'; it may be "
                         "damaged or made for another model (see the log for details).")
    loaded = LoadedAdapter(resolved, info, handle, scale, identity)
    try:
        _set_on_context(generator, loaded)
    except ModelError:
        _free(generator, loaded)
        if current is not None:
            _set_on_context(generator, current)
        raise
    generator._adapter = loaded
    if current is not None:
        _free(generator, current)
    generator.forget_state()
    log.info("LoRA adapter %s applied at scale %.2f", resolved.name, scale)


def release_adapter(generator: AdapterHost) -> None:
    """Detach and free the adapter (used when the generator closes)."""
    current: LoadedAdapter | None = generator._adapter
    if current is None:
        return
    generator._adapter = None
    try:
        _set_on_context(generator, None)
    finally:
        _free(generator, current)
