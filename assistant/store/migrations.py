"""Schema as numbered migrations, each recorded in the database when applied.

Adding a feature that needs a schema change means appending a function to `MIGRATIONS`;
existing stores are upgraded in place on the next start, in one transaction per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import apsw

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2, the embedded default


def _m001_initial(conn: apsw.Connection) -> None:
    conn.execute(
        f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created REAL NOT NULL
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            mtime REAL NOT NULL DEFAULT 0,
            hash TEXT,
            kind TEXT,
            title TEXT,
            pages INTEGER NOT NULL DEFAULT 0,
            chunks INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('indexed', 'failed', 'pending')),
            error TEXT,
            warnings TEXT,
            indexed_at REAL,
            UNIQUE (collection_id, path)
        );
        CREATE INDEX documents_path ON documents(path);
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            page INTEGER,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX chunks_document ON chunks(document_id);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, content='chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
            DELETE FROM chunks_vec WHERE chunk_id = old.id;
        END;
        CREATE VIRTUAL TABLE chunks_vec USING vec0(
            chunk_id INTEGER PRIMARY KEY,
            collection_id INTEGER PARTITION KEY,
            embedding float[{EMBEDDING_DIM}] distance_metric=cosine,
            kind TEXT
        );
        """
    )


def _m002_watched_folders(conn: apsw.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE watched_folders (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            added REAL NOT NULL,
            UNIQUE (collection_id, path)
        );
        """
    )


# Every vector written before embedders were recorded came from this one.
LEGACY_EMBEDDER = "all-minilm-l6-v2/torch-fp32@0.1.0-r1"


def _m003_collection_embedder(conn: apsw.Connection) -> None:
    """Which embedder made each collection's vectors, and a staging area for re-embedding.

    A re-embed writes the new vectors into `reembed_vectors` (resumable: rows already there
    are kept) and swaps them in with the collection's `embedder` in one transaction, so a
    collection is always wholly on one embedder.
    """
    conn.execute(
        """
        ALTER TABLE collections ADD COLUMN embedder TEXT;
        CREATE TABLE reembed_vectors (
            chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            collection_id INTEGER NOT NULL,
            embedder TEXT NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX reembed_vectors_collection ON reembed_vectors(collection_id, embedder);
        """
    )
    conn.execute("UPDATE collections SET embedder = ? WHERE id IN "
                 "(SELECT DISTINCT collection_id FROM documents WHERE chunks > 0)",
                 (LEGACY_EMBEDDER,))


def _m004_chunk_place(conn: apsw.Connection) -> None:
    """Where a chunk is, in words, for formats whose places are not pages: "slide 3:
    Results", "Sales!A2:D14", "chapter 2: The Storm", "message 5: Lunch from Kari". NULL
    for PDFs (their page number says it) and unpaged text."""
    conn.execute("ALTER TABLE chunks ADD COLUMN place TEXT")


MIGRATIONS: list[Callable[[apsw.Connection], None]] = [
    _m001_initial, _m002_watched_folders, _m003_collection_embedder, _m004_chunk_place]


def current_version(conn: apsw.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'schema_migrations'").fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0  # type: ignore[arg-type]


def migrate(conn: apsw.Connection) -> int:
    """Apply every migration not yet recorded; return the resulting version.

    The whole upgrade runs under one write lock (BEGIN IMMEDIATE) and re-reads the version
    inside it, so two threads or processes opening a new store at once cannot both apply
    the same step.
    """
    if current_version(conn) >= len(MIGRATIONS):
        return len(MIGRATIONS)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(version INTEGER PRIMARY KEY, applied REAL)")
        version = current_version(conn)
        for number, step in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            step(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, time.time()))
            version = number
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
