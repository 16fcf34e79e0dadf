"""SIGKILL at random moments: indexing (ten times over), answering, training, saving settings.

After every kill the store must pass SQLite's own `PRAGMA integrity_check` and the store's
consistency check; after the last one, finishing the work must give exactly what an
uninterrupted run gives (documents, chunk texts, offsets, vectors; the trained adapter).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import apsw
import numpy as np
import pytest
from hostile.homes import app_home

from assistant.store.store import Store

pytestmark = pytest.mark.slow

SEED = 20240301
KILLS = 10
FILES = 300


def cli(*args: str, home: Path, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "assistant", *args], env=env,
                            start_new_session=True, **kwargs)


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "assistant", *args], env=env, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def kill(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGKILL the process and everything it started (the extraction worker too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def store_problems(db: Path) -> list[str]:
    if not db.exists():
        return []
    with Store(db) as store:
        integrity = store.conn.execute("PRAGMA integrity_check").fetchone()[0]
        return ([] if integrity == "ok" else [f"integrity_check: {integrity}"]) + \
            store.check_consistency()


def snapshot(db: Path) -> dict[str, tuple]:
    """Everything indexing decides, per document (not the times at which it happened)."""
    out: dict[str, tuple] = {}
    with Store(db) as store:
        for doc in store.documents():
            chunks = store.conn.execute(
                'SELECT ch.seq, ch.page, ch.start, ch."end", ch.text, v.embedding FROM chunks ch '
                "JOIN chunks_vec v ON v.chunk_id = ch.id WHERE ch.document_id = ? "
                "ORDER BY ch.seq", (doc.id,)).fetchall()
            out[doc.path] = (
                (doc.size, doc.mtime, doc.hash, doc.kind, doc.title, doc.pages, doc.chunks,
                 doc.status, doc.error, tuple(doc.warnings)),
                [tuple(c[:5]) for c in chunks],
                np.stack([np.frombuffer(c[5], dtype=np.float32) for c in chunks])
                if chunks else np.zeros((0, 384), np.float32))
    return out


def write_corpus(folder: Path, rng: random.Random, files: int, data_dir: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    from hostile.corpus import WORDS as words
    for i in range(files):
        paragraphs = [" ".join(rng.choice(words) for _ in range(rng.randint(20, 60))) + "."
                      for _ in range(rng.randint(1, 3))]
        (folder / f"note{i:03d}.txt").write_text(f"Note {i}.\n\n" + "\n\n".join(paragraphs),
                                                 encoding="utf-8")
    for name in ("handbook.pdf", "contract.docx", "page.html", "guide.md"):
        (folder / name).write_bytes((data_dir / "docs" / name).read_bytes())


def test_ten_kills_while_indexing_then_the_store_equals_a_clean_index(tmp_path: Path,
                                                                     data_dir: Path) -> None:
    rng = random.Random(SEED)
    folder = tmp_path / "docs"
    write_corpus(folder, rng, FILES, data_dir)
    home = app_home(tmp_path / "home")
    db = home / "data" / "store.sqlite3"
    kills, completed, corrupt, mid_write = 0, 0, 0, 0
    cycles = 0
    window = 1.2  # seconds after the first write within which the kill lands
    _count = _Counter(db)
    while kills < KILLS:
        cycles += 1
        assert cycles <= 5 * KILLS, "indexing kept finishing before it could be killed"
        before = _count()
        proc = cli("index", str(folder), home=home, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        # A random moment: some time after this run's first document is written (so most
        # kills land among writes), sometimes while it is still starting up.
        deadline = time.monotonic() + 240
        wait_for_write = rng.random() < 0.8
        while wait_for_write and proc.poll() is None and time.monotonic() < deadline and \
                _count() <= before:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, window) if wait_for_write else
                   rng.uniform(0.5, 0.5 + 3 * window))
        if proc.poll() is not None:
            assert proc.returncode == 0
            completed += 1
            window /= 2  # a fast machine: aim earlier next time
            for i in rng.sample(range(FILES), 40):  # new work for the next run
                path = folder / f"note{i:03d}.txt"
                if not path.exists():  # deleted after an earlier kill
                    continue
                path.write_text(path.read_text(encoding="utf-8") + f"\n\nAddendum {cycles}.",
                                encoding="utf-8")
            continue
        kill(proc)
        kills += 1
        mid_write += _count() > before
        problems = store_problems(db)
        corrupt += bool(problems)
        assert problems == [], f"after kill {kills}: {problems}"
        if kills % 3 == 0:  # the files also change between some of the runs
            for i in rng.sample(range(FILES), 5):
                path = folder / f"note{i:03d}.txt"
                if not path.exists():
                    continue
                path.write_text(f"Rewritten after kill {kills}.\n\n" +
                                path.read_text(encoding="utf-8"), encoding="utf-8")
            (folder / f"note{rng.randrange(FILES):03d}.txt").unlink(missing_ok=True)

    _count.close()
    out = json.loads(run_cli("index", str(folder), "--json", home=home).stdout.splitlines()[-1])
    assert out["failed"] == []
    assert store_problems(db) == []
    clean_home = app_home(tmp_path / "clean")
    run_cli("index", str(folder), home=clean_home)
    resumed, clean = snapshot(db), snapshot(clean_home / "data" / "store.sqlite3")
    assert resumed.keys() == clean.keys()
    worst = 1.0
    for path in clean:
        assert resumed[path][0] == clean[path][0], path  # the document row
        assert resumed[path][1] == clean[path][1], path  # chunk texts, pages and offsets
        a, b = resumed[path][2], clean[path][2]
        assert a.shape == b.shape, path
        # The same vectors, bit for bit: each passage is embedded on its own, so however the
        # killed runs batched it, its vector is the clean index's.
        if len(a):
            cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            worst = min(worst, float(cosine.min()))
            assert np.array_equal(a, b), (path, cosine.min())
    print(f"\nkills: {kills} survived ({mid_write} during writes), {completed} runs finished "
          f"before their kill, {corrupt} corrupt stores, {len(clean)} documents compared "
          f"(lowest vector cosine to the clean index {worst:.4f})")


class _Counter:
    """Commits other connections have made so far (`PRAGMA data_version`), read through one
    light read-only connection (polled often). Not a count of documents: a run re-indexing
    changed files rewrites documents that exist, which a count never sees, so most runs
    finished before a kill could aim at their writes: ten kills took 24 to over 50 runs."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.conn: apsw.Connection | None = None

    def __call__(self) -> int:
        try:
            if self.conn is None:
                if not self.db.exists():
                    return -1
                self.conn = apsw.Connection(str(self.db), flags=apsw.SQLITE_OPEN_READONLY)
                self.conn.set_busy_timeout(1000)
            row = self.conn.execute("PRAGMA data_version").fetchone()
            return int(row[0]) if row else -1
        except apsw.Error:
            return -1

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def test_kill_during_settings_save_never_leaves_half_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = textwrap.dedent("""
        import sys
        from assistant.settings import Settings
        settings = Settings()
        for i in range(10**9):
            settings.extra["payload"] = [i, "x" * 400_000]
            settings.set("top_k", 1 + i % 20)
            settings.save()
            print(i, flush=True)
    """)
    rng = random.Random(SEED)
    path = home / "settings.json"
    for cycle in range(20):
        env = dict(os.environ, ASSISTANT_HOME=str(home))
        proc = subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                                stdout=subprocess.PIPE, start_new_session=True)
        assert proc.stdout is not None
        last = int(proc.stdout.readline())  # at least one save has completed
        time.sleep(rng.uniform(0.0, 0.3))
        kill(proc)
        for line in proc.stdout.read().split():
            last = int(line)
        data = json.loads(path.read_text(encoding="utf-8"))  # whole, never half-written
        i, payload = data["extra"]["payload"]
        assert payload == "x" * 400_000
        assert last <= i <= last + 1, (cycle, last, i)  # the last save, or the one in flight
        assert data["top_k"] == 1 + i % 20
    from assistant.settings import Settings

    assert Settings(path).problems == []


