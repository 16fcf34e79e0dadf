"""The store's schema, migrations, transactions and keyword/vector search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.errors import UserError
from assistant.store import migrations
from assistant.store.backend import open_store
from assistant.store.store import ChunkRow, Store, fts_query


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, migrations.EMBEDDING_DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_schema_after_migrations(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    conn = store.conn
    assert migrations.current_version(conn) == len(migrations.MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"collections", "documents", "chunks", "chunks_fts", "chunks_vec",
            "watched_folders", "schema_migrations", "meta"} <= tables
    cols = {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
    assert {"path", "size", "mtime", "hash", "status", "error", "indexed_at"} <= cols
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    # opening again applies nothing twice
    again = Store(tmp_path / "s.db")
    rows = again.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert rows == len(migrations.MIGRATIONS)


def test_write_replace_remove_keeps_everything_consistent(store_target: str) -> None:
    store = open_store(store_target)
    cid = store.collection_id("Work")
    assert cid is not None
    v = _vecs(3)
    chunks = [ChunkRow(1, 0, 10, "the zephyr kettle"), ChunkRow(2, 5, 20, "warranty terms"),
              ChunkRow(2, 15, 30, "descaling guide")]
    doc = store.write_document(cid, "/d/a.pdf", size=1, mtime=2.0, hash="h", kind="pdf",
                               title="A", pages=2, warnings=[], chunks=chunks, vectors=v)
    assert store.check_consistency() == []
    assert [i for i, _ in store.knn(v[1], 1, [cid])] == [store.chunk_texts(doc)[1][0]]
    assert store.keyword("warranty", 5, [cid])
    # replacing a document drops its old chunks, vectors and keyword rows
    store.write_document(cid, "/d/a.pdf", size=1, mtime=3.0, hash="h2", kind="pdf", title="A",
                         pages=1, warnings=[], chunks=chunks[:1], vectors=v[:1])
    assert store.keyword("warranty", 5, [cid]) == []
    assert len(store.knn(v[0], 10, [cid])) == 1
    assert store.check_consistency() == []
    store.remove_document(doc)
    assert store.stats() == {"documents": 0, "failed": 0, "chunks": 0}
    assert store.check_consistency() == []


def test_failed_write_leaves_old_version(store_target: str) -> None:
    store = open_store(store_target)
    cid = store.collection_id("default")
    assert cid is not None
    v = _vecs(2)
    store.write_document(cid, "/d/a.txt", size=1, mtime=1.0, hash="h", kind="text", title=None,
                         pages=0, warnings=[], chunks=[ChunkRow(None, 0, 3, "old text")],
                         vectors=v[:1])
    bad = np.zeros((1, 7), dtype=np.float32)  # wrong dimension: rejected mid-write
    with pytest.raises(Exception):  # noqa: B017 - any failure must roll back
        store.write_document(cid, "/d/a.txt", size=1, mtime=2.0, hash="h2", kind="text",
                             title=None, pages=0, warnings=[],
                             chunks=[ChunkRow(None, 0, 3, "new text")], vectors=bad)
    doc = store.document(cid, "/d/a.txt")
    assert doc is not None and doc.hash == "h" and doc.mtime == 1.0
    assert [t for *_, t in store.chunk_texts(doc.id)] == ["old text"]
    assert store.check_consistency() == []


def test_collections_are_separate(store_target: str) -> None:
    store = open_store(store_target)
    work, personal = store.collection_id("Work"), store.collection_id("Personal")
    assert work is not None and personal is not None
    v = _vecs(2)
    store.write_document(work, "/w.txt", size=1, mtime=1, hash="a", kind="text", title=None,
                         pages=0, warnings=[], chunks=[ChunkRow(None, 0, 1, "budget")],
                         vectors=v[:1])
    store.write_document(personal, "/p.txt", size=1, mtime=1, hash="b", kind="text",
                         title=None, pages=0, warnings=[],
                         chunks=[ChunkRow(None, 0, 1, "budget")], vectors=v[1:])
    assert len(store.knn(v[0], 5, [work])) == 1
    assert len(store.keyword("budget", 5, [personal])) == 1
    assert sorted(store.collections()) == ["Personal", "Work"]
    with pytest.raises(UserError, match="no collection called 'Nope'"):
        store.require_collection("Nope")


def test_fts_query_is_safe() -> None:
    assert fts_query('what is "the" warranty?') == '"warranty"'
    assert fts_query("AND OR NOT ( * :") in ('"and" OR "not"', '"not"', '"and" OR "or" OR "not"')
    assert fts_query("???") == ""


def _open_at_once(target: str, copies: int = 6) -> list[BaseException]:
    """Open (and close) the store at `target` from `copies` threads released together; what
    they raised."""
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(copies)

    def open_new() -> None:
        try:
            barrier.wait()
            open_store(target).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_new) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_copies_racing_to_create_a_store_file_all_open_it(tmp_path: Path) -> None:
    """Six copies creating the same new SQLite file at once all open it, round after round.

    SQLite skips the busy handler while one connection turns a new file to WAL, so without
    the retry in db.connect about one round in four failed with "database is locked"."""
    for round_ in range(25):
        assert _open_at_once(str(tmp_path / f"race{round_}.db")) == [], f"round {round_}"


def test_many_threads_opening_a_new_store_at_once(store_target: str) -> None:
    """Six copies opening a new store at once apply each migration exactly once."""
    assert _open_at_once(store_target) == []
    with open_store(store_target) as store:
        if store.backend == "sqlite":
            assert migrations.current_version(store.conn) == len(migrations.MIGRATIONS)
        else:
            from assistant.store import pg_migrations

            with store.db.connect_once() as conn:
                assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] \
                    == len(pg_migrations.MIGRATIONS)


def test_words_in_most_chunks_of_a_large_store_are_left_out_of_bm25(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """At scale a word in most chunks costs seconds of BM25 and weighs almost nothing; the
    words are matched as the index stems them ("warranties" is the index's "warranti")."""
    from assistant.store import terms

    store = Store(tmp_path / "s.db")
    cid = store.collection_id("Work")
    assert cid is not None
    texts = [f"warranty clause {i} for the appliance" for i in range(40)]
    texts[7] = "warranty clause for the zephyr kettle: 27 months"
    store.write_document(cid, "/d/a.txt", size=1, mtime=1.0, hash="h", kind="text", title="A",
                         pages=1, warnings=[], chunks=[ChunkRow(None, i, i + 1, t)
                                                       for i, t in enumerate(texts)],
                         vectors=_vecs(len(texts)))
    everything = store.keyword("kettle warranties", 50, [cid])
    assert len(everything) == 40  # a small store: every word is scored
    monkeypatch.setattr(terms, "MIN_CHUNKS", 10)
    store.terms = terms.TermStats(store.conn)
    only_rare = store.keyword("kettle warranties", 50, [cid])
    assert len(only_rare) == 1 and only_rare[0][0] == everything[0][0]
    assert store.keyword("warranties", 50, [cid]) == []  # nothing left worth scoring
    assert store.terms.stems(["Warranties", "kettles", "???"]) == ["warranti", "kettl", None]
    # after a write the counts are read again: the word is now in few enough chunks
    store.write_document(cid, "/d/b.txt", size=1, mtime=1.0, hash="h2", kind="text",
                         title="B", pages=1, warnings=[],
                         chunks=[ChunkRow(None, i, i + 1, f"descaling step {i}")
                                 for i in range(400)], vectors=_vecs(400, seed=1))
    assert len(store.keyword("warranties", 50, [cid])) == 40
    store.close()


def test_staged_vectors_swap_in_at_once(store_target: str) -> None:
    """Re-embedding on either backend: staged vectors replace the old ones only when every
    chunk has one, in one step, and the embedder is recorded with them."""
    store = open_store(store_target)
    cid = store.collection_id("Work")
    old, new = _vecs(3, seed=1), _vecs(3, seed=2)
    store.write_document(cid, "/a.txt", size=1, mtime=1, hash="h", kind="text", title=None,
                         pages=0, warnings=[], chunks=[ChunkRow(None, i, i + 1, f"part {i}")
                                                       for i in range(3)],
                         vectors=old, embedder="model-a")
    with pytest.raises(UserError, match="embedded by another model"):
        store.write_document(cid, "/b.txt", size=1, mtime=1, hash="h", kind="text",
                             title=None, pages=0, warnings=[],
                             chunks=[ChunkRow(None, 0, 1, "x")], vectors=new[:1],
                             embedder="model-b")
    todo = store.reembed_todo(cid, "model-b")
    assert [t for _, t in todo] == ["part 0", "part 1", "part 2"]
    ids = [i for i, _ in todo]
    epoch = store.vectors_epoch()
    store.stage_vectors(cid, "model-b", ids[:2], new[:2])
    assert store.reembed_counts(cid, "model-b") == (2, 3)
    assert store.swap_vectors(cid, "model-b") is False
    assert store.collection_embedder(cid) == "model-a"
    store.stage_vectors(cid, "model-b", ids[2:], new[2:])
    assert store.swap_vectors(cid, "model-b") is True
    assert store.collection_embedder(cid) == "model-b" and store.vectors_epoch() != epoch
    got = store.embeddings(ids)
    assert all(np.allclose(got[i], new[n]) for n, i in enumerate(ids))
    assert [i for i, _ in store.knn(new[1], 1, [cid])] == [ids[1]]
    assert store.reembed_counts(cid, "model-b") == (0, 3)
    assert store.check_consistency() == []
    store.close()


def test_documents_pending_failed_and_watched(store_target: str) -> None:
    store = open_store(store_target)
    cid = store.collection_id("Work")
    store.mark_pending_many(cid, ["/p1.txt", "/p2.txt"])
    store.mark_pending_many(cid, ["/p1.txt"])  # again: still one row
    assert [(d.path, d.status) for d in store.documents("Work")] == \
        [("/p1.txt", "pending"), ("/p2.txt", "pending")]
    store.mark_failed(cid, "/p1.txt", size=3, mtime=4.0, hash=None, error="cannot be read")
    doc = store.document(cid, "/p1.txt")
    assert doc is not None and doc.status == "failed" and doc.error == "cannot be read"
    store.touch(doc.id, 5, 6.0)
    again = store.document_by_id(doc.id)
    assert again is not None and (again.size, again.mtime) == (5, 6.0)
    assert store.stats() == {"documents": 0, "failed": 1, "chunks": 0}
    store.watch("/folder", "Work")
    store.watch("/folder", "Work")
    assert store.watched() == [("Work", "/folder")]
    store.unwatch("/folder", "Work")
    assert store.watched() == []
    store.rename_collection("Work", "Team")
    assert store.collections() == ["Team"]
    assert store.remove_path("/p1.txt", "Team") == 1
    store.delete_collection("Team")
    assert store.collections() == [] and store.documents() == []
    store.close()


def test_collection_changes_move_the_change_counter(store_target: str) -> None:
    """Another copy of the app refreshes its listings when the counter moves: a new, renamed
    or deleted collection must move it, not only written chunks (a rename went unseen)."""
    store = open_store(store_target)
    seen = [store.generation()]
    work = store.collection_id("Work")
    seen.append(store.generation())
    assert store.collection_id("Work") == work and store.generation() == seen[-1]
    assert store.collection_id("Home") not in (None, work)
    seen.append(store.generation())
    store.rename_collection("Work", "Team")
    seen.append(store.generation())
    store.delete_collection("Team")
    seen.append(store.generation())
    assert len(set(seen)) == len(seen), seen
    assert store.collections() == ["Home"]
    store.close()


def test_postgres_ranks_only_chunks_with_a_rare_word_or_two_words_in_a_big_library(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a big library the words' counts add up past the budget: only the chunks holding
    the rarest word, or two of the commoner ones, are read and ranked (a chunk with one
    common word would rank low anyway); too few picked and the plain query runs."""
    from assistant.store import pg_terms

    store = open_store(pg_url)
    cid = store.collection_id("Work")
    texts = [f"alpha filler {i}" for i in range(12)] + [f"bravo filler {i}" for i in range(12)]
    texts += ["alpha bravo together", "zephyr alone", "nothing here"]
    store.write_document(cid, "/a.txt", size=1, mtime=1, hash="h", kind="text", title=None,
                         pages=0, warnings=[], chunks=[ChunkRow(None, i, i + 1, t)
                                                       for i, t in enumerate(texts)],
                         vectors=_vecs(len(texts)))

    def texts_of(hits: list[tuple[int, float]]) -> set[str]:
        return {v["text"] for v in store.chunks_by_id([h for h, _ in hits]).values()}

    everything = store.keyword("alpha bravo zephyr", 50, [cid])
    assert len(everything) == 26  # a small library: every chunk with a word is ranked
    monkeypatch.setattr(pg_terms, "MIN_CHUNKS", 10)
    monkeypatch.setattr(pg_terms, "CANDIDATE_BUDGET", 5)
    monkeypatch.setattr(pg_terms, "COMMON_SHARE", 1.0)
    store.terms = pg_terms.PgTermStats(store.terms.config)
    match, narrowed = store.terms.match_query(
        store.terms.weights(["alpha", "bravo", "zephyr"], store._all))
    assert narrowed and match == "'zephyr' | ('alpha' & 'bravo')"
    picked = store.keyword("alpha bravo zephyr", 2, [cid])
    assert texts_of(picked) == {"alpha bravo together", "zephyr alone"}
    assert picked == everything[:2]  # the same best two, and the same scores
    # asking for more than the narrowed query finds: the plain query answers
    assert len(store.keyword("alpha bravo zephyr", 10, [cid])) == 10
    store.close()


def test_a_rare_word_outweighs_a_common_one(store_target: str) -> None:
    """Keyword scores weigh words by rarity on both backends (BM25 on SQLite, IDF-weighted
    ts_rank on PostgreSQL): a passage with the one rare query word beats passages that
    repeat the common one."""
    store = open_store(store_target)
    cid = store.collection_id("Work")
    texts = [f"clause clause clause clause contract {i}" for i in range(20)]
    # plain ts_rank puts this below the repeats of "clause" (0.0096 against 0.0154)
    texts.append("the zephyr kettle has a long cord, a blue lid and a filter for the kitchen")
    store.write_document(cid, "/a.txt", size=1, mtime=1, hash="h", kind="text", title=None,
                         pages=0, warnings=[], chunks=[ChunkRow(None, i, i + 1, t)
                                                       for i, t in enumerate(texts)],
                         vectors=_vecs(len(texts)))
    hits = store.keyword("zephyr clause", 5, [cid])
    assert store.chunks_by_id([hits[0][0]])[hits[0][0]]["text"].startswith("the zephyr")
    assert [s for _, s in hits] == sorted(s for _, s in hits)  # best (lowest) first
    store.close()
