"""Choosing the team library: test an address, then make it the app's library (Qt-free).

Why a module of its own: the settings window's "Test connection" and "Save" and the command
line's `library use` must say the same things and save the same way (the address in the
settings file without its password, the password in the keyring through
`pg_connect.save_password`). Every failure a person can meet here (no server, a refused
login, a missing database, no pgvector, vectors from another embedder) comes back as one
plain sentence, never an exception's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import UserError

CHECK_RETRY_SECONDS = 0.0  # a test answers at once: no minute of retries behind a button


@dataclass
class LibraryCheck:
    """What testing an address found: `ok` and a sentence that says it either way."""

    ok: bool
    sentence: str
    documents: int = 0
    collections: int = 0


def check_address(url: str) -> str | None:
    """Why `url` cannot be a team library's address (a sentence), or None when it can."""
    from assistant.store.pg_connect import is_url, split_password

    url = url.strip()
    if not url:
        return "Enter the team library's address, such as postgresql://you@server/library."
    if not is_url(url):
        return f"A team library's address starts with postgresql:// (got '{url}')."
    if split_password(url)[1] is not None:
        return "Leave the password out of the address; it goes in the password field."
    return None


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def check_library(url: str, *, password: str | None = None,
                  embedder: str | None = None) -> LibraryCheck:
    """Connect to the library at `url` (with `password`, else the saved one), count what it
    holds, and check its collections were embedded by `embedder` (this app's identity).
    Like `library use`, it makes or upgrades the app's tables there: a user who may not is
    told so now, not at the first index."""
    from assistant.store.pg_connect import redacted

    problem = check_address(url)
    if problem is not None:
        return LibraryCheck(False, problem)
    url = url.strip()
    where = redacted(url)
    try:
        from assistant.store.postgres import PgStore

        store = PgStore(url, retry_seconds=CHECK_RETRY_SECONDS, password=password or None,
                        max_connections=1)
    except ImportError:
        return LibraryCheck(False, "A team library needs the psycopg driver, which is not "
                                   "installed; run the set-up again.")
    except UserError as exc:
        return LibraryCheck(False, failure_sentence(exc, where))
    try:
        names = store.collections()
        documents = store.stats()["documents"]
        others = sorted({e for e in store.collection_embedders().values()
                         if e is not None and e != embedder}) if embedder else []
    except UserError as exc:
        return LibraryCheck(False, failure_sentence(exc, where))
    finally:
        store.close()
    if others:
        return LibraryCheck(
            False, f"Connected to {where}, but its passages were embedded by {others[0]}, "
                   f"and this app embeds with {embedder}: its searches would not match "
                   "them. Use a library made by the same version of the app.",
            documents, len(names))
    return LibraryCheck(True, f"Connected to {where}: the library holds "
                              f"{_plural(documents, 'document')} in "
                              f"{_plural(len(names), 'collection')}.", documents, len(names))


def failure_sentence(exc: BaseException, where: str) -> str:
    """A failure to reach the library at `where`, in words a person can act on."""
    cause = exc.__cause__ or exc
    text = str(cause).lower()
    try:
        from psycopg import OperationalError, errors
    except ImportError:  # pragma: no cover - PgStore could not have been made either
        return str(exc)
    if isinstance(cause, errors.InvalidPassword) or "password authentication failed" in text:
        return f"The server at {where} refused the password; check it and try again."
    if "no password supplied" in text:
        return f"The server at {where} asks for a password; enter it and try again."
    parts = urlsplit(where)
    if isinstance(cause, errors.InvalidCatalogName) or ("database" in text and
                                                        "does not exist" in text):
        return (f"The server at {where} answered, but it has no database called "
                f"'{parts.path.rsplit('/', 1)[-1]}'; check the name after the last slash of "
                "the address.")
    if "role" in text and "does not exist" in text:
        return (f"The server at {where} answered, but it knows no user called "
                f"'{parts.username or ''}'; check the name before the @ of the address.")
    if "no pg_hba.conf entry" in text:
        return (f"The server at {where} does not let this computer in (its pg_hba.conf); "
                "ask its administrator.")
    if isinstance(cause, OperationalError) and ("ssl" in text or "certificate" in text):
        return (f"The secure connection to {where} failed; check the address's sslmode and "
                "certificate options.")
    if isinstance(cause, OperationalError):
        return (f"No PostgreSQL server answers at {where}; check the address and port, and "
                "that the server is running.")
    if isinstance(exc, UserError):
        return str(exc)  # already a sentence of ours (no pgvector, no rights, a full disk)
    return (f"The library at {where} could not be opened; check the address, or ask the "
            "server's administrator.")


def use_library(url: str | None, *, password: str | None = None, settings: Any = None) -> str:
    """Make `url` the library of the window, the command line and `assistant serve` (None:
    this computer's). A given password goes to the keyring first, through the same function
    as `assistant library password`; the address is saved without it. Returns a sentence."""
    from assistant.store.backend import set_default_target
    from assistant.store.pg_connect import redacted, save_password

    if url is None:
        set_default_target(None, settings)
        return "The library on this computer is used again."
    url = url.strip()
    problem = check_address(url)
    if problem is not None:
        raise UserError(problem)
    if password:
        save_password(url, password)
    set_default_target(url, settings)
    return f"The team library at {redacted(url)} is used from now on."
