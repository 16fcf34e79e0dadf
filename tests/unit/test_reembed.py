"""A change of embedder re-embeds a collection: resumable, never two embedders mixed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import UserError
from assistant.ingest.indexer import Indexer
from assistant.search import Embedder, Retriever
from assistant.search.reembed import reembed, stale_collections
from assistant.store.store import ChunkRow, Store

CHILD = """
import sys
from assistant.search import Embedder
from assistant.search.reembed import reembed
from assistant.store.store import Store
store = Store(sys.argv[1])
emb = Embedder(runtime="onnx-int8")
reembed(store, emb, progress=lambda p: print(p.done, p.total, flush=True), batch=4)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    emb = Embedder(runtime="torch-fp32")
    emb.embed("warm up")
    return emb


def _vectors(store: Store) -> dict[int, np.ndarray]:
    return {int(i): np.frombuffer(b, dtype=np.float32).copy()
            for i, b in store.conn.execute("SELECT chunk_id, embedding FROM chunks_vec")}


def test_kill_during_reembed_then_resume(tmp_path, data_dir, reference, embedder):
    fast = embedder if embedder.runtime == "onnx-int8" else Embedder(runtime="onnx-int8")
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        Indexer(store, reference).index([data_dir / "docs"], "docs")
        cid = store.collection_id("docs")
        assert store.collection_embedder(cid) == reference.identity
        assert stale_collections(store, fast) == ["docs"]
        before = _vectors(store)
    assert len(before) >= 12
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line and "finished" not in line, "the re-embed ended before it could be killed"
        if int(line.split()[0]) >= 8:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(path) as store:
        cid = store.collection_id("docs")
        assert store.collection_embedder(cid) == reference.identity  # still wholly the old one
        assert all(np.array_equal(before[i], v) for i, v in _vectors(store).items())
        staged, total = store.reembed_counts(cid, fast.identity)
        assert 8 <= staged < total
        # searching meanwhile uses the old embedder's query vectors for this collection
        hits = Retriever(store, fast).search("How long is the kettle guarantee?", 3)
        assert hits and "kettle" in hits[0].text.lower()
        seen: list[int] = []
        reembed(store, fast, progress=lambda p: seen.append(p.done))
        assert seen[0] >= staged  # resumed, not restarted
        assert store.collection_embedder(cid) == fast.identity
        after = _vectors(store)
        texts = dict(store.conn.execute("SELECT id, text FROM chunks").fetchall())
        ids = sorted(after)
        expected = fast.embed_batch([texts[i] for i in ids])
        got = np.stack([after[i] for i in ids])
        old = np.stack([before[i] for i in ids])
        # int8 activations are quantised per batch, so a batch's company moves a vector a
        # little: every vector is the new embedder's (near its fresh vector), none the old one.
        assert ((got * expected).sum(axis=1) > 0.97).all()
        assert not np.isclose(got, old, atol=1e-6).all(axis=1).any()
        assert store.conn.execute("SELECT count(*) FROM reembed_vectors").fetchone()[0] == 0
        assert not store.check_consistency()
        assert stale_collections(store, fast) == []


def test_writing_another_embedders_vectors_is_refused(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        cid = store.collection_id("c")
        v = np.eye(384, dtype=np.float32)[:1]
        store.write_document(cid, "/a.txt", size=1, mtime=1.0, hash="a", kind="text",
                             title=None, pages=0, warnings=[], chunks=[ChunkRow(None, 0, 1, "a")],
                             vectors=v, embedder="model-a")
        with pytest.raises(UserError, match="re-embedded"):
            store.write_document(cid, "/b.txt", size=1, mtime=1.0, hash="b", kind="text",
                                 title=None, pages=0, warnings=[],
                                 chunks=[ChunkRow(None, 0, 1, "b")], vectors=v,
                                 embedder="model-b")
        assert [d.path for d in store.documents("c")] == ["/a.txt"]


def test_old_store_is_recorded_as_the_reference_embedder(tmp_path):
    """Stores made before embedders were recorded held only torch-fp32 vectors."""
    import apsw

    from assistant.store import db, migrations

    path = tmp_path / "old.sqlite3"
    conn = db.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied REAL)")
    for n, step in enumerate(migrations.MIGRATIONS[:2], start=1):
        step(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (n,))
    conn.execute("INSERT INTO collections(name, created) VALUES ('old', 0), ('empty', 0)")
    conn.execute("INSERT INTO documents(collection_id, path, status, chunks) "
                 "VALUES (1, '/x', 'indexed', 1)")
    conn.close()
    with Store(path) as store:
        got = store.collection_embedders()
        assert got[store.collection_id("old")] == Embedder(runtime="torch-fp32").identity
        assert got[store.collection_id("empty")] is None
    assert isinstance(apsw.sqlite_lib_version(), str)
    assert Path(path).exists()
