"""The adapter library read without Qt (assistant.training.adapters): the Teach page lists
what this returns, so a broken report must not hide the adapter, and names must not clash."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.training.adapters import list_adapters, new_adapter_name


def _adapter(root: Path, name: str, report: str | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter.gguf").write_bytes(b"GGUF")
    if report is not None:
        (folder / "training_report.json").write_text(report, encoding="utf-8")
    return folder


def test_adapters_are_listed_newest_first_with_their_report_figures(tmp_path: Path) -> None:
    _adapter(tmp_path, "older", json.dumps({
        "finished": "2026-12-01T10:00:00", "data": {"train": 90, "validation": 10},
        "loss_per_epoch": [{"train_loss": 1.5}, {"train_loss": 0.75}], "val_loss_after": 0.9}))
    _adapter(tmp_path, "newer", json.dumps({"finished": "2026-12-05T08:30:00"}))
    _adapter(tmp_path, "broken", "{not json")
    (tmp_path / "no-gguf").mkdir()
    (tmp_path / "stray.txt").write_text("x", encoding="utf-8")

    listed = list_adapters(tmp_path)

    names = [a.name for a in listed]
    assert set(names) == {"older", "newer", "broken"}
    assert names.index("newer") < names.index("older")
    older = next(a for a in listed if a.name == "older")
    assert (older.date, older.examples, older.final_loss, older.val_loss) == (
        "2026-12-01 10:00", 100, 0.75, 0.9)
    broken = next(a for a in listed if a.name == "broken")
    assert broken.examples is None and broken.final_loss is None and broken.date  # file time
    assert list_adapters(tmp_path / "missing") == []


def test_new_names_are_safe_for_a_folder_and_never_reuse_one(tmp_path: Path) -> None:
    _adapter(tmp_path, "my-notes", None)
    assert new_adapter_name(tmp_path, "my notes") == "my-notes-2"
    assert new_adapter_name(tmp_path, "a/b:c") == "a-b-c"
    assert new_adapter_name(tmp_path, "   ") == "adapter"
