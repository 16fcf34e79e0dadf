"""Helpers shared by the GUI tests (imported by name: tests/gui is on sys.path)."""

from __future__ import annotations

from typing import Any


def wait_library(qtbot: Any, window: Any, timeout: int = 20_000) -> None:
    with qtbot.waitSignal(window.library.refreshed, timeout=timeout):
        window.library.refresh()


def library_rows(window: Any) -> dict[str, str]:
    """{file name: status text} as the library table shows them."""
    model = window.library.view.model
    return {model.item(r, 0).text(): model.item(r, 1).text() for r in range(model.rowCount())}
