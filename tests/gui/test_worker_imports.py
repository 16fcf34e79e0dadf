"""The window's workers import one at a time.

Python 3.11's per-module import locks can hang threads that import at once (CPython
gh-91351); `assistant serve` once sat silent at start-up that way. At the window's start the
model worker loads llama_cpp while the index worker makes the embedder, so each worker
imports what its jobs load lazily in its setup, under the backend's one lock
(`assistant.gui.backend._open_lock`), and its jobs import nothing outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Runs the app's own --self-test (the window opens and answers one question) with an audit
# hook that lists every import a worker thread makes without holding the lock.
SELF_TEST = """
import json, sys, threading
loose, lock = [], None
def hook(event, args):
    if event == "import" and lock is not None \\
            and threading.current_thread() is not threading.main_thread() \\
            and not lock._is_owned():
        loose.append((threading.current_thread().name, args[0]))
sys.addaudithook(hook)
from assistant.gui import backend
lock = backend._open_lock
from assistant.gui.app import main
code = main(["--self-test", "--question", "How long is the kettle guarantee?"])
print(json.dumps({"code": code, "loose": loose}))
"""


def test_the_windows_workers_import_only_under_the_lock(app_home: Path, data_dir: Path,
                                                        embedder: Any,
                                                        default_gguf: Path) -> None:
    from assistant import paths
    from assistant.ingest.indexer import Indexer
    from assistant.store.backend import open_store

    with open_store() as store:  # the test's own home's library
        Indexer(store, embedder).index([data_dir / "docs"], "default")
    prepared = embedder.onnx  # the session's int8 export: no minute of preparing it again
    cache = paths.models_dir() / "embedder"
    cache.mkdir(parents=True, exist_ok=True)
    for made in (prepared.file, prepared.manifest):
        shutil.copy2(made, cache / made.name)
    (app_home / "settings.json").write_text(json.dumps(
        {"model_path": str(default_gguf), "threads": 1}))
    env = dict(os.environ, ASSISTANT_HOME=str(app_home), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", SELF_TEST], capture_output=True, text=True,
                          env=env, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) >= 2, proc.stderr[-2000:]
    answered, seen = json.loads(lines[-2]), json.loads(lines[-1])
    assert answered["ok"] and "27 months" in answered["answer"], answered
    assert seen["code"] == 0
    assert seen["loose"] == [], seen["loose"]


def test_a_missing_or_broken_package_does_not_stop_a_worker_setting_up(tmp_path: Path,
                                                                       monkeypatch: Any) -> None:
    """A package the early imports cannot load (missing, or one whose shared library fails
    at import, as a broken llama.cpp build does) is left to fail where it is used, with its
    own sentence: the worker still sets up."""
    from assistant.gui import backend

    (tmp_path / "broken_native_lib.py").write_text(
        "raise RuntimeError('Failed to load shared library libllama.so')\n")
    (tmp_path / "fine_lib_for_the_test.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend._import_early(("no_such_package_for_the_test", "broken_native_lib",
                           "fine_lib_for_the_test"))
    assert "fine_lib_for_the_test" in sys.modules  # the ones after a failure still load
    assert "broken_native_lib" not in sys.modules  # tried again, and failing, where used
