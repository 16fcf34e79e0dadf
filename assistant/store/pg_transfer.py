"""Copying whole documents out of and into a PostgreSQL library with their own ids (push/pull).

The shapes match `sqlite_transfer`, so `transfer.py` moves a collection either way. Incoming
ids are written as they are, after the identity sequences are moved past them, so rows the
app adds later (by any writer) never take a copied number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.errors import UserError

# `store` is typed Any: naming its class here would import the module that imports this
# one (an import circle, tests/unit/test_architecture.py).


def ids_in_use(store: Any, collection: str, doc_ids: Sequence[int],
               chunk_ids: Sequence[int]) -> str | None:
    """The path of a document outside `collection` that holds one of these ids, if any."""
    row = store._one(
        "SELECT d.path FROM documents d JOIN collections c ON c.id = d.collection_id "
        "WHERE c.name != %s AND (d.id = ANY(%s) OR EXISTS (SELECT 1 FROM chunks ch "
        "WHERE ch.document_id = d.id AND ch.id = ANY(%s))) LIMIT 1",
        (collection, [int(i) for i in doc_ids], [int(i) for i in chunk_ids]))
    return str(row[0]) if row else None


def export_documents(store: Any, collection_id: int, after: int,
                     limit: int) -> list[dict[str, Any]]:
    """Up to `limit` documents with id above `after`, id order, with chunks and vectors."""
    docs = [dict(zip(("id", "path", "size", "mtime", "hash", "kind", "title", "pages",
                      "status", "error", "warnings", "indexed_at"), r, strict=True))
            for r in store._all(
                "SELECT id, path, size, mtime, hash, kind, title, pages, status, error, "
                "warnings, indexed_at FROM documents WHERE collection_id = %s AND id > %s "
                "ORDER BY id LIMIT %s", (collection_id, after, limit))]
    if not docs:
        return []
    rows = store._all('SELECT document_id, id, seq, page, start, "end", text, place, '
                     "embedding FROM chunks WHERE document_id = ANY(%s) ORDER BY "
                     "document_id, seq", ([d["id"] for d in docs],), binary=True)
    by_doc: dict[int, list[Any]] = {}
    for r in rows:
        by_doc.setdefault(int(r[0]), []).append(r)
    for d in docs:
        mine = by_doc.get(d["id"], [])
        d["chunks"] = [dict(zip(("id", "seq", "page", "start", "end", "text", "place"),
                                r[1:8], strict=True)) for r in mine]
        d["vectors"] = np.stack([r[8] for r in mine]) if mine else \
            np.zeros((0, 0), np.float32)
    return docs


def import_documents(store: Any, collection_id: int, docs: Sequence[dict[str, Any]],
                     progress_key: str, progress: str) -> None:
    """Write copied documents with their own document and chunk ids, and the copy's
    progress, in one transaction. An id held by another document is refused."""
    def work(conn: Any) -> None:
        ids = [int(d["id"]) for d in docs]
        chunk_ids = [int(c["id"]) for d in docs for c in d["chunks"]]
        top = max([*ids, 0]), max([*chunk_ids, 0])
        for table, most in zip(("documents", "chunks"), top, strict=True):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"GREATEST(%s, (SELECT last_value FROM "
                         f"{table}_id_seq)))", (most,))
        clash = conn.execute(
            "SELECT d.id, d.path FROM documents d JOIN unnest(%s::bigint[], %s::text[]) "
            "AS x(id, path) ON x.id = d.id WHERE d.collection_id != %s OR d.path != x.path "
            "LIMIT 1", (ids, [d["path"] for d in docs], collection_id)).fetchone()
        if clash is None:
            clash = conn.execute(
                "SELECT ch.id, d.path FROM chunks ch JOIN documents d ON "
                "d.id = ch.document_id WHERE ch.id = ANY(%s) AND ch.document_id != "
                "ALL(%s) LIMIT 1", (chunk_ids, ids)).fetchone()
        if clash is not None:
            raise UserError(_clash_message(clash[1]))
        conn.execute("DELETE FROM documents WHERE collection_id = %s AND path = ANY(%s) "
                     "AND id != ALL(%s)", (collection_id, [d["path"] for d in docs], ids))
        conn.execute("DELETE FROM chunks WHERE document_id = ANY(%s)", (ids,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO documents(id, collection_id, path, size, mtime, hash, kind, "
                "title, pages, chunks, status, error, warnings, indexed_at) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) "
                "DO UPDATE SET size = EXCLUDED.size, mtime = EXCLUDED.mtime, "
                "hash = EXCLUDED.hash, kind = EXCLUDED.kind, title = EXCLUDED.title, "
                "pages = EXCLUDED.pages, chunks = EXCLUDED.chunks, status = "
                "EXCLUDED.status, error = EXCLUDED.error, warnings = EXCLUDED.warnings, "
                "indexed_at = EXCLUDED.indexed_at",
                [(d["id"], collection_id, d["path"], d["size"], d["mtime"], d["hash"],
                  d["kind"], d["title"], d["pages"], len(d["chunks"]), d["status"],
                  d["error"], d["warnings"], d["indexed_at"]) for d in docs])
        store._insert_chunks(conn, [
            (c["id"], d["id"], collection_id, d["kind"], c["seq"], c["page"], c["start"],
             c["end"], c["text"], c["place"], v)
            for d in docs for c, v in zip(d["chunks"], d["vectors"], strict=True)], True)
        conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) "
                     "DO UPDATE SET value = EXCLUDED.value", (progress_key, progress))
        store._bump(conn)
    store.db.run(work)


def _clash_message(path: str) -> str:
    return (f"The target already holds passages with the same numbers from another library "
            f"({path}), so citations could not be kept; move the library to an empty "
            "database or collection.")
