"""The shipped grounded-answer adapter: where it is, and which model gets it.

The embedded Gemma 3 270M is a base model; the adapter trained on RAFT-style examples (see
`assistant.training.squad`) teaches it to answer in a few words with the `[n]` of its source,
or to write the refusal sentence when no passage holds the answer. It applies by default,
only to a model it fits (checked against the model's GGUF header), and the user's own
adapter replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant import paths
from assistant.errors import ModelError
from assistant.llm.adapters import check_adapter_file
from assistant.llm.gguf_check import GGUFInfo

ADAPTER_NAME = "grounded-gemma3-270m.gguf"


def builtin_adapter_path() -> Path | None:
    """The shipped adapter file, or None where this build has none."""
    path = paths.resources_dir() / "adapters" / ADAPTER_NAME
    return path if path.is_file() else None


def fits(adapter: Path, model: GGUFInfo) -> bool:
    """Whether the adapter was made for this model (architecture and tensor shapes)."""
    try:
        check_adapter_file(adapter, model)
    except ModelError:
        return False
    return True


def choose_adapter(settings: Any, model: GGUFInfo, *, override: str | None = None
                   ) -> tuple[Path | None, str]:
    """(adapter to apply or None, why): the user's own first, else the shipped one if it fits.

    `override` is a command line's --lora ("" turns every adapter off).
    """
    own = override if override is not None else str(settings["lora_path"] or "")
    if override is not None and not override.strip():
        return None, "off"
    if own.strip():
        return Path(own).expanduser(), "yours"
    if not settings["grounded_adapter"]:
        return None, "off"
    builtin = builtin_adapter_path()
    if builtin is None:
        return None, "missing"
    if not fits(builtin, model):
        return None, "does not fit this model"
    return builtin, "grounded"
