"""Copying whole documents out of and into a SQLite store with their own ids (push/pull).

Why ids are kept: saved conversations cite passages by chunk id, so a library moved to a
server (or back) must hold the same chunk under the same number. The shapes match
`PgStore.export_documents` / `import_documents`, so `transfer.py` moves either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.errors import UserError
from assistant.store import db

# `store` is typed Any: naming its class here would import the module that imports this
# one (an import circle, tests/unit/test_architecture.py).

DOC_FIELDS = ("id", "path", "size", "mtime", "hash", "kind", "title", "pages", "status",
              "error", "warnings", "indexed_at")
CHUNK_FIELDS = ("id", "seq", "page", "start", "end", "text", "place")


def export_documents(store: Any, collection_id: int, after: int,
                     limit: int) -> list[dict[str, Any]]:
    """Up to `limit` documents with id above `after`, in id order, with chunks and vectors."""
    docs = [dict(zip(DOC_FIELDS, r, strict=True)) for r in store.conn.execute(
        f"SELECT {', '.join(DOC_FIELDS)} FROM documents WHERE collection_id = ? AND id > ? "
        "ORDER BY id LIMIT ?", (collection_id, after, limit))]
    for d in docs:
        chunks = [dict(zip(CHUNK_FIELDS, r, strict=True)) for r in store.conn.execute(
            'SELECT id, seq, page, start, "end", text, place FROM chunks '
            "WHERE document_id = ? ORDER BY seq", (d["id"],))]
        found = store.embeddings([c["id"] for c in chunks])
        d["chunks"] = chunks
        d["vectors"] = np.stack([found[c["id"]] for c in chunks]) if chunks else \
            np.zeros((0, 0), np.float32)
    return docs


def ids_in_use(store: Any, collection: str, doc_ids: Sequence[int],
               chunk_ids: Sequence[int]) -> str | None:
    """The path of a document outside `collection` that holds one of these ids, if any."""
    for table, ids, sql in (
            ("documents", doc_ids, "SELECT d.path FROM documents d"),
            ("chunks", chunk_ids, "SELECT d.path FROM chunks ch JOIN documents d ON "
                                  "d.id = ch.document_id")):
        key = "d.id" if table == "documents" else "ch.id"
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start:start + 500]]
            row = store.conn.execute(
                f"{sql} JOIN collections c ON c.id = d.collection_id WHERE c.name != ? AND "
                f"{key} IN ({', '.join('?' for _ in part)}) LIMIT 1",
                (collection, *part)).fetchone()
            if row is not None:
                return str(row[0])
    return None


def _clash(store: Any, collection_id: int, docs: Sequence[dict[str, Any]]) -> str | None:
    """The path of a document on this store that holds one of the incoming ids, if any."""
    for d in docs:
        row = store.conn.execute("SELECT collection_id, path FROM documents WHERE id = ?",
                                 (d["id"],)).fetchone()
        if row is not None and (int(row[0]) != collection_id or row[1] != d["path"]):
            return str(row[1])
        for c in d["chunks"]:
            row = store.conn.execute(
                "SELECT d.path FROM chunks ch JOIN documents d ON d.id = ch.document_id "
                "WHERE ch.id = ? AND ch.document_id != ?", (c["id"], d["id"])).fetchone()
            if row is not None:
                return str(row[0])
    return None


def import_documents(store: Any, collection_id: int, docs: Sequence[dict[str, Any]],
                     progress_key: str, progress: str) -> None:
    """Write copied documents with their ids, and the copy's progress, in one transaction."""
    with db.translate_errors(store.path), store.conn:
        where = _clash(store, collection_id, docs)
        if where is not None:
            raise UserError("This library already holds passages with the same numbers from "
                            f"another library ({where}), so citations could not be kept; "
                            "pull into a new store or collection.")
        for d in docs:
            old = store.conn.execute("SELECT id FROM documents WHERE collection_id = ? AND "
                                     "path = ? AND id != ?",
                                     (collection_id, d["path"], d["id"])).fetchone()
            for doc_id in ([old[0]] if old else []) + [d["id"]]:
                store.conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
            if old:
                store.conn.execute("DELETE FROM documents WHERE id = ?", (old[0],))
            store.conn.execute(
                "INSERT OR REPLACE INTO documents(id, collection_id, path, size, mtime, hash, "
                "kind, title, pages, chunks, status, error, warnings, indexed_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (d["id"], collection_id, d["path"], d["size"], d["mtime"], d["hash"],
                 d["kind"], d["title"], d["pages"], len(d["chunks"]), d["status"], d["error"],
                 d["warnings"], d["indexed_at"]))
            vecs = np.ascontiguousarray(d["vectors"], dtype=np.float32)
            for c, v in zip(d["chunks"], vecs, strict=True):
                store.conn.execute(
                    'INSERT INTO chunks(id, document_id, seq, page, start, "end", text, place) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (c["id"], d["id"], c["seq"], c["page"], c["start"], c["end"], c["text"],
                     c["place"]))
                store.conn.execute(
                    "INSERT INTO chunks_vec(chunk_id, collection_id, embedding, kind) "
                    "VALUES (?, ?, ?, ?)", (c["id"], collection_id, v.tobytes(), d["kind"]))
        store.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                           "DO UPDATE SET value = excluded.value", (progress_key, progress))
        store._bump()
