"""The window tells the truth (issue 24): every file of an added folder accounted for, one
count everywhere, reasons that say what happened, and nothing on screen lost or cut."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gui_helpers import library_rows, wait_library
from PySide6.QtWidgets import QDialog

INDEX_TIMEOUT = 180_000
# types no reader handles (office formats, e-books and mail are read, or will be)
UNSUPPORTED = ["weights.bin", "song.mp3", "disk.iso", "design.psd", "setup.exe", "blob"]


def index_and_wait(qtbot: Any, window: Any, paths: list[Path]) -> Any:
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=lambda s: s is None or bool(
                              s.indexed or s.failed or s.skipped)) as blocker:
        window.indexing.add_paths([str(p) for p in paths])
    summary = blocker.args[0]
    assert summary is not None, [f.traceback for f in window.context.failures]
    return summary


def dialog_rows(dialog: QDialog) -> dict[str, str]:
    tree = dialog.tree  # type: ignore[attr-defined]
    return {tree.topLevelItem(i).text(0): tree.topLevelItem(i).text(1)
            for i in range(tree.topLevelItemCount())}


def mixed_folder(root: Path, data_dir: Path) -> Path:
    folder = root / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "docs" / "guide.md", folder / "guide.md")
    shutil.copy(data_dir / "bad" / "scanned.pdf", folder / "scan.pdf")
    for name in UNSUPPORTED:
        (folder / name).write_bytes(b"\x00\x01 a format the app does not read")
    (folder / ".hidden.md").write_text("# hidden\n\nnot to be mentioned\n", encoding="utf-8")
    return folder


def test_every_file_in_a_mixed_folder_is_accounted_for_and_counts_agree(
        qtbot, make_window, data_dir, tmp_path):
    window = make_window(watch=False)
    folder = mixed_folder(tmp_path, data_dir)
    summary = index_and_wait(qtbot, window, [folder])
    assert [Path(p).name for p in summary.indexed] == ["guide.md"]
    assert [Path(f.path).name for f in summary.failed] == ["scan.pdf"]
    assert sorted(Path(s.path).name for s in summary.skipped) == sorted(UNSUPPORTED)

    progress = window.indexing.progress
    detail = progress.detail.text()
    assert "1 indexed" in detail and "1 could not be read" in detail
    assert f"{len(UNSUPPORTED)} skipped (type not supported)" in detail
    assert progress.skipped_button.isVisible()
    assert progress.skipped_button.text() == f"Show {len(UNSUPPORTED)} skipped"
    assert progress.failures_button.text() == "Show 1 failed"

    # "Show N skipped" names each file with its type; hidden files are not mentioned
    progress.skipped_button.click()
    dialog = window.findChild(QDialog, "SkippedDialog")
    assert dialog is not None and dialog.isVisible()
    rows = dialog_rows(dialog)
    assert sorted(rows) == sorted(UNSUPPORTED)
    assert rows["song.mp3"] == "“.mp3” file: this type is not supported"
    assert rows["blob"] == "A file without an extension: this type is not supported"
    assert all("this type is not supported" in why for why in rows.values())
    dialog.close()

    # the scanned PDF's reason says what happened, not a question
    progress.failures_button.click()
    failures = window.findChild(QDialog, "FailuresDialog")
    assert failures is not None and failures.isVisible()
    why = dialog_rows(failures)["scan.pdf"]
    assert "no text layer" in why and "?" not in why
    failures.close()

    # one count everywhere: the toolbar's box, the sidebar, the Library page
    wait_library(qtbot, window)
    assert window.library.collection_box.currentText() == "default (1)"
    status = window.library.status_label.text()
    assert status.startswith("“default”: 1 document · ")
    assert status.endswith(" · 1 could not be read")
    assert window.library.view.summary.text() == status.removeprefix("“default”: ")
    rows = library_rows(window)
    assert set(rows) == {"guide.md", "scan.pdf"}
    assert rows["scan.pdf"].startswith("● Could not be read — This PDF has no text layer")