def test_kill_during_an_answer_and_during_model_assembly(tmp_path: Path, data_dir: Path,
                                                         embedder) -> None:
    import shutil

    from assistant.ingest.indexer import Indexer
    from assistant.llm import models

    home = app_home(tmp_path / "home")
    (home / "data").mkdir(parents=True)
    docs = tmp_path / "docs"
    shutil.copytree(data_dir / "docs", docs, ignore=shutil.ignore_patterns("__pycache__"))
    db = home / "data" / "store.sqlite3"
    with Store(db) as store:
        Indexer(store, embedder).index([docs])
    question = "How long is the guarantee on the Zephyr X200 kettle?"
    target = home / "models" / models.default_model_name()

    # 1. Killed while the default model is being assembled (253 MB copied and checked).
    proc = cli("ask", question, "--json", home=home, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and \
            not list((home / "models").glob("*.partial")):
        time.sleep(0.01)
    time.sleep(0.3)
    assert proc.poll() is None, "the answer finished before the model assembly was seen"
    kill(proc)
    assert not target.exists() or models._marker_matches(target, models.expected_sha256()), \
        "a half-assembled model is under the real name"

    # 2. Killed while the answer streams.
    proc = cli("ask", question, "--json", home=home, stdout=subprocess.DEVNULL,
               stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.read(1)  # the answer's first streamed character
    assert first, "ask ended without streaming anything"
    time.sleep(random.Random(SEED).uniform(0.0, 0.5))
    kill(proc)
    assert target.exists() and models._marker_matches(target, models.expected_sha256())
    assert store_problems(db) == []

    # 3. The next question is answered, from the same store and model.
    proc = subprocess.run([sys.executable, "-m", "assistant", "ask", question, "--json"],
                          env=dict(os.environ, ASSISTANT_HOME=str(home)), text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.splitlines()[-1])
    assert answer["answer"].strip() and answer["citations"]
    assert not list((home / "models").glob("*.partial"))


TRAIN_SCRIPT = """
import json, sys
from pathlib import Path
from assistant.training.data import load_jsonl, split_examples
from assistant.training.train import TrainConfig, train
data, base, out, cache, resume = sys.argv[1:6]
config = TrainConfig(rank=2, alpha=4, learning_rate=3e-3, epochs=1, batch_size=2, max_length=64,
                     seed=3, checkpoint_every=1, threads=1)
split = split_examples(load_jsonl(data).examples, seed=config.seed)
result = train(split, config, Path(base), Path(out), resume=resume == "1",
               cache_root=Path(cache), progress=lambda e: print(e.phase, e.step, flush=True))
print(json.dumps({"steps": result.steps, "total": result.total_steps,
                  "resumed_from": result.resumed_from}), flush=True)
"""


def test_kill_during_training_then_resume(tmp_path: Path, default_gguf: Path) -> None:
    from assistant.llm.adapters import check_adapter_file
    from assistant.llm.gguf_check import read_gguf_info

    rows = [{"prompt": f"Where is the {name} kept?",
             "response": f"The {name} is kept on shelf {n}.",
             "sources": [f"Inventory: the {name} sits on shelf {n}."]}
            for n, name in enumerate(["lamp", "chair", "kettle", "ladder", "drill", "tent",
                                      "mirror", "fan", "rope", "bucket"], start=1)]
    data = tmp_path / "examples.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    cache = default_gguf.parent / "training-cache"
    args = [sys.executable, "-c", TRAIN_SCRIPT, str(data), str(default_gguf), str(out),
            str(cache)]
    env = dict(os.environ, ASSISTANT_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([*args, "0"], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # kill right after the first checkpoint begins to be written
        if line.startswith("saving 1"):
            time.sleep(random.Random(SEED).uniform(0.0, 0.3))
            break
    kill(proc)
    assert not (out / "adapter.gguf").exists()
    state = out / "checkpoint" / "state.pt"
    saved_step = 0
    if state.exists():  # a checkpoint is whole or absent (temp file, then rename)
        import torch

        saved_step = int(torch.load(state, map_location="cpu", weights_only=True)["step"])
    resumed = subprocess.run([*args, "1"], env=env, text=True, capture_output=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.splitlines()[-1])
    assert summary["steps"] == summary["total"] >= 3
    assert summary["resumed_from"] == saved_step  # 0 when the kill beat the rename
    check_adapter_file(out / "adapter.gguf", read_gguf_info(default_gguf))
    assert not (out / "checkpoint").exists()
