"""The command line as a subprocess: JSON shapes, exit codes, and recovery from SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.store.store import Store


def run_cli(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True,
                          text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_index_search_docs_remove(app_home, data_dir, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(data_dir / "docs", folder / "docs")
    shutil.copytree(data_dir / "bad", folder / "bad")
    make_deck(folder / "deck.pptx")
    out = last_json(run_cli("index", str(folder), "--json", home=app_home).stdout)
    assert set(out) == {"indexed", "unchanged", "removed", "failed", "skipped"}
    assert out["skipped"] == []  # every file in tests/data is of a type that is read
    # the docs, the deck, and the scan (read by OCR, on by default)
    assert out["indexed"] == len(list((data_dir / "docs").iterdir())) + 2
    assert out["unchanged"] == 0 and out["removed"] == 0
    failed = {Path(f["path"]).name: f["reason"] for f in out["failed"]}
    assert set(failed) == {p.name for p in (data_dir / "bad").iterdir()} - {"scanned.pdf"}
    assert all(isinstance(r, str) and r for r in failed.values())

    again = last_json(run_cli("index", str(folder), "--json", home=app_home).stdout)
    assert again["indexed"] == 0 and again["unchanged"] == out["indexed"]

    res = last_json(run_cli("search", "How long is the kettle guarantee?", "-k", "3", "--json",
                            home=app_home).stdout)
    hit = res["hits"][0]
    assert {"path", "page", "start", "end", "text", "score"} <= set(hit)
    assert hit["path"].endswith("handbook.pdf") and hit["page"] == 2
    assert "27 months" in " ".join(hit["text"].split())
    assert hit["place"] is None  # a PDF's place is its page
    md = last_json(run_cli("search", "bunks in the hut", "--json", home=app_home).stdout)
    assert md["hits"][0]["page"] is None
    # a slide's hit carries its place, and the plain output names it
    ferry = "When does the night ferry to Tromsø leave?"
    slide = last_json(run_cli("search", ferry, "-k", "3", "--json", home=app_home).stdout)
    assert slide["hits"][0]["path"].endswith("deck.pptx")
    assert slide["hits"][0]["place"] == "slide 2: Ferry timetable"
    plain = run_cli("search", ferry, "-k", "1", home=app_home).stdout
    assert "deck.pptx, Slide 2 — Ferry timetable" in plain
    scan = last_json(run_cli("search", "delivery note pallets received by", "-k", "3",
                             "--json", home=app_home).stdout)
    assert any(h["path"].endswith("scanned.pdf") and h["page"] == 1 for h in scan["hits"])

    queries = tmp_path / "q.txt"
    queries.write_text("kettle warranty\n\nsupport hotline opening time\n", encoding="utf-8")
    lines = run_cli("search", "--queries", str(queries), "-k", "2", home=app_home).stdout
    parsed = [json.loads(line) for line in lines.strip().splitlines()]
    assert [p["query"] for p in parsed] == ["kettle warranty", "support hotline opening time"]
    assert all(len(p["hits"]) == 2 for p in parsed)

    docs = last_json(run_cli("docs", "--json", home=app_home).stdout)["documents"]
    statuses = {Path(d["path"]).name: d["status"] for d in docs}
    assert statuses["handbook.pdf"] == "indexed" and statuses["truncated.pdf"] == "failed"

    removed = last_json(run_cli("remove", str(folder / "docs" / "handbook.pdf"), "--json",
                                home=app_home).stdout)
    assert removed == {"removed": 1}
    res = last_json(run_cli("search", "kettle guarantee months", "--json",
                            home=app_home).stdout)
    assert all(not h["path"].endswith("handbook.pdf") for h in res["hits"])


def make_deck(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Welcome"
    first.placeholders[1].text = "A short trip along the coast."
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Ferry timetable"
    second.placeholders[1].text = "The night ferry to Tromsø leaves at 23:40 from quay 7."
    deck.save(str(path))


def test_unknown_collection_is_a_clear_error(app_home):
    proc = run_cli("docs", "--collection", "Nope", home=app_home, check=False)
    assert proc.returncode == 1
    assert "no collection called 'Nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def _make_corpus(folder: Path, files: int) -> None:
    folder.mkdir()
    for i in range(files):
        body = "\n\n".join(
            f"Record {i}.{p}: the shipment of {i * 7 + p} crates reached harbour {p} "
            f"after {i + p} days at sea, and the captain logged the weather as calm. " * 3
            for p in range(12))
        (folder / f"log{i:03d}.txt").write_text(body, encoding="utf-8")


@pytest.mark.slow
def test_sigkill_mid_index_then_resume_leaves_store_complete(app_home, tmp_path):
    folder = tmp_path / "logs"
    _make_corpus(folder, 80)
    env = dict(os.environ, ASSISTANT_HOME=str(app_home))
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "index", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    db = app_home / "data" / "store.sqlite3"
    deadline = time.monotonic() + 300
    indexed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with Store(db) as s:
                    indexed = s.stats()["documents"]
            except Exception:
                indexed = 0
            if indexed >= 5:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "indexing finished before it could be killed; make it bigger"
    os.killpg(proc.pid, signal.SIGKILL)  # the worker process too
    proc.wait()
    with Store(db) as s:
        assert s.check_consistency() == []
        partial = s.stats()["documents"]
    assert 5 <= partial < 80

    out = last_json(run_cli("index", str(folder), "--json", home=app_home).stdout)
    assert out["failed"] == []
    assert out["indexed"] + out["unchanged"] == 80
    assert out["unchanged"] >= partial
    with Store(db) as s:
        assert s.check_consistency() == []
        assert s.stats()["documents"] == 80
        per_doc = {d.path: d.chunks for d in s.documents()}
    # the resumed store equals a clean index of the same folder
    clean_home = tmp_path / "clean"
    run_cli("index", str(folder), home=clean_home)
    with Store(clean_home / "data" / "store.sqlite3") as s:
        assert {d.path: d.chunks for d in s.documents()} == per_doc
