"""Indexing real documents: incremental runs, changes, deletions, failures, time limits."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from assistant.ingest.indexer import Indexer
from assistant.search import Retriever
from assistant.store.store import Store


@pytest.fixture()
def store(app_home: Path) -> Store:
    s = Store()
    yield s
    s.close()


def test_index_mixed_folder_then_search_finds_right_pages(store, embedder, data_dir, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(data_dir / "docs", folder / "docs")
    shutil.copytree(data_dir / "bad", folder / "bad")
    summary = Indexer(store, embedder).index([folder], "Work")
    good = sorted(p.name for p in (data_dir / "docs").iterdir())
    # OCR is on by default: the scan is read, not reported
    assert sorted(Path(p).name for p in summary.indexed) == sorted([*good, "scanned.pdf"])
    scan = next(d for d in store.documents("Work") if d.path.endswith("scanned.pdf"))
    assert scan.warnings == ["pages read by OCR: 1"]
    reasons = {Path(f.path).name: f.reason for f in summary.failed}
    assert "scanned.pdf" not in reasons
    assert "encrypted" in reasons["encrypted.pdf"]
    assert "not a PDF" in reasons["mislabelled.pdf"]
    assert "corrupt" in reasons["truncated.pdf"]
    assert "empty" in reasons["empty.txt"]
    assert store.check_consistency() == []
    # every question's answer is found on its known page, in the top 3
    retriever = Retriever(store, embedder)
    questions = json.loads((data_dir / "questions.json").read_text())
    for q in questions:
        hits = retriever.search(q["question"], 3, collections=["Work"])
        match = [h for h in hits if h.path.endswith(q["file"]) and h.page == q["page"]]
        assert match, (q, [(Path(h.path).name, h.page) for h in hits])
        assert any(q["answer_contains"].lower() in " ".join(h.text.lower().split())
                   for h in match), q
        top = match[0]
        assert top.text == top.text.strip() and top.end > top.start


def test_the_same_files_give_the_same_index_however_they_are_batched(store, embedder, data_dir,
                                                                      tmp_path):
    """A folder indexed at once (passages batched as the files finish) and the same files
    indexed one by one in reverse order give identical vectors: the same similarities and
    the same order for every question. Before each passage was embedded alone, the int8
    model's per-batch activation scale moved near-equal scores from one indexing to the
    next."""
    folder = tmp_path / "docs"
    shutil.copytree(data_dir / "docs", folder)
    Indexer(store, embedder).index([folder], "Work")
    other = Store(tmp_path / "other.sqlite3")
    try:
        for path in sorted(folder.iterdir(), reverse=True):
            Indexer(other, embedder).index([path], "Work", remove_missing=False)
        questions = json.loads((data_dir / "questions.json").read_text())
        assert len(questions) >= 5

        def ranked(s: Store, question: str) -> list[tuple[str, int | None, int, float]]:
            return [(Path(h.path).name, h.page, h.start, h.similarity)
                    for h in Retriever(s, embedder).search(question, 8)]

        for q in questions:
            one, two = ranked(store, q["question"]), ranked(other, q["question"])
            assert [h[:3] for h in one] == [h[:3] for h in two], q
            # the distance's last float bit may differ; batched, scores moved by 1e-2
            assert max(abs(a[3] - b[3]) for a, b in zip(one, two, strict=True)) < 1e-5, q
    finally:
        other.close()


def test_incremental_changes_and_deletions(store, embedder, docs_copy):
    indexer = Indexer(store, embedder)
    first = indexer.index([docs_copy], "default")
    n = len(first.indexed)
    assert n >= 6 and not first.failed

    second = indexer.index([docs_copy], "default")
    assert (len(second.indexed), len(second.unchanged), len(second.removed)) == (0, n, 0)

    # touched but same content: recognised by hash, not re-embedded
    md = docs_copy / "guide.md"
    os.utime(md, (time.time() + 5, time.time() + 5))
    # changed content: re-indexed
    note = docs_copy / "latin1.txt"
    note.write_text("Completely new text about the lighthouse keeper Orlando Vance.\n\n"
                    "He lit the lamp at dusk every evening for forty-one years.", encoding="utf-8")
    # deleted: removed
    (docs_copy / "example.py").unlink()
    third = indexer.index([docs_copy], "default")
    assert [Path(p).name for p in third.indexed] == ["latin1.txt"]
    assert [Path(p).name for p in third.removed] == ["example.py"]
    assert "guide.md" in {Path(p).name for p in third.unchanged}
    assert store.check_consistency() == []

    hits = Retriever(store, embedder).search("who kept the lighthouse lamp", 1)
    assert Path(hits[0].path).name == "latin1.txt" and "Orlando" in hits[0].text
    # the old text of the changed file is gone from the keyword index too
    assert all("latin1.txt" not in h.path or "Orlando" in h.text
               for h in Retriever(store, embedder).search("café", 10))
    fourth = indexer.index([docs_copy], "default")
    assert not fourth.indexed and not fourth.removed


def test_collections_side_by_side(store, embedder, docs_copy, tmp_path):
    personal = tmp_path / "personal"
    personal.mkdir()
    (personal / "diary.md").write_text("# Diary\n\nMy sister's birthday is on the ninth of "
                                       "October and she loves orchids.", encoding="utf-8")
    indexer = Indexer(store, embedder)
    indexer.index([docs_copy], "Work")
    indexer.index([personal], "Personal")
    retriever = Retriever(store, embedder)
    hits = retriever.search("when is my sister's birthday", 3, collections=["Work"])
    assert all("diary" not in h.path for h in hits)
    hits = retriever.search("when is my sister's birthday", 3, collections=["Personal"])
    assert Path(hits[0].path).name == "diary.md"
    hits = retriever.search("sister birthday orchids", 3)  # all collections
    assert Path(hits[0].path).name == "diary.md"


def test_filters_by_type_and_path(store, embedder, docs_copy):
    Indexer(store, embedder).index([docs_copy], "default")
    retriever = Retriever(store, embedder)
    hits = retriever.search("warranty period", 5, kind="pdf")
    assert hits and all(h.path.endswith(".pdf") for h in hits)
    hits = retriever.search("warranty period", 5, path_prefix=str(docs_copy / "guide.md"))
    assert hits and all(h.path.endswith("guide.md") for h in hits)


def test_relevance_floor_separates_unrelated_questions(store, embedder, docs_copy):
    from assistant.answer.answerability import strictness

    floor = strictness("balanced").floor
    Indexer(store, embedder).index([docs_copy], "default")
    retriever = Retriever(store, embedder)
    related = retriever.search("how long is the kettle warranty", 3)
    unrelated = retriever.search("who won the 1966 football world cup final", 3)
    assert related[0].similarity >= floor
    assert all(h.similarity < floor for h in unrelated), [h.similarity for h in unrelated]


def test_a_slow_file_is_skipped_and_the_rest_indexed(store, embedder, docs_copy, tmp_path):
    big = docs_copy / "huge.txt"
    line = "A long, dull line of text that goes on and on about nothing in particular.\n"
    big.write_text(line * 200_000, encoding="utf-8")  # ~15 MB (under the 16 MB text cap): slow
    summary = Indexer(store, embedder, file_time_limit=1.5).index([docs_copy], "default")
    reasons = {Path(f.path).name: f.reason for f in summary.failed}
    assert "took too long" in reasons["huge.txt"]
    assert "handbook.pdf" in {Path(p).name for p in summary.indexed}
    assert store.check_consistency() == []


def test_size_limit_reported(store, embedder, docs_copy):
    summary = Indexer(store, embedder, max_bytes=2_000).index([docs_copy], "default")
    reasons = {Path(f.path).name: f.reason for f in summary.failed}
    assert "too large" in reasons["handbook.pdf"]
    doc = next(d for d in store.documents("default") if d.path.endswith("handbook.pdf"))
    assert doc.status == "failed" and "too large" in (doc.error or "")


def test_cancel_keeps_store_consistent(store, embedder, docs_copy):
    import threading

    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.files_done)
        if p.files_done >= 2:
            cancel.set()

    summary = Indexer(store, embedder).index([docs_copy], "default", progress=progress,
                                             cancel=cancel)
    assert summary.cancelled
    assert 2 <= len(summary.indexed) < len(list(docs_copy.iterdir()))
    assert store.check_consistency() == []
    rest = Indexer(store, embedder).index([docs_copy], "default")
    assert len(rest.indexed) + len(summary.indexed) == len(list(docs_copy.iterdir()))


def test_every_file_in_a_mixed_folder_is_accounted_for(store, embedder, data_dir, tmp_path,
                                                       monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "docs" / "guide.md", folder / "guide.md")
    shutil.copy(data_dir / "bad" / "scanned.pdf", folder / "scan.pdf")
    # types no reader handles (office formats, e-books and mail are read, or will be)
    unsupported = ["weights.bin", "song.mp3", "disk.iso", "design.psd", "setup.exe", "blob"]
    for name in unsupported:
        (folder / name).write_bytes(b"\x00\x01 not a format we read")
    (folder / ".hidden.txt").write_text("a hidden note", encoding="utf-8")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main", encoding="utf-8")
    own = folder / "app-data"  # the app's own data folder, inside the added folder
    own.mkdir()
    (own / "store.sqlite3").write_bytes(b"SQLite format 3\x00")
    monkeypatch.setenv("ASSISTANT_HOME", str(own))

    summary = Indexer(store, embedder).index([folder], "default")

    assert sorted(Path(p).name for p in summary.indexed) == ["guide.md", "scan.pdf"]
    assert not summary.failed
    skipped = {Path(s.path).name: s for s in summary.skipped}
    assert sorted(skipped) == sorted(unsupported)
    assert skipped["song.mp3"].type == ".mp3"
    assert skipped["blob"].type == "no extension"
    assert all(s.reason == "this type is not supported" for s in summary.skipped)
    out = summary.to_json()
    assert {"indexed", "unchanged", "removed", "failed", "skipped"} <= set(out)
    assert sorted(Path(s["path"]).name for s in out["skipped"]) == sorted(unsupported)

    again = Indexer(store, embedder).index([folder], "default")
    assert len(again.unchanged) == 2 and not again.failed
    assert len(again.skipped) == len(unsupported)
