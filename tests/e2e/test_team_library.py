"""A team library on a real PostgreSQL (issue 23): push and pull with citations intact, a
refused embedder, a push killed and resumed, and a server restarted in the middle of indexing.

The server is the session's `pg_server` (pgserver: PostgreSQL 16 with pgvector); each test has
a database of its own (`pg_url`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from assistant.cli.main import main
from assistant.ingest.indexer import Indexer
from assistant.search import Retriever
from assistant.store.postgres import PgStore
from assistant.store.store import ChunkRow, Store

QUERIES = ["warranty of the kettle", "how do I descale it", "payment terms of the contract",
           "what does the handbook say about holidays", "python function example"]


def _index_local(folder: Path, path: Path, embedder) -> Store:  # type: ignore[no-untyped-def]
    store = Store(path)
    summary = Indexer(store, embedder).index([folder], "Work")
    assert summary.indexed and not any("cannot" in f.reason for f in summary.failed)
    return store


def _all_chunk_ids(store) -> list[int]:  # type: ignore[no-untyped-def]
    return [i for i, _, _ in store.chunk_layout()]


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_push_search_pull_round_trip(docs_copy, tmp_path, pg_url, embedder, capsys) -> None:
    local = _index_local(docs_copy, tmp_path / "local.db", embedder)
    ids = _all_chunk_ids(local)
    assert main(["library", "push", "Work", "--to", pg_url, "--from",
                 str(tmp_path / "local.db"), "--batch", "2", "--json"]) == 0
    captured = capsys.readouterr()
    summary = _last_json(captured.out)
    assert summary["documents"] == len(local.documents("Work"))
    assert summary["chunks"] == len(ids) and summary["resumed"] is False
    assert "pushed 2 of" in captured.err  # progress lines, one a batch

    with PgStore(pg_url) as server:
        assert server.check_consistency() == []
        assert _all_chunk_ids(server) == ids
        # every citation (chunk id) opens the same passage at the same place
        assert server.chunks_by_id(ids) == local.chunks_by_id(ids)
        for i, vector in server.embeddings(ids).items():
            assert np.array_equal(vector, local.embeddings([i])[i])
        cid = server.require_collection("Work")
        assert server.collection_embedder(cid) == embedder.identity
        here, there = Retriever(local, embedder), Retriever(server, embedder)
        for query in QUERIES:
            a = [h.chunk_id for h in here.search(query, 5, mode="vector")]
            b = [h.chunk_id for h in there.search(query, 5, mode="vector")]
            assert a == b, query
            a = [h.chunk_id for h in here.search(query, 5)]
            b = [h.chunk_id for h in there.search(query, 5)]
            assert a[0] == b[0] and len(set(a) & set(b)) >= 3, (query, a, b)

    back = tmp_path / "back.db"
    assert main(["library", "pull", "Work", "--from", pg_url, "--to", str(back), "--json"]) == 0
    assert _last_json(capsys.readouterr().out)["chunks"] == len(ids)
    with Store(back) as pulled:
        assert pulled.check_consistency() == []
        assert pulled.chunks_by_id(ids) == local.chunks_by_id(ids)
        cid = pulled.require_collection("Work")
        assert pulled.collection_embedder(cid) == embedder.identity
        assert [h.chunk_id for h in Retriever(pulled, embedder).search(QUERIES[0], 5)] == \
            [h.chunk_id for h in Retriever(local, embedder).search(QUERIES[0], 5)]
    # pushing again replaces, never doubles
    assert main(["library", "push", "Work", "--to", pg_url, "--from",
                 str(tmp_path / "local.db")]) == 0
    with PgStore(pg_url) as server:
        assert _all_chunk_ids(server) == ids and server.check_consistency() == []
    local.close()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(1, 384)).astype(np.float32)
    return v / np.linalg.norm(v)


def test_push_refuses_a_target_of_another_embedder(tmp_path, pg_url, capsys) -> None:
    with Store(tmp_path / "l.db") as local:
        cid = local.collection_id("Work")
        local.write_document(cid, "/a.txt", size=1, mtime=1, hash="h", kind="text", title=None,
                             pages=0, warnings=[], chunks=[ChunkRow(None, 0, 4, "text")],
                             vectors=_vec(1), embedder="model-a")
    with PgStore(pg_url) as server:
        cid = server.collection_id("Work")
        server.write_document(cid, "/b.txt", size=1, mtime=1, hash="h", kind="text",
                              title=None, pages=0, warnings=[],
                              chunks=[ChunkRow(None, 0, 4, "other")], vectors=_vec(2),
                              embedder="model-b")
    assert main(["library", "push", "Work", "--to", pg_url, "--from",
                 str(tmp_path / "l.db")]) == 1
    err = capsys.readouterr().err
    assert "embedded by model-b" in err and "model-a" in err and "Traceback" not in err
    with PgStore(pg_url) as server:
        assert server.stats()["chunks"] == 1


def test_push_killed_mid_way_resumes(tmp_path, pg_url, app_home) -> None:
    """SIGKILL after the first batches; the same command carries on with no doubles."""
    with Store(tmp_path / "l.db") as local:
        cid = local.collection_id("Work")
        for n in range(120):
            local.write_document(cid, f"/d/{n:03}.txt", size=1, mtime=1, hash=str(n),
                                 kind="text", title=None, pages=0, warnings=[],
                                 chunks=[ChunkRow(None, 0, 9, f"passage {n} {w}")
                                         for w in ("one", "two", "three")],
                                 vectors=np.concatenate([_vec(3 * n + i) for i in range(3)]),
                                 embedder="model-a")
        ids = _all_chunk_ids(local)
    args = [sys.executable, "-m", "assistant", "library", "push", "Work", "--to", pg_url,
            "--from", str(tmp_path / "l.db"), "--batch", "5"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, ASSISTANT_HOME=str(app_home)))
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("pushed 10 of"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with PgStore(pg_url) as server:
        partial = server.stats()["chunks"]
    assert 30 <= partial < len(ids)
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, ASSISTANT_HOME=str(app_home)))
    assert done.returncode == 0, done.stderr
    summary = _last_json(done.stdout)
    assert summary["resumed"] is True and summary["documents"] < 120
    with PgStore(pg_url) as server:
        assert _all_chunk_ids(server) == ids and server.check_consistency() == []


def test_server_restarted_mid_index_loses_and_doubles_nothing(docs_copy, tmp_path, pg_url,
                                                              pg_server, embedder,
                                                              capfd) -> None:
    reference = _index_local(docs_copy, tmp_path / "ref.db", embedder)
    expected = {d.path: d.chunks for d in reference.documents("Work") if d.status == "indexed"}
    restarter: list[threading.Thread] = []

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        # the failure is real: the server goes down after the first file, for 9 s (longer
        # than the pool waits for a connection, so the retry is seen)
        if p.files_done == 1 and not restarter:
            _restart_stop_only(pg_server)
            t = threading.Thread(target=_start_later, args=(pg_server, 9.0))
            t.start()
            restarter.append(t)

    with PgStore(pg_url) as server:
        summary = Indexer(server, embedder).index([docs_copy], "Work", progress=progress)
        restarter[0].join()
        got = {d.path: d.chunks for d in server.documents("Work") if d.status == "indexed"}
        assert got == expected
        assert server.check_consistency() == []
        assert server.stats()["chunks"] == sum(expected.values())
        texts = [t for d in server.documents("Work") for *_, t in server.chunk_texts(d.id)]
        assert len(texts) == sum(expected.values())
        again = Indexer(server, embedder).index([docs_copy], "Work")
        assert again.indexed == [] and len(again.unchanged) == len(expected)
    assert len(summary.indexed) == len(expected)
    err = capfd.readouterr().err
    assert "is not answering" in err and "answers again" in err and "Traceback" not in err
    reference.close()


def _restart_stop_only(server) -> None:  # type: ignore[no-untyped-def]
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def _start_later(server, seconds: float) -> None:  # type: ignore[no-untyped-def]
    time.sleep(seconds)
    server.ensure_postgres_running()


def test_a_server_that_stays_down_is_one_sentence(tmp_path, capsys, monkeypatch) -> None:
    from assistant.store import pg_connect

    monkeypatch.setattr(pg_connect, "RETRY_SECONDS", 3.0)  # 60 s in the app
    url = f"postgresql://nobody@/db?host={tmp_path}&port=1"
    assert main(["docs", "--store", url]) == 1
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "Traceback" not in err
    assert err.count("\n") <= 2



def test_eval_retrieval_on_a_postgresql_store(data_dir, tmp_path, pg_url, capsys) -> None:
    assert main(["eval", "retrieval", str(data_dir / "beir-tiny"), "--store", pg_url,
                 "--out", str(tmp_path), "--json"]) == 0
    result = _last_json(capsys.readouterr().out)
    assert result["documents"] == 12 and result["settings"]["store"] == "postgresql"
    assert result["metrics"]["mrr@10"] == 1.0 and result["metrics"]["recall@10"] == 1.0
    with PgStore(pg_url) as server:
        assert server.collections() == []  # its collection is removed afterwards


def test_a_target_using_the_same_numbers_is_refused_before_any_write(tmp_path, pg_url,
                                                                     capsys) -> None:
    """Two desktop libraries both number their passages from 1: the second cannot keep its
    numbers on a server that holds the first, and nothing of it is written there."""
    for name in ("a", "b"):
        with Store(tmp_path / f"{name}.db") as local:
            cid = local.collection_id(name.upper())
            local.write_document(cid, f"/{name}.txt", size=1, mtime=1, hash="h", kind="text",
                                 title=None, pages=0, warnings=[],
                                 chunks=[ChunkRow(None, 0, 4, f"text {name}")], vectors=_vec(1),
                                 embedder="model-a")
    assert main(["library", "push", "A", "--to", pg_url, "--from", str(tmp_path / "a.db")]) == 0
    capsys.readouterr()
    assert main(["library", "push", "B", "--to", pg_url, "--from", str(tmp_path / "b.db")]) == 1
    err = capsys.readouterr().err
    assert "already uses some of the passage numbers of 'B' (for /a.txt)" in err
    with PgStore(pg_url) as server:
        assert server.collections() == ["A"] and server.stats()["chunks"] == 1


def test_ask_with_the_setting_pointing_at_the_team_library(docs_copy, pg_url, app_home,
                                                           default_gguf) -> None:
    """Two copies of the app share one library: one indexes (a subprocess, --store), the
    other asks through the default set by `library use` alone; the answer cites the server's passage,
    and the process ends without noise (no traceback, no failing finaliser)."""
    env = dict(os.environ, ASSISTANT_HOME=str(app_home))
    cli = [sys.executable, "-m", "assistant"]
    indexed = subprocess.run([*cli, "index", str(docs_copy), "--store", pg_url], env=env,
                             capture_output=True, text=True, timeout=600)
    assert indexed.returncode == 0, indexed.stderr
    used = subprocess.run([*cli, "library", "use", pg_url], env=env, capture_output=True,
                          text=True, timeout=120)
    assert used.returncode == 0 and "now uses the team library" in used.stdout, used.stderr
    settings = json.loads((app_home / "settings.json").read_text())
    settings["model_path"] = str(default_gguf)
    (app_home / "settings.json").write_text(json.dumps(settings))
    proc = subprocess.run([*cli, "ask", "How long is the guarantee on the Zephyr X200 kettle?",
                           "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = _last_json(proc.stdout)
    assert "27" in out["answer"] and out["citations"][0]["path"].endswith("handbook.pdf")
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert not (app_home / "data" / "store.sqlite3").exists()  # the local file was not used


def test_the_desktop_app_and_the_server_open_the_team_library_chosen(docs_copy, pg_url,
                                                                      embedder) -> None:
    """`library use` points the window's backend and `assistant serve` at the team library:
    both open the PostgreSQL store and see what another copy indexed there."""
    from assistant.gui.backend import open_store as desktop_store
    from assistant.ingest import Indexer
    from assistant.server.library import Library
    from assistant.store.backend import set_default_target
    from assistant.store.postgres import PgStore

    with PgStore(pg_url) as writer:
        Indexer(writer, embedder).index([str(docs_copy)], "default")
    set_default_target(pg_url)
    store = desktop_store()
    try:
        assert store.backend == "postgresql"
        assert "default" in store.collections() and store.documents("default")
    finally:
        store.close()
    library = Library(embedder=embedder)
    state = library._open()
    try:
        assert state["store"].backend == "postgresql"
        found = library.search(state, "How long is the guarantee on the Zephyr X200 kettle?", 3)
        assert found["hits"][0]["path"].endswith("handbook.pdf")
    finally:
        state["store"].close()
        library.close()


def test_library_use_refuses_what_the_window_refuses(pg_url, app_home, capsys) -> None:
    """`library use` tests the address as Settings → Library does: a library whose passages
    another embedder made, and a port with no server, are each a sentence, and the default
    stays as it was."""
    with PgStore(pg_url) as server:
        cid = server.collection_id("Old")
        server.write_document(cid, "/old.txt", size=1, mtime=1, hash="h", kind="text",
                              title=None, pages=0, warnings=[],
                              chunks=[ChunkRow(None, 0, 4, "text")], vectors=_vec(1),
                              embedder="another-model/v0")
    assert main(["library", "use", pg_url]) == 1
    err = capsys.readouterr().err
    assert "embedded by another-model/v0" in err and "Traceback" not in err
    assert main(["library", "use", "postgresql://kari@127.0.0.1:1/library"]) == 1
    err = capsys.readouterr().err
    assert "No PostgreSQL server answers at postgresql://kari@127.0.0.1:1/library" in err
    settings = app_home / "settings.json"
    assert not settings.exists() or "store_url" not in settings.read_text()
    with PgStore(pg_url) as server:
        server.delete_collection("Old")
    assert main(["library", "use", pg_url]) == 0
    assert "(0 documents in 0 collections)" in capsys.readouterr().out
    assert json.loads(settings.read_text())["extra"]["store_url"] == pg_url
