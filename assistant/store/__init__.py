"""The document store: SQLite (through apsw) with FTS5 and sqlite-vec."""

from assistant.store.store import ChunkRow, Document, Store, fts_query

__all__ = ["ChunkRow", "Document", "Store", "fts_query"]
