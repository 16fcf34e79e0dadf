"""The Teach page: checks and split of loaded examples, one real (tiny) training run through
the panel with cancel and resume, a quick evaluation, and "Use this adapter" reaching the
model worker.

The training run is kept small for a shared 2-core machine: 6 examples (5 train, 1 held
out), rank 4, max_length 96, batch 1, one epoch = 5 optimizer steps, one torch thread, and the
dequantised base model cached next to the test GGUF (shared with tests/unit/test_training.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ITEMS = [("lamp", 3), ("chair", 11), ("kettle", 4), ("ladder", 9), ("drill", 2), ("tent", 14)]


def _rows() -> list[dict[str, Any]]:
    return [{"prompt": f"Where is the {name} kept?",
             "response": f"ZORBLAX: the {name} is kept on shelf {shelf}.",
             "sources": [f"Inventory note: the {name} sits on shelf {shelf}."]}
            for name, shelf in ITEMS]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _load(qtbot: Any, page: Any, path: Path) -> None:
    with qtbot.waitSignal(page.data_loaded, timeout=20_000):
        page.load_file(path)


def _checks(page: Any) -> list[str]:
    return [page.checks.item(i).text() for i in range(page.checks.count())]


def _split_rows(page: Any) -> list[tuple[str, str, str]]:
    t = page.split_table
    return [(t.item(r, 0).text(), t.item(r, 1).text(), t.item(r, 2).text())
            for r in range(t.rowCount())]


def test_teach_page_is_reachable(make_window: Any) -> None:
    window = make_window(check_watched=False)
    window.teach_action.trigger()
    assert window.pages.currentWidget() is window.teach.page
    assert window.teach_action.isChecked() and not window.chat_action.isChecked()
    assert window.teach_action in window.toolbar.actions()
    assert not window.teach.page.train_button.isEnabled()  # nothing loaded yet


def test_loading_shows_checks_pii_and_split(make_window: Any, qtbot: Any,
                                           tmp_path: Path) -> None:
    window = make_window(check_watched=False)
    page = window.teach.page
    window.show_page("teach")
    rows = _rows()
    rows[1]["response"] += " Ask anna.smith@example.com for the key."
    lines = [json.dumps(r) for r in rows]
    lines.insert(2, '{"prompt": "broken", "response": ')  # line 3: not JSON
    lines.append(json.dumps(rows[0]))  # line 8: a duplicate of line 1
    lines.append(json.dumps({"prompt": "No answer here", "response": "  "}))  # line 9: empty
    path = _write(tmp_path / "examples.jsonl", lines)
    _load(qtbot, page, path)

    checks = _checks(page)
    assert any("line 3" in c for c in checks), checks
    assert any("line 8" in c and "same example as line 1" in c for c in checks), checks
    assert any("line 9" in c and "empty" in c for c in checks), checks
    assert "6 examples" in page.data_summary.text()
    assert "e-mail" in page.pii_label.text().lower() or "email" in page.pii_label.text().lower()

    split = _split_rows(page)
    assert len(split) == 6
    assert sorted(s for *_, s in split).count("validation") == 1
    assert any(p.startswith("Where is the lamp") for p, _, _ in split)
    assert not any("anna.smith@example.com" in page.split_table.item(r, 1).toolTip()
                   for r in range(6))
    assert page.train_button.isEnabled()
    assert page.name_edit.text() == "examples"

    # without scrubbing, the address stays and the summary says so
    with qtbot.waitSignal(page.data_loaded, timeout=20_000):
        page.pii_box.setChecked(False)
    assert "kept" in page.pii_label.text()
    assert any("anna.smith@example.com" in page.split_table.item(r, 1).toolTip()
               for r in range(6))


def test_unusable_data_is_a_sentence(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    window = make_window(check_watched=False)
    page = window.teach.page
    path = _write(tmp_path / "bad.jsonl", ["not json", '{"prompt": 1}'])
    _load(qtbot, page, path)
    assert page.errors and "no usable example" in page.errors[-1]
    assert "Traceback" not in page.status.text()
    assert not page.train_button.isEnabled()
    with qtbot.waitSignal(page.data_loaded, timeout=20_000):
        page.load_conversations()
    assert "marked good or corrected" in page.errors[-1]
    assert window.context.failures == []  # shown on the page, not as a dialog


@pytest.mark.slow
def test_train_cancel_resume_and_use(make_window: Any, qtbot: Any, tmp_path: Path,
                                     default_gguf: Path) -> None:
    from assistant import paths

    window = make_window(check_watched=False)
    page = window.teach.page
    page.cache_root = default_gguf.parent / "training-cache"
    page.threads = 1
    window.show_page("teach")
    _load(qtbot, page, _write(tmp_path / "style.jsonl", [json.dumps(r) for r in _rows()]))
    page.name_edit.setText("house style")
    page.epochs.setValue(1)
    page.rank.setValue(4)
    page.lr.setValue(0.003)
    page.advanced_button.setChecked(True)
    page.alpha.setValue(8)
    page.max_length.setValue(96)
    page.batch.setValue(1)  # 5 steps: the cancel (queued to the GUI and back) lands mid-run
    assert page.advanced.isVisible()

    # cancel after the first step, then resume to the end
    def cancel_at_first_step(event: Any) -> None:
        if event.phase == "training" and event.step == 1:
            page.cancel()

    qtbot.mouseClick(page.train_button, qtbot_left())
    assert page.training and page.cancel_button.isEnabled()
    assert not page.train_button.isEnabled()
    page.job.on_progress = _chain(page.job.on_progress, cancel_at_first_step)
    with qtbot.waitSignal(page.training_finished, timeout=240_000) as stopped:
        pass
    assert stopped.args == [None]
    assert "Resume" in page.status.text()
    assert page.resume_button.isEnabled()
    assert page.curve.points and page.curve.points[0][0] == 1
    stopped_at = page.curve.points[-1][0]
    assert 1 <= stopped_at < 5
    assert window.backend.model.pending() == []  # training never queues on the model worker

    with qtbot.waitSignal(page.training_finished, timeout=240_000) as finished:
        qtbot.mouseClick(page.resume_button, qtbot_left())
    result = finished.args[0]
    assert result is not None, page.errors
    assert result.resumed_from == stopped_at and result.steps == result.total_steps == 5
    adapter = paths.adapters_dir() / "house-style" / "adapter.gguf"
    assert result.adapter_gguf == adapter and adapter.is_file()
    assert (adapter.parent / "training_report.json").is_file()
    assert "house-style" in page.report_view.toPlainText()
    assert "Validation loss" in page.report_view.toPlainText()
    assert [s for s, _ in page.curve.points] == [1, 2, 3, 4, 5]
    assert page.adapters.rowCount() == 1 and page.adapters.item(0, 0).text() == "house-style"
    assert page.adapters.item(0, 2).text() == "6"
    assert page.use_button.isEnabled() and page.evaluate_button.isEnabled()
    assert not page.resume_button.isEnabled()
    assert not page.curve.grab().isNull()

    # the evaluation on the held-out example (log-probabilities only, to stay quick)
    with qtbot.waitSignal(page.evaluation_finished, timeout=240_000) as evaluated:
        assert page.evaluate(generate=False, n_threads=1) is not None
    assert evaluated.args[0] is not None, page.errors
    assert (adapter.parent / "evaluation.md").is_file()
    text = page.report_view.toPlainText()
    assert "house-style" in text and "Adapter evaluation" in text and "adapter" in text

    # one click: settings saved, and the model worker applies the adapter in place
    qtbot.mouseClick(page.use_button, qtbot_left())
    assert window.settings["lora_path"] == str(adapter)
    from assistant.settings import Settings

    assert Settings().values["lora_path"] == str(adapter)
    qtbot.waitUntil(lambda: window.backend.state.phase == "ready", timeout=120_000)
    generator = window.backend.model.state["generator"]
    assert generator.adapter_path == adapter
    assert "(in use)" in page.adapters.item(0, 0).text()

    # turning it off and removing it
    page.adapters.selectRow(0)
    page.remove_selected(confirm=False)
    assert window.settings["lora_path"] == ""
    assert not adapter.parent.exists() and page.adapters.rowCount() == 0
    # without an adapter of the user's own, the shipped grounded adapter takes its place
    from assistant.llm.grounded import builtin_adapter_path

    builtin = builtin_adapter_path()
    expected = str(builtin) if builtin is not None else ""
    qtbot.waitUntil(lambda: window.backend.model.state["config"]["lora_path"] == expected,
                    timeout=30_000)
    assert generator.adapter_path == builtin


def qtbot_left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def _chain(first: Any, second: Any) -> Any:
    def both(payload: Any) -> None:
        if first is not None:
            first(payload)
        second(payload)

    return both
