"""GUI test fixtures: a real main window with the session's embedder and default model.

Each window runs against the test's own ASSISTANT_HOME (see tests/conftest.py), and is shut
down at the end of the test: workers stopped, stores and history closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

# The offscreen platform (headless test runs) has no window manager to tell about size
# constraints, and says so with this warning whenever a top-level window's minimum or maximum
# size changes (dialogs do, as they open and close). No real platform emits it.
OFFSCREEN_ONLY = "This plugin does not support propagateSizeHints()"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_ONLY))


@pytest.fixture()
def make_window(qtbot: Any, embedder: Any, default_gguf: Path) -> Iterator[Callable[..., Any]]:
    from assistant.gui.app import create_application
    from assistant.gui.mainwindow import MainWindow

    create_application()
    windows: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("model_path", default_gguf)
        kwargs.setdefault("load_model", False)
        window = MainWindow(**kwargs)
        windows.append(window)  # shut down at the end even if a wait below fails
        window.resize(1280, 820)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        return window

    yield make
    for window in windows:
        window.close()
        window.deleteLater()
    qtbot.wait(10)
