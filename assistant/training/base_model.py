"""The base model for training: the app's GGUF, dequantised by transformers, cached once.

transformers reads a GGUF through the `gguf` package's pure-Python reader, which parses all
262,144 vocabulary strings (once for the tokenizer and once for the model) and dequantises
every tensor: about 50-70 s on two cores. The result is the same every time, so the first load
writes it as a float32 safetensors copy (1.1 GB; float32 because the dequantised Q4_K/Q5_0/
Q6_K/Q8_0 values are not all representable in bf16/fp16, and parity with llama.cpp needs the
exact weights) plus the converted tokenizer; later loads take about 3 s (the tokenizer) and
memory-map the weights.

The cache is keyed by the GGUF's sha256, written under a temporary name and renamed when
complete, so a crash or a changed model never yields a wrong cache.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.errors import ModelError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_COMPLETE = "complete.json"


@dataclass(frozen=True)
class BaseModelInfo:
    """Identity of the base model a run trains on."""

    path: Path
    name: str
    architecture: str
    sha256: str
    size: int
    n_layers: int
    load_s: float
    from_cache: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "architecture": self.architecture,
                "sha256": self.sha256, "size": self.size, "n_layers": self.n_layers}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_root() -> Path:
    return paths.models_dir() / "training-cache"


def _no_bar(iterable: Any, *_: Any, **__: Any) -> Any:
    return iterable


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars or info logs on stderr while transformers loads or converts.

    The GGUF converter calls tqdm directly (not through transformers' switch), and a GUI
    started without a console has no stderr to write it to: it is swapped for a no-op.
    """
    from transformers import modeling_gguf_pytorch_utils as _gguf_utils
    from transformers.utils import logging as _hf_logging

    hf_logging: Any = _hf_logging
    gguf_utils: Any = _gguf_utils
    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    saved_tqdm = getattr(gguf_utils, "tqdm", None)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if saved_tqdm is not None:
        gguf_utils.tqdm = _no_bar
    try:
        yield
    finally:
        if saved_tqdm is not None:
            gguf_utils.tqdm = saved_tqdm
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _read_identity(base_gguf: Path) -> tuple[str, str]:
    try:
        from assistant.llm.gguf_check import read_gguf_info

        info = read_gguf_info(base_gguf)
    except ModelError:
        raise
    except Exception as err:
        log.warning("could not read the GGUF header of %s: %s", base_gguf, err)
        return base_gguf.stem, "gemma3"
    if info.is_adapter:
        raise ModelError(f"'{base_gguf.name}' is a LoRA adapter, not a base model; train on "
                         "the model the adapter is meant for.")
    return info.name or base_gguf.stem, info.architecture


def _build_cache(base_gguf: Path, target: Path, sha256: str) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(base_gguf.parent),
                                                      gguf_file=base_gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(base_gguf.parent),
                                                         gguf_file=base_gguf.name,
                                                         dtype=torch.float32)
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(str(tmp))
        tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
                 if k not in tied}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(str(tmp))
        (tmp / _COMPLETE).write_text(json.dumps({"sha256": sha256, "format": CACHE_FORMAT,
                                                 "source": base_gguf.name}), encoding="utf-8")
        del model, state
        gc.collect()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cache_ok(target: Path, sha256: str) -> bool:
    try:
        marker = json.loads((target / _COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("sha256") == sha256
            and marker.get("format") == CACHE_FORMAT)


def load_base_model(base_gguf: str | Path, *, cache_root: Path | None = None,
                    device: str = "cpu", sha256: str | None = None,
                    ) -> tuple[Any, Any, BaseModelInfo]:
    """(model, tokenizer, info): the GGUF's weights as a float32 transformers model.

    The first call for a given GGUF converts it (about a minute) and caches the result under
    `cache_root` (default: the app's models folder); later calls take seconds. `sha256`
    skips hashing the GGUF when the caller has just done it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_gguf = Path(base_gguf)
    if not base_gguf.is_file():
        raise ModelError(f"The base model {base_gguf} does not exist.")
    start = time.perf_counter()
    name, architecture = _read_identity(base_gguf)
    sha256 = sha256 or sha256_of(base_gguf)
    root = cache_root if cache_root is not None else default_cache_root()
    target = root / f"{base_gguf.stem}-{sha256[:16]}"
    from_cache = _cache_ok(target, sha256)
    if not from_cache:
        log.info("converting %s for training (first time only)", base_gguf.name)
        try:
            _build_cache(base_gguf, target, sha256)
        except OSError as err:
            raise ModelError(f"Could not prepare {base_gguf.name} for training: "
                             f"{err.strerror or err}.") from err
        except (ValueError, KeyError) as err:
            raise ModelError(f"transformers cannot read {base_gguf.name} for training "
                             f"({err}).") from err
    with _quiet_transformers():
        tokenizer: Any = AutoTokenizer.from_pretrained(str(target))
        model: Any = AutoModelForCausalLM.from_pretrained(str(target), dtype=torch.float32)
    model.to(device)
    info = BaseModelInfo(path=base_gguf, name=name, architecture=architecture, sha256=sha256,
                         size=base_gguf.stat().st_size,
                         n_layers=int(model.config.num_hidden_layers),
                         load_s=time.perf_counter() - start, from_cache=from_cache)
    return model, tokenizer, info
