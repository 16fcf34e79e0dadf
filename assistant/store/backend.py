"""Which store to open: the local SQLite file (the default) or a PostgreSQL library.

A store target is either a path (or None: the app's own file) or a `postgresql://` URL.
The `store_url` setting makes a PostgreSQL library the default for the CLI; `--store`
overrides it for one command. Every store says its `backend` ("sqlite" or "postgresql"),
so a collection, reached through its store, knows where it lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.store.pg_connect import is_url


def default_target() -> str | None:
    """The `store_url` setting, or None for the local library."""
    from assistant.settings import Settings

    url = str(Settings().get("store_url") or "").strip()
    return url or None


def open_store(target: str | Path | None = None, **options: Any) -> Any:
    """A `Store` for a path (None: the setting, else the app's file), a `PgStore` for a URL."""
    if target is None:
        target = default_target()
    if isinstance(target, str) and is_url(target):
        try:
            from assistant.store.postgres import PgStore
        except ImportError as exc:
            from assistant.errors import UserError

            raise UserError("A PostgreSQL library needs the psycopg driver, which is not "
                            f"installed ({exc}); run the set-up again.") from exc
        return PgStore(target, **options)
    from assistant.store.store import Store

    return Store(target)
