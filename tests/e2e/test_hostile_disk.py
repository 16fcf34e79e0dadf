"""A full disk: the store, the settings, the default model and an exported adapter each on a
small tmpfs that fills up. Each must end in a sentence naming the disk, leave what was there
whole, and work again once space is freed. Mounting needs root; elsewhere the tests skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hostile.homes import app_home
from hostile.sentences import internals_in

from assistant.store.store import Store

pytestmark = pytest.mark.slow

FILES = 100


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755",
                           "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; return it (delete it to free the space)."""
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return filler


def write_docs(folder: Path, files: int) -> None:
    from hostile.corpus import WORDS

    folder.mkdir(parents=True)
    for i in range(files):
        words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(100))
        (folder / f"doc{i:03d}.txt").write_text(f"Document {i}. {words}.\n\n{words}.",
                                                encoding="utf-8")


def index_count(db: Path) -> int:
    with Store(db) as store:
        return store.stats()["documents"]


def test_store_on_a_disk_that_fills_during_indexing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, FILES)
    with small_disk(tmp_path / "disk", 24) as disk:
        home = app_home(disk / "home")  # (its model caches live off the small disk)
        env = dict(os.environ, ASSISTANT_HOME=str(home))
        proc = subprocess.Popen([sys.executable, "-m", "assistant", "index", str(docs)],
                                env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        db = home / "data" / "store.sqlite3"
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if db.exists() and index_count(db) >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "indexing finished before the disk could be filled"
        filler = fill(disk)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, (out, err)
        assert f"The disk at {disk} is full" in err, err
        assert "Traceback" not in err and not internals_in(err.replace(str(disk), "DISK")
                                                            .replace(str(db), "STORE")), err
        filler.unlink()
        with Store(db) as store:
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert store.check_consistency() == []
            partial = store.stats()["documents"]
        assert 5 <= partial < FILES

        # space is back: the same command finishes the job
        done = subprocess.run([sys.executable, "-m", "assistant", "index", str(docs), "--json"],
                              env=env, text=True, capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["failed"] == [] and summary["unchanged"] >= partial
        assert index_count(db) == FILES
        with Store(db) as store:
            assert store.check_consistency() == []


def test_settings_on_a_full_disk_keep_the_old_file(tmp_path: Path) -> None:
    from assistant.settings import Settings

    with small_disk(tmp_path / "disk", 1) as disk:
        path = disk / "settings.json"
        settings = Settings(path)
        settings.set("top_k", 7)
        settings.save()
        before = path.read_bytes()
        filler = fill(disk)
        settings.extra["big"] = "x" * 200_000
        with pytest.raises(OSError):
            settings.save()
        assert path.read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler.bin", "settings.json"]
        filler.unlink()
        settings.save()
        assert Settings(path).extra["big"] == "x" * 200_000


def test_default_model_assembly_on_a_full_disk(tmp_path: Path) -> None:
    from assistant.errors import ModelError
    from assistant.llm import models

    with small_disk(tmp_path / "disk", 64) as disk:
        with pytest.raises(ModelError) as info:
            models.ensure_default_model(directory=disk / "models")
        message = str(info.value)
        assert str(disk / "models") in message and "space" in message.lower(), message
        assert not internals_in(message.replace(str(disk / "models"), "DIR")), message
        assert list((disk / "models").iterdir()) == []  # no partial file left behind


def test_adapter_export_on_a_full_disk(tmp_path: Path) -> None:
    from assistant.errors import ModelError
    from assistant.training.export import write_lora_gguf, write_training_report

    rng = np.random.default_rng(0)
    state = {}
    for layer in range(8):  # 1.4 MB of weights
        key = f"base_model.model.model.layers.{layer}.mlp.down_proj"
        state[f"{key}.lora_A.weight"] = rng.standard_normal((16, 2048), dtype=np.float32)
        state[f"{key}.lora_B.weight"] = rng.standard_normal((640, 16), dtype=np.float32)
    with small_disk(tmp_path / "disk", 1) as disk:
        with pytest.raises(ModelError) as info:
            write_lora_gguf(state, disk / "adapter.gguf", alpha=16, n_layers=18)
        message = str(info.value)
        assert str(disk) in message and "full" in message.lower(), message
        assert list(disk.iterdir()) == []
        filler = fill(disk)
        with pytest.raises(ModelError, match="full"):
            write_training_report(disk / "report.json", {"loss": [1.0] * 10_000})
        assert sorted(p.name for p in disk.iterdir()) == ["filler.bin"]
        filler.unlink()
    with small_disk(tmp_path / "disk2", 8) as disk:  # enough space: the same call works
        write_lora_gguf(state, disk / "adapter.gguf", alpha=16, n_layers=18)
