"""The document store: SQLite (through apsw) with FTS5 and sqlite-vec."""
