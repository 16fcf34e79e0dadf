"""The user's adapter library: one folder per trained adapter under `paths.adapters_dir()`,
holding the adapter's GGUF and its training report. Qt-free, so that the Teach page, the
settings and any other front end read the same list the same way; and light (no training
code), because the Teach page imports it when the window opens."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import UserError

ADAPTER_GGUF = "adapter.gguf"  # what `train` writes in an adapter's folder
REPORT_FILE = "training_report.json"


@dataclass
class AdapterInfo:
    name: str
    path: Path  # the adapter's GGUF
    date: str
    examples: int | None
    final_loss: float | None
    val_loss: float | None


def list_adapters(root: Path) -> list[AdapterInfo]:
    """Adapters under `root`: one folder each, holding adapter.gguf and its report."""
    out: list[AdapterInfo] = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        gguf = folder / ADAPTER_GGUF
        if not folder.is_dir() or not gguf.is_file():
            continue
        report: dict[str, Any] = {}
        try:
            report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        data = report.get("data") or {}
        examples = None
        if isinstance(data, dict) and "train" in data:
            examples = int(data.get("train", 0)) + int(data.get("validation", 0))
        epochs = report.get("loss_per_epoch") or []
        final = epochs[-1].get("train_loss") if epochs else None
        when = str(report.get("finished") or "")[:16].replace("T", " ") or time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(gguf.stat().st_mtime))
        out.append(AdapterInfo(folder.name, gguf, when, examples, final,
                               report.get("val_loss_after")))
    out.sort(key=lambda a: a.date, reverse=True)
    return out


def new_adapter_name(root: Path, wanted: str) -> str:
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in wanted.strip()) or "adapter"
    name, n = base, 2
    while (root / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def base_model_path(setting: str, injected: Path | None) -> Path:
    """The GGUF the app answers with (runs on a worker: the default may be assembled)."""
    if setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise UserError(f"The model file '{setting}' does not exist; choose another one "
                            "in the settings before training.")
        return path
    if injected is not None:
        return Path(injected)
    from assistant.llm.models import ensure_default_model

    return ensure_default_model()
