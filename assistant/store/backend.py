"""Which store to open: the local SQLite file (the default) or a PostgreSQL library.

A store target is either a path (or None: the app's own file) or a `postgresql://` URL.
`assistant library use URL` makes a PostgreSQL library the default of the command line, the
window and `assistant serve` (kept in the settings file, without its password); `--store` overrides it for one command. Every
store says its `backend` ("sqlite" or "postgresql"), so a collection, reached through its
store, knows where it lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.store.pg_connect import is_url, split_password

SETTING = "store_url"  # in the settings file's free-form part (Settings → Library sets it too)


def default_target(settings: Any = None) -> str | None:
    """The team library set with `assistant library use` (or Settings → Library), or None for
    the local library; read from `settings` where given, else from the settings file."""
    from assistant.settings import Settings

    settings = settings if settings is not None else Settings()
    url = str(settings.extra.get(SETTING) or "").strip()
    return url if is_url(url) else None


def set_default_target(url: str | None, settings: Any = None) -> None:
    """Make `url` the app's library (None: this computer's), in `settings` (the window's own
    object, so its later saves keep it) or the settings file. Never with a password."""
    from assistant.errors import UserError
    from assistant.settings import Settings

    if url is not None:
        if not is_url(url):
            raise UserError(f"A team library address starts with postgresql:// (got '{url}').")
        if split_password(url)[1] is not None:
            raise UserError("Leave the password out of the address; save it with "
                            "'assistant library password'.")
    settings = settings if settings is not None else Settings()
    if url is None:
        settings.extra.pop(SETTING, None)
    else:
        settings.extra[SETTING] = url
    settings.save()


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
