"""The document store on PostgreSQL with pgvector: the same public interface as `Store`.

Why: a team shares one library on a server; the desktop default stays SQLite. Every method
is one unit of work run by `pg_connect.Connection.run`: one transaction, replayed after a
dropped connection. Each unit is idempotent as a whole (a document is upserted and its
chunks replaced), so a replay after a commit whose answer was lost changes nothing.

Concurrency comes from PostgreSQL itself: writers of different documents touch different
rows (`INSERT ... ON CONFLICT` locks only the document's row), writers of one collection
share its row (`FOR SHARE`), and a vector swap takes it exclusively (`FOR UPDATE`). One
`PgStore` may be used from many threads (the pool hands each its own connection).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant import paths
from assistant.errors import UserError
from assistant.store import pg_migrations, pg_terms, pg_transfer, pg_vector
from assistant.store.pg_connect import Connection, redacted
from assistant.store.pg_terms import PgTermStats
from assistant.store.store import DEFAULT_COLLECTION, ChunkRow, Document, query_words

HNSW_EF_MIN = 120  # candidates HNSW keeps: at least twice the rows asked for (max 1000);
# a search asks for 60 (SearchConfig.depth) unless k is larger

_DOC_COLUMNS = ("d.id, c.name, d.path, d.size, d.mtime, d.hash, d.kind, d.title, d.pages, "
                "d.chunks, d.status, d.error, d.warnings, d.indexed_at")


def _document(row: Sequence[Any]) -> Document:
    warnings = json.loads(row[12]) if row[12] else []
    return Document(int(row[0]), row[1], row[2], int(row[3]), float(row[4]), row[5], row[6],
                    row[7], int(row[8]), int(row[9]), row[10], row[11], warnings, row[13])


def _configure(conn: Any) -> None:
    """Each new pooled connection: the vector type, and HNSW's candidate list for the usual
    search depth (so a search is one statement, outside a transaction)."""
    pg_vector.register(conn)
    conn.execute(f"SET hnsw.ef_search = {HNSW_EF_MIN}")


class PgStore:
    """A library on a PostgreSQL server (with the pgvector extension)."""

    backend = "postgresql"
    memory_vectors = False  # the server's HNSW index answers; nothing is mirrored in memory

    def __init__(self, url: str, *, retry_seconds: float | None = None,
                 max_connections: int = 8, password: str | None = None) -> None:
        kwargs: dict[str, Any] = {"max_size": max_connections, "configure": _configure,
                                  "password": password}
        if retry_seconds is not None:
            kwargs["retry_seconds"] = retry_seconds
        self.db = Connection(url, **kwargs)
        self.url = url
        self.path = redacted(url)  # shown in messages; never holds the password
        self.terms = PgTermStats(pg_migrations.TEXT_CONFIG)
        self.db.run_direct(self._migrate)
        self.db.open()

    def _migrate(self, conn: Any) -> None:
        from psycopg import errors

        from assistant.errors import StoreError

        try:
            pg_migrations.migrate(conn)
        except (errors.FeatureNotSupported, errors.UndefinedFile) as exc:
            raise StoreError(f"The PostgreSQL server at {self.path} has no pgvector "
                             "extension; install pgvector there (it is the 'vector' "
                             "extension) and try again.") from exc

    def reopen(self) -> PgStore:
        return PgStore(self.url)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- small helpers -----------------------------------------------------------------
    def _all(self, sql: str, args: Sequence[Any] = (), binary: bool = False) -> list[Any]:
        return self.db.run(lambda c: c.execute(sql, args, binary=binary).fetchall(),
                           transaction=False)

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.db.run(lambda c: c.execute(sql, args).fetchone(), transaction=False)

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> int:
        row = self._one(sql, args)
        return int(row[0]) if row is not None and row[0] is not None else 0

    @staticmethod
    def _bump(conn: Any) -> None:
        conn.execute("SELECT nextval('generation_seq')")

    def generation(self) -> int:
        """Changes with every write of chunks or collections (a sequence: no writer waits on
        it). Other copies of the app read it to know when to refresh their listings."""
        return self._scalar("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                            "FROM generation_seq")

    def vectors_epoch(self) -> int:
        return self._scalar("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                            "FROM epoch_seq")

    # --- collections -------------------------------------------------------------------
    def collection_id(self, name: str, create: bool = True) -> int | None:
        name = name.strip() or DEFAULT_COLLECTION
        row = self._one("SELECT id FROM collections WHERE name = %s", (name,))
        if row:
            return int(row[0])
        if not create:
            return None

        def work(conn: Any) -> int:
            conn.execute("INSERT INTO collections(name, created) VALUES (%s, %s) "
                         "ON CONFLICT (name) DO NOTHING", (name, time.time()))
            self._bump(conn)  # other copies' collection lists change
            return int(conn.execute("SELECT id FROM collections WHERE name = %s",
                                    (name,)).fetchone()[0])
        return self.db.run(work)

    def require_collection(self, name: str) -> int:
        cid = self.collection_id(name, create=False)
        if cid is None:
            known = ", ".join(self.collections()) or "none yet"
            raise UserError(f"There is no collection called '{name}' (collections: {known}).")
        return cid

    def collections(self) -> list[str]:
        return [r[0] for r in self._all("SELECT name FROM collections ORDER BY name")]

    def collection_embedders(self, ids: Sequence[int] | None = None) -> dict[int, str | None]:
        rows = self._all("SELECT id, embedder FROM collections")
        wanted = set(ids) if ids is not None else None
        return {int(r[0]): r[1] for r in rows if wanted is None or int(r[0]) in wanted}

    def collection_embedder(self, collection_id: int) -> str | None:
        row = self._one("SELECT embedder FROM collections WHERE id = %s", (collection_id,))
        return str(row[0]) if row and row[0] is not None else None

    def _claim_embedder(self, conn: Any, collection_id: int, embedder: str | None) -> None:
        """Inside a write: record `embedder` for an empty collection, refuse a mismatch.

        Writers hold the collection's row FOR SHARE (they do not wait for each other); the
        first writer of an empty collection records its embedder with a guarded UPDATE."""
        if embedder is None:
            return
        conn.execute("UPDATE collections SET embedder = %s WHERE id = %s AND embedder IS NULL",
                     (embedder, collection_id))
        row = conn.execute("SELECT embedder FROM collections WHERE id = %s FOR SHARE",
                           (collection_id,)).fetchone()
        current = row[0] if row else None
        if current == embedder:
            return
        has_vectors = conn.execute("SELECT 1 FROM chunks WHERE collection_id = %s LIMIT 1",
                                   (collection_id,)).fetchone()
        if current is not None and has_vectors:
            raise UserError("This collection's passages were embedded by another model "
                            f"({current}); they must be re-embedded before more are added.")
        conn.execute("UPDATE collections SET embedder = %s WHERE id = %s",
                     (embedder, collection_id))

    def set_collection_embedder(self, collection_id: int, embedder: str) -> None:
        self.db.run(lambda c: self._claim_embedder(c, collection_id, embedder))

    def rename_collection(self, old: str, new: str) -> None:
        if not new.strip():
            raise UserError("A collection needs a name.")
        if self.collection_id(new, create=False) is not None:
            raise UserError(f"A collection called '{new}' already exists.")
        def work(conn: Any) -> None:
            conn.execute("UPDATE collections SET name = %s WHERE name = %s", (new, old))
            self._bump(conn)  # other copies show the new name at their next look
        self.db.run(work)

    def delete_collection(self, name: str) -> None:
        cid = self.require_collection(name)

        def work(conn: Any) -> None:
            conn.execute("DELETE FROM collections WHERE id = %s", (cid,))  # cascades
            self._bump(conn)
        self.db.run(work)

    # --- re-embedding (staged, resumable, swapped in at once) ----------------------------
    def reembed_todo(self, collection_id: int, embedder: str,
                     limit: int = 256) -> list[tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in self._all(
            "SELECT ch.id, ch.text FROM chunks ch WHERE ch.collection_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM reembed_vectors r WHERE r.chunk_id = ch.id AND r.embedder = %s) "
            "ORDER BY ch.id LIMIT %s", (collection_id, embedder, limit))]

    def reembed_counts(self, collection_id: int, embedder: str) -> tuple[int, int]:
        row = self._one(
            "SELECT (SELECT count(*) FROM reembed_vectors r JOIN chunks ch ON ch.id = r.chunk_id"
            " WHERE r.collection_id = %s AND r.embedder = %s), "
            "(SELECT count(*) FROM chunks WHERE collection_id = %s)",
            (collection_id, embedder, collection_id))
        return int(row[0]), int(row[1])

    def stage_vectors(self, collection_id: int, embedder: str, ids: Sequence[int],
                      vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        rows = [(int(i), collection_id, embedder, v) for i, v in zip(ids, vecs, strict=True)]

        def work(conn: Any) -> None:
            conn.execute("DELETE FROM reembed_vectors WHERE collection_id = %s AND "
                         "embedder != %s", (collection_id, embedder))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO reembed_vectors(chunk_id, collection_id, embedder, embedding) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (chunk_id) DO UPDATE SET "
                    "embedder = EXCLUDED.embedder, embedding = EXCLUDED.embedding", rows)
        self.db.run(work)

    def swap_vectors(self, collection_id: int, embedder: str) -> bool:
        """Put the staged vectors in place and record `embedder`, in one transaction."""
        def work(conn: Any) -> bool:
            conn.execute("SELECT 1 FROM collections WHERE id = %s FOR UPDATE", (collection_id,))
            row = conn.execute(
                "SELECT (SELECT count(*) FROM reembed_vectors WHERE collection_id = %s AND "
                "embedder = %s), (SELECT count(*) FROM chunks WHERE collection_id = %s)",
                (collection_id, embedder, collection_id)).fetchone()
            if int(row[0]) < int(row[1]):
                return False
            conn.execute("UPDATE chunks ch SET embedding = r.embedding FROM reembed_vectors r "
                         "WHERE r.chunk_id = ch.id AND r.collection_id = %s AND r.embedder = %s",
                         (collection_id, embedder))
            conn.execute("DELETE FROM reembed_vectors WHERE collection_id = %s", (collection_id,))
            conn.execute("UPDATE collections SET embedder = %s WHERE id = %s",
                         (embedder, collection_id))
            conn.execute("SELECT nextval('epoch_seq')")
            self._bump(conn)
            return True
        return self.db.run(work)

    # --- documents ---------------------------------------------------------------------
    def documents(self, collection: str | None = None) -> list[Document]:
        sql = f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id"
        args: tuple[Any, ...] = ()
        if collection is not None:
            sql += " WHERE c.name = %s"
            args = (collection,)
        return [_document(r) for r in self._all(sql + " ORDER BY c.name, d.path", args)]

    def document(self, collection_id: int, path: str) -> Document | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON "
                        "c.id = d.collection_id WHERE d.collection_id = %s AND d.path = %s",
                        (collection_id, path))
        return _document(row) if row else None

    def document_by_id(self, doc_id: int) -> Document | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents d JOIN collections c ON "
                        "c.id = d.collection_id WHERE d.id = %s", (doc_id,))
        return _document(row) if row else None

    @staticmethod
    def _upsert_document(conn: Any, collection_id: int, path: str, **values: Any) -> int:
        values["warnings"] = json.dumps(values["warnings"]) if values["warnings"] else None
        values["indexed_at"] = time.time()
        cols = list(values)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
        row = conn.execute(
            f"INSERT INTO documents(collection_id, path, {', '.join(cols)}) "
            f"VALUES (%s, %s, {', '.join('%s' for _ in cols)}) "
            f"ON CONFLICT (collection_id, path) DO UPDATE SET {sets} RETURNING id",
            (collection_id, path, *values.values())).fetchone()
        return int(row[0])

    @staticmethod
    def _insert_chunks(conn: Any, rows: list[tuple[Any, ...]], with_ids: bool) -> None:
        """COPY the chunks in binary (vectors as raw float32s): fast for big batches."""
        cols = ['document_id', 'collection_id', 'kind', 'seq', 'page', 'start', '"end"',
                'text', 'place', 'embedding']
        types = ["int8", "int8", "text", "int4", "int4", "int4", "int4", "text", "text",
                 "vector"]
        if with_ids:
            cols, types = ["id", *cols], ["int8", *types]
        with conn.cursor() as cur, cur.copy(
                f"COPY chunks ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def write_document(self, collection_id: int, path: str, *, size: int, mtime: float,
                       hash: str, kind: str, title: str | None, pages: int,
                       warnings: list[str], chunks: Sequence[ChunkRow],
                       vectors: np.ndarray, embedder: str | None = None) -> int:
        """Replace a document's row, chunks and vectors in one transaction."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)

        def work(conn: Any) -> int:
            self._claim_embedder(conn, collection_id, embedder)
            doc_id = self._upsert_document(
                conn, collection_id, path, size=size, mtime=mtime, hash=hash, kind=kind,
                title=title, pages=pages, chunks=len(chunks), status="indexed", error=None,
                warnings=list(warnings))
            conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
            self._insert_chunks(conn, [
                (doc_id, collection_id, kind, seq, c.page, c.start, c.end, c.text, c.place, v)
                for seq, (c, v) in enumerate(zip(chunks, vecs, strict=True))], False)
            self._bump(conn)
            return doc_id
        return self.db.run(work)

    def mark_failed(self, collection_id: int, path: str, *, size: int, mtime: float,
                    hash: str | None, error: str, kind: str | None = None) -> int:
        def work(conn: Any) -> int:
            doc_id = self._upsert_document(
                conn, collection_id, path, size=size, mtime=mtime, hash=hash, kind=kind,
                title=None, pages=0, chunks=0, status="failed", error=error, warnings=[])
            conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
            self._bump(conn)
            return doc_id
        return self.db.run(work)

    def mark_pending_many(self, collection_id: int, paths: Sequence[str]) -> None:
        if not paths:
            return

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO documents(collection_id, path, status) VALUES "
                                "(%s, %s, 'pending') ON CONFLICT DO NOTHING",
                                [(collection_id, p) for p in paths])
        self.db.run(work)

    def touch(self, doc_id: int, size: int, mtime: float) -> None:
        self.db.run(lambda c: c.execute("UPDATE documents SET size = %s, mtime = %s "
                                        "WHERE id = %s", (size, mtime, doc_id)))

    def remove_document(self, doc_id: int) -> None:
        def work(conn: Any) -> None:
            conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))  # chunks cascade
            self._bump(conn)
        self.db.run(work)

    def remove_path(self, path: str, collection: str | None = None) -> int:
        target = str(Path(path).expanduser().resolve()) if path else path
        removed = 0
        for doc in self.documents(collection):
            if paths.is_under(doc.path, target):
                self.remove_document(doc.id)
                removed += 1
        return removed

    def chunk_texts(self, doc_id: int) -> list[tuple[int, int | None, int, int, str]]:
        return [(int(r[0]), r[1], int(r[2]), int(r[3]), r[4]) for r in self._all(
            'SELECT id, page, start, "end", text FROM chunks WHERE document_id = %s '
            "ORDER BY seq", (doc_id,))]

    # --- search ------------------------------------------------------------------------
    def knn(self, vector: np.ndarray, k: int, collection_ids: Iterable[int],
            kind: str | None = None) -> list[tuple[int, float]]:
        """Nearest chunks by cosine distance through the HNSW index, nearest first.

        HNSW filters after its walk, so a filter (some collections, one kind) can leave fewer
        than `k`; then the same query runs exactly, without the index."""
        cids = [int(c) for c in collection_ids]
        if k <= 0 or not cids:
            return []
        q = np.ascontiguousarray(vector, dtype=np.float32)
        where: list[str] = ["collection_id = ANY(%s)"]
        args: list[Any] = [cids]
        if kind:
            where.append("kind = %s")
            args.append(kind)
        sql = (f"SELECT id, embedding <=> %s AS d FROM chunks WHERE {' AND '.join(where)} "
               "ORDER BY embedding <=> %s LIMIT %s")
        ef = min(1000, max(HNSW_EF_MIN, 2 * k))

        def work(conn: Any) -> list[tuple[int, float]]:
            if ef > HNSW_EF_MIN:  # the session's setting (see _configure) is too small
                conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
            rows = conn.execute(sql, (q, *args, q, k)).fetchall()
            if len(rows) < k:  # a filter ate HNSW's candidates, or a tiny store: exact
                with conn.transaction():
                    conn.execute("SET LOCAL enable_indexscan = off")
                    rows = conn.execute(sql, (q, *args, q, k)).fetchall()
            return [(int(r[0]), float(r[1])) for r in rows]
        return self.db.run(work, transaction=ef > HNSW_EF_MIN)

    def exact_knn(self, vector: np.ndarray, k: int) -> list[int]:
        """The true nearest chunks (no index): for measuring the HNSW index's recall."""
        q = np.ascontiguousarray(vector, dtype=np.float32)

        def work(conn: Any) -> list[int]:
            conn.execute("SET LOCAL enable_indexscan = off")
            return [int(r[0]) for r in conn.execute(
                "SELECT id FROM chunks ORDER BY embedding <=> %s LIMIT %s", (q, k))]
        return self.db.run(work)

    def keyword(self, text: str, k: int, collection_ids: Sequence[int],
                kind: str | None = None, path_prefix: str | None = None) -> list[tuple[int, float]]:
        """Full-text matches through the GIN index, scored by IDF-weighted ts_rank
        (`pg_terms`): [(chunk_id, -score)], best first (negated so that, as with SQLite's
        bm25, lower is better)."""
        if not collection_ids or k <= 0:
            return []
        weights = self.terms.weights(query_words(text), self._all)
        if not weights:
            return []
        match, narrowed = self.terms.match_query(weights)
        hits = self._keyword(weights, match, k, collection_ids, kind, path_prefix)
        if narrowed and len(hits) < k:  # too few chunks hold the rarest words or a pair
            hits = self._keyword(weights, pg_terms.plain_query(weights), k, collection_ids,
                                 kind, path_prefix)
        return hits

    def _keyword(self, weights: Sequence[tuple[str, float]], match: str, k: int,
                 collection_ids: Sequence[int], kind: str | None,
                 path_prefix: str | None) -> list[tuple[int, float]]:
        """The chunks that `match` (a tsquery) picks, ranked on all the weighted words."""
        rank, args = self.terms.rank_sql(weights)
        sql = f"SELECT ch.id, {rank} AS r FROM chunks ch "
        if path_prefix:
            sql += "JOIN documents d ON d.id = ch.document_id "
        sql += (f"WHERE ch.tsv @@ to_tsquery('{pg_migrations.TEXT_CONFIG}', %s) "
                "AND ch.collection_id = ANY(%s)")
        args += [match, [int(c) for c in collection_ids]]
        if kind:
            sql += " AND ch.kind = %s"
            args.append(kind)
        if path_prefix:
            sql += " AND starts_with(d.path, %s)"
            args.append(path_prefix)
        sql += " ORDER BY r DESC, ch.id LIMIT %s"
        args.append(k)
        return [(int(r[0]), -float(r[1])) for r in self._all(sql, args)]

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self._all(
            'SELECT ch.id, ch.document_id, d.path, ch.page, ch.start, ch."end", ch.text, '
            "c.name, d.kind, d.collection_id, d.title, ch.place FROM chunks ch "
            "JOIN documents d ON d.id = ch.document_id "
            "JOIN collections c ON c.id = d.collection_id WHERE ch.id = ANY(%s)",
            ([int(i) for i in ids],))
        return {int(r[0]): {"document_id": int(r[1]), "path": r[2], "page": r[3],
                            "start": int(r[4]), "end": int(r[5]), "text": r[6],
                            "collection": r[7], "kind": r[8], "collection_id": int(r[9]),
                            "title": r[10], "place": r[11]} for r in rows}

    def embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        rows = self._all("SELECT id, embedding FROM chunks WHERE id = ANY(%s)",
                         ([int(i) for i in ids],), binary=True)
        return {int(r[0]): r[1] for r in rows}

    def chunk_layout(self) -> list[tuple[int, int, str | None]]:
        """[(chunk id, collection id, kind)] in id order."""
        return [(int(r[0]), int(r[1]), r[2]) for r in self._all(
            "SELECT id, collection_id, kind FROM chunks ORDER BY id")]

    def iter_vectors(self, block: int = 4096) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Every stored vector, in blocks of (chunk id, vector) in id order."""
        last = 0
        while True:
            rows = self._all("SELECT id, embedding FROM chunks WHERE id > %s ORDER BY id "
                             "LIMIT %s", (last, block), binary=True)
            if not rows:
                return
            yield [(int(r[0]), r[1]) for r in rows]
            last = int(rows[-1][0])

    # --- watched folders ---------------------------------------------------------------
    def watch(self, folder: str, collection: str) -> None:
        cid = self.collection_id(collection)
        self.db.run(lambda c: c.execute(
            "INSERT INTO watched_folders(collection_id, path, added) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING", (cid, folder, time.time())))

    def unwatch(self, folder: str, collection: str) -> None:
        cid = self.collection_id(collection, create=False)
        self.db.run(lambda c: c.execute(
            "DELETE FROM watched_folders WHERE collection_id = %s AND path = %s", (cid, folder)))

    def watched(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._all(
            "SELECT c.name, w.path FROM watched_folders w "
            "JOIN collections c ON c.id = w.collection_id ORDER BY c.name, w.path")]

    def stats(self) -> dict[str, int]:
        row = self._one("SELECT (SELECT count(*) FROM documents WHERE status = 'indexed'), "
                        "(SELECT count(*) FROM documents WHERE status = 'failed'), "
                        "(SELECT count(*) FROM chunks)")
        return {"documents": int(row[0]), "failed": int(row[1]), "chunks": int(row[2])}

    def disk_bytes(self) -> int:
        """Bytes the library's tables and indexes take on the server."""
        return self._scalar("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                            "n.nspname = current_schema() AND c.relkind = 'r'")

    def check_consistency(self) -> list[str]:
        """Problems that should never exist (used by tests and `assistant doctor`)."""
        checks = {
            "chunks without a document": "SELECT count(*) FROM chunks WHERE document_id NOT "
                                         "IN (SELECT id FROM documents)",
            "chunks filed under the wrong collection": "SELECT count(*) FROM chunks ch JOIN "
                "documents d ON d.id = ch.document_id WHERE ch.collection_id != d.collection_id",
            "documents whose chunk count is wrong": "SELECT count(*) FROM documents d WHERE "
                "d.chunks != (SELECT count(*) FROM chunks WHERE document_id = d.id)",
            "chunks without keywords": "SELECT count(*) FROM chunks WHERE tsv IS NULL",
        }
        problems = []
        for label, sql in checks.items():
            n = self._scalar(sql)
            if n:
                problems.append(f"{n} {label}")
        return problems

    # --- moving a library (push / pull) -----------------------------------------------
    def meta_value(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return str(row[0]) if row else None

    def delete_meta(self, key: str) -> None:
        self.db.run(lambda c: c.execute("DELETE FROM meta WHERE key = %s", (key,)))

    def ids_in_use(self, collection: str, doc_ids: Sequence[int],
                   chunk_ids: Sequence[int]) -> str | None:
        return pg_transfer.ids_in_use(self, collection, doc_ids, chunk_ids)

    def export_documents(self, collection_id: int, after: int,
                         limit: int) -> list[dict[str, Any]]:
        return pg_transfer.export_documents(self, collection_id, after, limit)

    def import_documents(self, collection_id: int, docs: Sequence[dict[str, Any]],
                         progress_key: str, progress: str) -> None:
        pg_transfer.import_documents(self, collection_id, docs, progress_key, progress)
