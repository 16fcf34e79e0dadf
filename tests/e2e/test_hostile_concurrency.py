"""Indexing while `assistant search`, `assistant ask` and a reader use the same store.

The documents are rewritten between index runs; every paragraph carries a marker naming its
document and version. While the runs go, searches and an answer run as separate processes,
and a reader in this process takes snapshots. Nobody may be told "database is locked" (or
fail at all), and nobody may see a document half old and half new: each document is read
whole, in one version, or not at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile.homes import app_home

from assistant.store.store import Store

pytestmark = pytest.mark.slow

DOCS = 30
VERSIONS = 2
MARK = re.compile(r"docmark(\d+)v(\d+)")


def write_version(folder: Path, version: int) -> None:
    from hostile.corpus import WORDS

    folder.mkdir(exist_ok=True)
    for i in range(DOCS):
        mark = f"docmark{i}v{version}"
        paragraphs = [f"{mark} " + " ".join(WORDS[(i + j + p) % len(WORDS)] for j in range(20))
                      + f" {mark}." for p in range(6 + version)]
        (folder / f"doc{i:02d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")


def versions_in(text: str) -> set[tuple[int, int]]:
    return {(int(d), int(v)) for d, v in MARK.findall(text)}


def snapshot_problems(store: Store) -> list[str]:
    """Read every document in one read transaction; report any that is not whole."""
    problems = []
    with store.conn:  # a savepoint: one consistent snapshot for all the reads below
        for doc in store.documents():
            if doc.status != "indexed":
                continue
            chunks = store.chunk_texts(doc.id)
            found = set().union(*(versions_in(c[4]) for c in chunks)) if chunks else set()
            vectors = store.conn.execute(
                "SELECT count(*) FROM chunks_vec v JOIN chunks c ON c.id = v.chunk_id "
                "WHERE c.document_id = ?", (doc.id,)).fetchone()[0]
            if len(chunks) != doc.chunks or vectors != doc.chunks:
                problems.append(f"{doc.path}: {len(chunks)} chunks, {vectors} vectors, "
                                f"{doc.chunks} expected")
            if len({v for _, v in found}) > 1:
                problems.append(f"{doc.path}: versions {sorted(found)} mixed")
    return problems


def test_search_and_ask_while_indexing(tmp_path: Path, default_gguf: Path) -> None:
    folder = tmp_path / "docs"
    home = app_home(tmp_path / "home")
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    assistant = [sys.executable, "-m", "assistant"]
    write_version(folder, 1)
    first = subprocess.run([*assistant, "index", str(folder)], env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr

    index_errors: list[str] = []

    def reindex() -> None:
        for version in range(2, VERSIONS + 2):
            write_version(folder, version)
            done = subprocess.run([*assistant, "index", str(folder)], env=env,
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                index_errors.append(done.stderr)

    writer = threading.Thread(target=reindex)
    writer.start()
    ask = subprocess.Popen([*assistant, "ask", "Which document talks about docmark3?",
                            "--json", "--model", str(default_gguf)], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    searches, snapshots, problems, failures = 0, 0, [], []
    with Store(home / "data" / "store.sqlite3") as store:
        while writer.is_alive() or searches < 3:
            query = f"docmark{searches % DOCS}v{1 + searches % VERSIONS} harbour ledger"
            done = subprocess.run([*assistant, "search", query, "-k", "8", "--json"], env=env,
                                  capture_output=True, text=True, timeout=600)
            searches += 1
            if done.returncode != 0 or "locked" in done.stderr or "busy" in done.stderr:
                failures.append(done.stderr[-2000:])
                continue
            hits = json.loads(done.stdout.splitlines()[-1])["hits"]
            seen: dict[int, set[int]] = {}
            for hit in hits:
                for d, v in versions_in(hit["text"]):
                    seen.setdefault(d, set()).add(v)
            problems += [f"search '{query}': document {d} in versions {sorted(v)}"
                         for d, v in seen.items() if len(v) > 1]
            for _ in range(5):
                problems += snapshot_problems(store)
                snapshots += 1
                time.sleep(0.05)
        writer.join()
        final = snapshot_problems(store)
    out, err = ask.communicate(timeout=600)
    assert ask.returncode == 0 and "locked" not in err, err[-2000:]
    assert json.loads(out.splitlines()[-1])["answer"].strip()
    assert index_errors == [], index_errors
    assert failures == [], failures
    assert problems == [] and final == [], problems[:10] + final[:10]
    print(f"\nconcurrency: {VERSIONS} re-index runs, {searches} searches, 1 answer and "
          f"{snapshots} snapshots beside them; 0 'locked', 0 half documents")
