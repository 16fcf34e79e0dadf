"""All reads and writes of the document store, behind one small class.

A document's row, chunks, FTS rows and vectors are written in one transaction, so a crash
or kill leaves either the old version of a document or the new one, never half of one.
One `Store` belongs to one thread (apsw connections are not shared between threads);
other threads open their own `Store` on the same file (WAL lets readers run beside a writer).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from assistant import paths
from assistant.errors import UserError
from assistant.store import db, migrations
from assistant.store.terms import TermStats

DEFAULT_COLLECTION = "default"
# One scan of the vector table costs about as much as this many single-row lookups.
POINT_LOOKUPS_PER_SCAN = 500


@dataclass
class ChunkRow:
    page: int | None
    start: int
    end: int
    text: str
    place: str | None = None  # "slide 3: Results", "Sales!A2:D14": where, for non-page formats


@dataclass
class Document:
    id: int
    collection: str
    path: str
    size: int
    mtime: float
    hash: str | None
    kind: str | None
    title: str | None
    pages: int
    chunks: int
    status: str
    error: str | None
    warnings: list[str] = field(default_factory=list)
    indexed_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "collection": self.collection, "status": self.status,
            "error": self.error, "warnings": self.warnings, "kind": self.kind,
            "title": self.title, "size": self.size, "pages": self.pages, "chunks": self.chunks,
            "indexed_at": self.indexed_at,
        }


_DOC_COLUMNS = ("d.id, c.name, d.path, d.size, d.mtime, d.hash, d.kind, d.title, d.pages, "
                "d.chunks, d.status, d.error, d.warnings, d.indexed_at")


def _document(row: Sequence[Any]) -> Document:
    warnings = json.loads(row[12]) if row[12] else []
    return Document(int(row[0]), row[1], row[2], int(row[3]), float(row[4]), row[5], row[6],
                    row[7], int(row[8]), int(row[9]), row[10], row[11], warnings, row[13])


_STOP = {"the", "a", "an", "of", "is", "are", "was", "what", "how", "and", "or", "to",
         "in", "on", "for", "does", "do", "it", "its", "be", "by", "with", "at", "which",
         "who", "when", "where", "why", "that", "this", "my", "i", "me", "you", "about"}


def query_words(text: str) -> list[str]:
    """The words of free text worth matching: lower-cased, stop words out, each once."""
    words = re.findall(r"\w+", text.lower())
    kept = [w for w in words if w not in _STOP] or words
    return list(dict.fromkeys(kept))


def fts_query(text: str | Sequence[str]) -> str:
    """Turn free text (or its `query_words`) into a safe FTS5 query: each word quoted, any
    word may match."""
    words = query_words(text) if isinstance(text, str) else text
    return " OR ".join(f'"{w}"' for w in words)


class Store:
    """The library in one SQLite file (the default; `postgres.PgStore` is the shared one)."""

    backend = "sqlite"
    memory_vectors = True  # searches mirror the vectors in memory (search/vector_index.py)

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.db_path()
        self.conn = db.connect(self.path)
        with db.translate_errors(self.path):
            migrations.migrate(self.conn)
        self.terms = TermStats(self.conn)

    def close(self) -> None:
        self.conn.close()

    def reopen(self) -> Store:
        """Another connection to the same file (apsw connections stay in their thread)."""
        return Store(self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _counter(self, key: str) -> int:
        return self._scalar_args("SELECT value FROM meta WHERE key = ?", (key,))

    def _increment(self, key: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, 1) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1", (key,))

    def generation(self) -> int:
        """A number that changes with every write of chunks or collections (for caches of
        the store, and for listings that refresh when it moves)."""
        return self._counter("generation")

    def _bump(self) -> None:
        """Call inside a write transaction that adds or removes chunks or collections."""
        self._increment("generation")

    # --- collections -------------------------------------------------------------------
    def collection_id(self, name: str, create: bool = True) -> int | None:
        name = name.strip() or DEFAULT_COLLECTION
        row = self.conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("INSERT INTO collections(name, created) VALUES (?, ?)",
                              (name, time.time()))
            created = int(self.conn.last_insert_rowid())
            self._bump()  # after reading the new id: the bump inserts a row of its own
        return created

    def require_collection(self, name: str) -> int:
        cid = self.collection_id(name, create=False)
        if cid is None:
            known = ", ".join(self.collections()) or "none yet"
            raise UserError(f"There is no collection called '{name}' (collections: {known}).")
        return cid

    def collections(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM collections ORDER BY name")]

    def collection_embedders(self, ids: Sequence[int] | None = None) -> dict[int, str | None]:
        """{collection id: identity of the embedder that made its vectors (None: none yet)}."""
        rows = self.conn.execute("SELECT id, embedder FROM collections").fetchall()
        wanted = set(ids) if ids is not None else None
        out: dict[int, str | None] = {}
        for r in rows:
            cid = int(r[0])  # type: ignore[arg-type]
            if wanted is None or cid in wanted:
                out[cid] = str(r[1]) if r[1] is not None else None
        return out

    def collection_embedder(self, collection_id: int) -> str | None:
        row = self.conn.execute("SELECT embedder FROM collections WHERE id = ?",
                                (collection_id,)).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def _claim_embedder(self, collection_id: int, embedder: str | None) -> None:
        """Inside a write: record `embedder` for an empty collection, refuse a mismatch."""
        if embedder is None:
            return
        current = self.collection_embedder(collection_id)
        if current == embedder:
            return
        has_vectors = self.conn.execute(
            "SELECT 1 FROM chunks ch JOIN documents d ON d.id = ch.document_id "
            "WHERE d.collection_id = ? LIMIT 1", (collection_id,)).fetchone()
        if current is not None and has_vectors:
            raise UserError("This collection's passages were embedded by another model "
                            f"({current}); they must be re-embedded before more are added.")
        self.conn.execute("UPDATE collections SET embedder = ? WHERE id = ?",
                          (embedder, collection_id))

    def set_collection_embedder(self, collection_id: int, embedder: str) -> None:
        with db.translate_errors(self.path), self.conn:
            self._claim_embedder(collection_id, embedder)

    # --- re-embedding (staged, resumable, swapped in at once) ----------------------------
    def reembed_todo(self, collection_id: int, embedder: str,
                     limit: int = 256) -> list[tuple[int, str]]:
        """Chunks of the collection without a staged vector of `embedder`: [(id, text)]."""
        return [(int(r[0]), str(r[1])) for r in self.conn.execute(
            "SELECT ch.id, ch.text FROM chunks ch JOIN documents d ON d.id = ch.document_id "
            "WHERE d.collection_id = ? AND ch.id NOT IN (SELECT chunk_id FROM reembed_vectors "
            "WHERE collection_id = ? AND embedder = ?) ORDER BY ch.id LIMIT ?",
            (collection_id, collection_id, embedder, limit))]

    def reembed_counts(self, collection_id: int, embedder: str) -> tuple[int, int]:
        """(chunks with a staged vector of `embedder`, chunks in the collection)."""
        done = self._scalar_args(
            "SELECT count(*) FROM reembed_vectors r JOIN chunks ch ON ch.id = r.chunk_id "
            "WHERE r.collection_id = ? AND r.embedder = ?", (collection_id, embedder))
        total = self._scalar_args(
            "SELECT count(*) FROM chunks ch JOIN documents d ON d.id = ch.document_id "
            "WHERE d.collection_id = ?", (collection_id,))
        return done, total

    def stage_vectors(self, collection_id: int, embedder: str, ids: Sequence[int],
                      vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("DELETE FROM reembed_vectors WHERE collection_id = ? AND "
                              "embedder != ?", (collection_id, embedder))
            self.conn.executemany(
                "INSERT OR REPLACE INTO reembed_vectors(chunk_id, collection_id, embedder, "
                "embedding) VALUES (?, ?, ?, ?)",
                [(int(i), collection_id, embedder, v.tobytes()) for i, v in zip(ids, vecs,
                                                                                 strict=True)])

    def swap_vectors(self, collection_id: int, embedder: str) -> bool:
        """Put the staged vectors in place and record `embedder`, in one transaction.

        Returns False (and changes nothing) unless every chunk has a staged vector.
        """
        with db.translate_errors(self.path), self.conn:
            done, total = self.reembed_counts(collection_id, embedder)
            if done < total:
                return False
            for chunk_id, blob in self.conn.execute(
                    "SELECT chunk_id, embedding FROM reembed_vectors WHERE collection_id = ? "
                    "AND embedder = ?", (collection_id, embedder)).fetchall():
                self.conn.execute("UPDATE chunks_vec SET embedding = ? WHERE chunk_id = ?",
                                  (blob, chunk_id))
            self.conn.execute("DELETE FROM reembed_vectors WHERE collection_id = ?",
                              (collection_id,))
            self.conn.execute("UPDATE collections SET embedder = ? WHERE id = ?",
                              (embedder, collection_id))
            self._bump_epoch()
            self._bump()
        return True

    def vectors_epoch(self) -> int:
        """Changes when vectors are replaced in place (caches of vectors must reload)."""
        return self._counter("epoch")

    def _bump_epoch(self) -> None:
        self._increment("epoch")

    def _scalar_args(self, sql: str, args: tuple[Any, ...]) -> int:
        row = self.conn.execute(sql, args).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0  # type: ignore[arg-type]

    def rename_collection(self, old: str, new: str) -> None:
        if not new.strip():
            raise UserError("A collection needs a name.")
        if self.collection_id(new, create=False) is not None:
            raise UserError(f"A collection called '{new}' already exists.")
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("UPDATE collections SET name = ? WHERE name = ?", (new, old))
            self._bump()

    def delete_collection(self, name: str) -> None:
        cid = self.require_collection(name)
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("DELETE FROM chunks WHERE document_id IN "
                              "(SELECT id FROM documents WHERE collection_id = ?)", (cid,))
            self.conn.execute("DELETE FROM collections WHERE id = ?", (cid,))
            self._bump()

    # --- documents ---------------------------------------------------------------------
    def documents(self, collection: str | None = None) -> list[Document]:
        sql = f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id"
        args: tuple[Any, ...] = ()
        if collection is not None:
            sql += " WHERE c.name = ?"
            args = (collection,)
        sql += " ORDER BY c.name, d.path"
        return [_document(r) for r in self.conn.execute(sql, args)]

    def document(self, collection_id: int, path: str) -> Document | None:
        row = self.conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id "
            "WHERE d.collection_id = ? AND d.path = ?", (collection_id, path)).fetchone()
        return _document(row) if row else None

    def document_by_id(self, doc_id: int) -> Document | None:
        row = self.conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id "
            "WHERE d.id = ?", (doc_id,)).fetchone()
        return _document(row) if row else None

    def write_document(self, collection_id: int, path: str, *, size: int, mtime: float,
                       hash: str, kind: str, title: str | None, pages: int,
                       warnings: list[str], chunks: Sequence[ChunkRow],
                       vectors: np.ndarray, embedder: str | None = None) -> int:
        """Replace a document's row, chunks, FTS rows and vectors in one transaction.

        `embedder` names what made `vectors`; a collection never holds two embedders' vectors.
        """
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with db.translate_errors(self.path), self.conn:
            self._claim_embedder(collection_id, embedder)
            doc_id = self._upsert_document(
                collection_id, path, size=size, mtime=mtime, hash=hash, kind=kind, title=title,
                pages=pages, chunks=len(chunks), status="indexed", error=None, warnings=warnings)
            self.conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
            for seq, (chunk, vec) in enumerate(zip(chunks, vecs, strict=True)):
                self.conn.execute(
                    'INSERT INTO chunks(document_id, seq, page, start, "end", text, place) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, seq, chunk.page, chunk.start, chunk.end, chunk.text, chunk.place))
                chunk_id = self.conn.last_insert_rowid()
                self.conn.execute(
                    "INSERT INTO chunks_vec(chunk_id, collection_id, embedding, kind) "
                    "VALUES (?, ?, ?, ?)", (chunk_id, collection_id, vec.tobytes(), kind))
            self._bump()
        return doc_id

    def mark_failed(self, collection_id: int, path: str, *, size: int, mtime: float,
                    hash: str | None, error: str, kind: str | None = None) -> int:
        """Record a failure; any earlier indexed version of the file is dropped with it."""
        with db.translate_errors(self.path), self.conn:
            doc_id = self._upsert_document(
                collection_id, path, size=size, mtime=mtime, hash=hash, kind=kind, title=None,
                pages=0, chunks=0, status="failed", error=error, warnings=[])
            self.conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
            self._bump()
        return doc_id

    def mark_pending_many(self, collection_id: int, paths: Sequence[str]) -> None:
        """Note new files as waiting to be indexed (size and mtime 0: never 'unchanged')."""
        if not paths:
            return
        with db.translate_errors(self.path), self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO documents(collection_id, path, status) "
                "VALUES (?, ?, 'pending')", [(collection_id, p) for p in paths])

    def touch(self, doc_id: int, size: int, mtime: float) -> None:
        """The file's content is unchanged but its mtime moved: remember the new one."""
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("UPDATE documents SET size = ?, mtime = ? WHERE id = ?",
                              (size, mtime, doc_id))

    def _upsert_document(self, collection_id: int, path: str, **values: Any) -> int:
        values["warnings"] = json.dumps(values["warnings"]) if values["warnings"] else None
        values["indexed_at"] = time.time()
        row = self.conn.execute("SELECT id FROM documents WHERE collection_id = ? AND path = ?",
                                (collection_id, path)).fetchone()
        columns = list(values)
        if row:
            sets = ", ".join(f"{c} = ?" for c in columns)
            self.conn.execute(f"UPDATE documents SET {sets} WHERE id = ?",
                              (*values.values(), row[0]))
            return int(row[0])
        self.conn.execute(
            f"INSERT INTO documents(collection_id, path, {', '.join(columns)}) "
            f"VALUES (?, ?, {', '.join('?' for _ in columns)})",
            (collection_id, path, *values.values()))
        return int(self.conn.last_insert_rowid())

    def remove_document(self, doc_id: int) -> None:
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
            self.conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            self._bump()

    def remove_path(self, path: str, collection: str | None = None) -> int:
        """Remove a file, or every file under a folder; return how many documents went."""
        target = str(Path(path).expanduser().resolve()) if path else path
        removed = 0
        for doc in self.documents(collection):
            if paths.is_under(doc.path, target):
                self.remove_document(doc.id)
                removed += 1
        return removed

    def chunk_texts(self, doc_id: int) -> list[tuple[int, int | None, int, int, str]]:
        return [(int(r[0]), r[1], int(r[2]), int(r[3]), r[4]) for r in self.conn.execute(
            'SELECT id, page, start, "end", text FROM chunks WHERE document_id = ? ORDER BY seq',
            (doc_id,))]

    # --- search ------------------------------------------------------------------------
    def knn(self, vector: np.ndarray, k: int, collection_ids: Iterable[int],
            kind: str | None = None) -> list[tuple[int, float]]:
        """Nearest chunks by cosine distance: [(chunk_id, distance)], nearest first."""
        blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
        results: list[tuple[int, float]] = []
        for cid in collection_ids:
            sql = ("SELECT chunk_id, distance FROM chunks_vec WHERE embedding MATCH ? "
                   "AND k = ? AND collection_id = ?")
            args: list[Any] = [blob, k, cid]
            if kind:
                sql += " AND kind = ?"
                args.append(kind)
            results.extend((int(r[0]), float(r[1])) for r in self.conn.execute(sql, args))
        results.sort(key=lambda item: item[1])
        return results[:k]

    def keyword(self, text: str, k: int, collection_ids: Sequence[int],
                kind: str | None = None, path_prefix: str | None = None) -> list[tuple[int, float]]:
        """BM25 matches: [(chunk_id, bm25)], best first (bm25 is negative; lower is better).

        In a large store, words in a big share of the chunks are left out (see `terms`).
        """
        query = fts_query(self.terms.discriminating(query_words(text), self.generation()))
        if not query or not collection_ids:
            return []
        marks = ", ".join("?" for _ in collection_ids)
        sql = ("SELECT f.rowid, bm25(chunks_fts) AS rank FROM chunks_fts f "
               "JOIN chunks ch ON ch.id = f.rowid JOIN documents d ON d.id = ch.document_id "
               f"WHERE chunks_fts MATCH ? AND d.collection_id IN ({marks})")
        args: list[Any] = [query, *collection_ids]
        if kind:
            sql += " AND d.kind = ?"
            args.append(kind)
        if path_prefix:
            sql += " AND substr(d.path, 1, ?) = ?"
            args.extend([len(path_prefix), path_prefix])
        sql += " ORDER BY rank LIMIT ?"
        args.append(k)
        return [(int(r[0]), float(r[1])) for r in self.conn.execute(sql, args)]

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self.conn.execute(
            'SELECT ch.id, ch.document_id, d.path, ch.page, ch.start, ch."end", ch.text, '
            "c.name, d.kind, d.collection_id, d.title, ch.place FROM chunks ch "
            "JOIN documents d ON d.id = ch.document_id "
            f"JOIN collections c ON c.id = d.collection_id WHERE ch.id IN ({marks})", tuple(ids))
        return {int(r[0]): {"document_id": int(r[1]), "path": r[2], "page": r[3],
                            "start": int(r[4]), "end": int(r[5]), "text": r[6],
                            "collection": r[7], "kind": r[8], "collection_id": int(r[9]),
                            "title": r[10], "place": r[11]} for r in rows}

    def embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of `ids` (those that exist).

        sqlite-vec answers `chunk_id IN (...)` by scanning the whole table (3.5 s at 250,000
        chunks, whatever the number of ids) but `chunk_id = ?` by a lookup (a few ms): a few
        ids are looked up one by one, many are read in one scan.
        """
        if not ids:
            return {}
        unique = list(dict.fromkeys(int(i) for i in ids))
        if len(unique) * POINT_LOOKUPS_PER_SCAN < self.terms.total(self.generation()):
            rows = self.conn.executemany(
                "SELECT chunk_id, embedding FROM chunks_vec WHERE chunk_id = ?",
                [(i,) for i in unique])
        else:
            marks = ", ".join("?" for _ in unique)
            rows = self.conn.execute(
                f"SELECT chunk_id, embedding FROM chunks_vec WHERE chunk_id IN ({marks})",
                unique)
        return {int(r[0]): np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def chunk_layout(self) -> list[tuple[int, int, str | None]]:
        """[(chunk id, collection id, kind)] in id order."""
        return [(int(r[0]), int(r[1]), r[2]) for r in self.conn.execute(
            "SELECT ch.id, d.collection_id, d.kind FROM chunks ch "
            "JOIN documents d ON d.id = ch.document_id ORDER BY ch.id")]

    def iter_vectors(self, block: int = 4096) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Every stored vector in blocks of (chunk id, vector), in one scan of the table."""
        rows: list[tuple[int, np.ndarray]] = []
        for chunk_id, blob in self.conn.execute("SELECT chunk_id, embedding FROM chunks_vec"):
            rows.append((int(chunk_id), np.frombuffer(blob, dtype=np.float32)))
            if len(rows) >= block:
                yield rows
                rows = []
        if rows:
            yield rows

    # --- moving a library (push / pull: see transfer.py) ---------------------------------
    def meta_value(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def delete_meta(self, key: str) -> None:
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def ids_in_use(self, collection: str, doc_ids: Sequence[int],
                   chunk_ids: Sequence[int]) -> str | None:
        from assistant.store import sqlite_transfer

        return sqlite_transfer.ids_in_use(self, collection, doc_ids, chunk_ids)

    def export_documents(self, collection_id: int, after: int,
                         limit: int) -> list[dict[str, Any]]:
        from assistant.store import sqlite_transfer

        return sqlite_transfer.export_documents(self, collection_id, after, limit)

    def import_documents(self, collection_id: int, docs: Sequence[dict[str, Any]],
                         progress_key: str, progress: str) -> None:
        from assistant.store import sqlite_transfer

        sqlite_transfer.import_documents(self, collection_id, docs, progress_key, progress)

    # --- watched folders ---------------------------------------------------------------
    def watch(self, folder: str, collection: str) -> None:
        cid = self.collection_id(collection)
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("INSERT OR IGNORE INTO watched_folders(collection_id, path, added) "
                              "VALUES (?, ?, ?)", (cid, folder, time.time()))

    def unwatch(self, folder: str, collection: str) -> None:
        cid = self.collection_id(collection, create=False)
        with db.translate_errors(self.path), self.conn:
            self.conn.execute("DELETE FROM watched_folders WHERE collection_id = ? AND path = ?",
                              (cid, folder))

    def watched(self) -> list[tuple[str, str]]:
        """[(collection, folder)] for every watched folder."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT c.name, w.path FROM watched_folders w "
            "JOIN collections c ON c.id = w.collection_id ORDER BY c.name, w.path")]

    def stats(self) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM documents WHERE status = 'indexed'), "
            "(SELECT count(*) FROM documents WHERE status = 'failed'), "
            "(SELECT count(*) FROM chunks)").fetchone()
        assert row is not None
        return {"documents": int(row[0]), "failed": int(row[1]), "chunks": int(row[2])}

    def _scalar(self, sql: str) -> int:
        row = self.conn.execute(sql).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0  # type: ignore[arg-type]

    def check_consistency(self) -> list[str]:
        """Problems that should never exist (used by tests and `assistant doctor`)."""
        problems = []
        q = {
            "chunks without a document": "SELECT count(*) FROM chunks WHERE document_id NOT IN "
                                         "(SELECT id FROM documents)",
            "vectors without a chunk": "SELECT count(*) FROM chunks_vec WHERE chunk_id NOT IN "
                                       "(SELECT id FROM chunks)",
            "chunks without a vector": "SELECT count(*) FROM chunks WHERE id NOT IN "
                                       "(SELECT chunk_id FROM chunks_vec)",
            "documents whose chunk count is wrong": "SELECT count(*) FROM documents d WHERE "
                "d.chunks != (SELECT count(*) FROM chunks WHERE document_id = d.id)",
        }
        for label, sql in q.items():
            n = self._scalar(sql)
            if n:
                problems.append(f"{n} {label}")
        fts = self._scalar("SELECT count(*) FROM chunks_fts")
        chunks = self._scalar("SELECT count(*) FROM chunks")
        try:
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        except apsw.Error as exc:
            problems.append(f"keyword index damaged: {exc}")
        if fts != chunks:
            problems.append(f"keyword index has {fts} rows for {chunks} chunks")
        return problems
