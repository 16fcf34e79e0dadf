"""The network dropped in the middle of `library push` (issue 23): a real TCP relay between
the app and the real PostgreSQL is cut after some batches. The push ends in one sentence, the
batches written before the cut stay, and the same command run again carries on from there:
every passage exactly once, with its number kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tcp_relay import Relay, unix_socket_of

from assistant.cli.main import main
from assistant.store import pg_connect
from assistant.store.postgres import PgStore
from assistant.store.store import ChunkRow, Store

DOCUMENTS = 120


def _library(path: Path) -> list[int]:
    """A desktop library of 120 documents of 3 passages each; its passage numbers."""
    rng = np.random.default_rng(5)
    with Store(path) as local:
        cid = local.collection_id("Work")
        for n in range(DOCUMENTS):
            vectors = rng.normal(size=(3, 384)).astype(np.float32)
            local.write_document(cid, f"/d/{n:03}.txt", size=1, mtime=1, hash=str(n),
                                 kind="text", title=None, pages=0, warnings=[],
                                 chunks=[ChunkRow(None, 0, 9, f"passage {n} {w}")
                                         for w in ("one", "two", "three")],
                                 vectors=vectors / np.linalg.norm(vectors, axis=1,
                                                                  keepdims=True),
                                 embedder="model-a")
        return [i for i, _, _ in local.chunk_layout()]


@pytest.fixture()
def relay(pg_url):  # type: ignore[no-untyped-def]
    relay = Relay(unix_socket_of(pg_url))
    yield relay
    relay.close()


def test_network_dropped_mid_push_resumes(tmp_path, pg_url, relay, capsys,
                                          monkeypatch) -> None:
    monkeypatch.setattr(pg_connect, "RETRY_SECONDS", 4.0)  # a minute in the app
    ids = _library(tmp_path / "l.db")
    database = pg_url.split("?", 1)[0].rsplit("/", 1)[1]
    url = f"postgresql://postgres@127.0.0.1:{relay.port}/{database}"
    push = ["library", "push", "Work", "--to", url, "--from", str(tmp_path / "l.db"),
            "--batch", "5", "--json"]
    relay.cut_after = 150_000  # bytes: past the set-up and a few batches of vectors
    assert main(push) == 1
    err = capsys.readouterr().err
    assert relay.cuts == 1
    assert "cannot be reached" in err and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("assistant: The PostgreSQL server at ") and last.endswith(
        "documents copied before are kept there, and the same command carries on from them.")
    assert "pushed 5 of 120" in err  # batches were written before the cut
    with PgStore(pg_url) as server:
        partial = server.stats()["chunks"]
        assert server.check_consistency() == []
    assert 0 < partial < len(ids) and partial % 15 == 0  # whole batches, nothing half-written

    relay.restore()
    assert main(push) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out.strip().splitlines()[-1])
    assert summary["resumed"] is True
    assert summary["chunks"] == len(ids) - partial  # only what the cut run had not written
    with PgStore(pg_url) as server:
        assert [i for i, _, _ in server.chunk_layout()] == ids  # each exactly once, kept
        assert server.stats()["chunks"] == len(ids) and server.check_consistency() == []
        with Store(tmp_path / "l.db") as local:
            assert server.chunks_by_id(ids) == local.chunks_by_id(ids)
