"""Reaching a PostgreSQL library: the URL, the password (keyring), the pool and retries.

Why a module of its own: the password must never reach the settings file or an error
message, and a server that is down or restarting must read as one sentence and a retry,
not a traceback. The store (`postgres.py`) runs every unit of work through `Connection.run`,
which gives it one transaction and replays it after a dropped connection; each unit is one
whole transaction, so a replay can neither lose nor double anything.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from assistant.errors import StoreError, UserError

log = logging.getLogger(__name__)
# The pool logs every failed reconnection as a warning; `Connection.retrying` says it once,
# in a sentence, instead.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
T = TypeVar("T")

SCHEMES = ("postgresql", "postgres")
KEYRING_SERVICE = "knowledge-assistant-postgresql"
PASSWORD_ENV = "ASSISTANT_PG_PASSWORD"
RETRY_SECONDS = 60.0  # how long a unit of work keeps retrying a server that is away
CONNECT_TIMEOUT = 5


def is_url(target: object) -> bool:
    """True when `target` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in SCHEMES \
        and "://" in target


def redacted(url: str) -> str:
    """The URL as it may be shown: user, host, port and database, never a password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if not host:  # a Unix socket given as ?host=/path
        for pair in parts.query.split("&"):
            if pair.startswith("host="):
                host = unquote(pair[5:])
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return f"postgresql://{user}{host}{parts.path}"


def keyring_key(url: str) -> str:
    """The keyring entry of a server: one password per user, host, port and database."""
    return redacted(url)


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password it carried or None)."""
    parts = urlsplit(url)
    if not parts.password:
        return url, None
    netloc = parts.netloc.rsplit("@", 1)
    user = quote(unquote(parts.username or ""), safe="")
    clean = parts._replace(netloc=f"{user}@{netloc[1]}")
    return urlunsplit(clean), unquote(parts.password)


def _keyring() -> Any | None:
    """The system keyring, or None where this system has no usable backend."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    # keyring's first call imports its backends, and a module imported then keeps that call's
    # frames alive, with every caller's locals (the CLI's loaded model among them, whose
    # finaliser then fails noisily at exit). Detecting it on a thread of its own keeps the
    # caller's frames out of that chain; later calls reuse the detected backend.
    detect = threading.Thread(target=keyring.get_keyring, name="keyring-detect", daemon=True)
    detect.start()
    detect.join()
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return keyring


def save_password(url: str, password: str) -> str:
    """Keep `password` for the server of `url`; returns where it went, in words."""
    ring = _keyring()
    if ring is None:
        raise UserError("This system has no keyring to keep the password in; set the "
                        f"environment variable {PASSWORD_ENV} to it instead.")
    ring.set_password(KEYRING_SERVICE, keyring_key(url), password)
    return "the system keyring"


def find_password(url: str) -> str | None:
    """The password for `url`: the environment variable first, then the keyring."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    ring = _keyring()
    if ring is None:
        return None
    try:
        found: str | None = ring.get_password(KEYRING_SERVICE, keyring_key(url))
    except Exception as exc:  # a locked or broken keyring: say so, carry on without
        log.warning("the keyring could not be read: %s", exc)
        return None
    return found


def conninfo(url: str, password: str | None = None) -> tuple[str, dict[str, Any]]:
    """(URL without password, keyword arguments for psycopg). TLS options such as
    `sslmode`, `sslrootcert` and `sslcert` stay in the URL and reach libpq unchanged.
    The password: `password` (one typed but not saved yet), the URL's, else the saved one."""
    clean, given = split_password(url)
    if password is None:
        password = given if given is not None else find_password(clean)
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    if password:
        kwargs["password"] = password
    return clean, kwargs


def retryable(exc: BaseException) -> bool:
    """A dropped or refused connection, or a server shutting down or starting up."""
    import psycopg
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    if isinstance(exc, PoolTimeout | errors.AdminShutdown | errors.CannotConnectNow |
                  errors.CrashShutdown | errors.SerializationFailure |
                  errors.DeadlockDetected):
        return True
    if isinstance(exc, errors.InsufficientPrivilege | errors.InvalidPassword |
                  errors.InvalidAuthorizationSpecification | errors.InvalidCatalogName):
        return False
    return isinstance(exc, psycopg.OperationalError) and not _auth_failure(exc)


def _auth_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "password" in text or "authentication" in text or "does not exist" in text \
        or "no pg_hba.conf" in text


def sentence(exc: BaseException, where: str) -> str | None:
    """A sentence for a failure a person can act on; None means a bug in our SQL."""
    import psycopg
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    if isinstance(exc, errors.DiskFull):
        return f"The PostgreSQL server {where} has no disk space left; what was saved is kept."
    if isinstance(exc, errors.InsufficientPrivilege):
        return (f"The PostgreSQL user at {where} may not do this ({_first_line(exc)}); ask the "
                "server's administrator for the rights.")
    if _auth_failure(exc) and isinstance(exc, psycopg.OperationalError):
        return (f"PostgreSQL at {where} refused the login ({_first_line(exc)}). Save the "
                f"password with 'assistant library password' or set {PASSWORD_ENV}.")
    if isinstance(exc, PoolTimeout):  # its own text names the pool, not the server
        return (f"The PostgreSQL server at {where} cannot be reached (no connection could "
                "be made). Check that it is running and reachable, then try again; what was "
                "saved before is kept.")
    if isinstance(exc, psycopg.OperationalError):
        return (f"The PostgreSQL server at {where} cannot be reached ({_first_line(exc)}). "
                "Check that it is running and reachable, then try again; what was saved "
                "before is kept.")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__


def _say(message: str) -> None:
    print(f"assistant: {message}", file=sys.stderr, flush=True)


class Connection:
    """A psycopg pool for one server and a way to run transactions on it with retries."""

    def __init__(self, url: str, *, max_size: int = 8, retry_seconds: float | None = None,
                 on_retry: Callable[[str], None] | None = _say,
                 configure: Callable[[Any], None] | None = None,
                 password: str | None = None) -> None:
        import psycopg  # noqa: F401 - fail early with a sentence when the driver is missing
        from psycopg_pool import ConnectionPool

        self.url, self._kwargs = conninfo(url, password)
        self.where = redacted(url)
        self.retry_seconds = RETRY_SECONDS if retry_seconds is None else retry_seconds
        self.on_retry = on_retry
        self._kwargs["autocommit"] = True
        # No check on every borrow (a round trip each: a third of a search's time); a
        # connection found broken fails its unit of work, and `retrying` then has the pool
        # check its idle connections before the replay.
        self.pool = ConnectionPool(self.url, kwargs=self._kwargs, min_size=1,
                                   max_size=max_size, open=False, configure=configure,
                                   timeout=CONNECT_TIMEOUT + 1, name="assistant-store")

    def open(self) -> None:
        """Open the pool once the schema exists (its connections register the vector type).

        The pool is also closed at exit, so its worker threads end before the interpreter."""
        self.pool.open(wait=False)
        atexit.register(self.close)
        self.run(lambda conn: None, transaction=False)

    def connect_once(self) -> Any:
        """A plain connection outside the pool (migrations, before types are registered)."""
        import psycopg

        return psycopg.connect(self.url, **self._kwargs)

    def close(self) -> None:
        self.pool.close()
        atexit.unregister(self.close)

    def run(self, work: Callable[[Any], T], *, transaction: bool = True) -> T:
        """`work(conn)` in one transaction on a pooled connection; replayed after a dropped
        or refused connection, with waits doubling from 0.5 s, for up to `retry_seconds`."""
        def attempt() -> T:
            with self.pool.connection() as conn:
                if not transaction:
                    return work(conn)
                with conn.transaction():
                    return work(conn)
        return self.retrying(attempt)

    def run_direct(self, work: Callable[[Any], T]) -> T:
        """`work(conn)` on a connection of its own (outside the pool), with the same retries."""
        def attempt() -> T:
            with self.connect_once() as conn:
                return work(conn)
        return self.retrying(attempt)

    def retrying(self, attempt: Callable[[], T]) -> T:
        delay, deadline = 0.5, time.monotonic() + self.retry_seconds
        told = False
        while True:
            try:
                result = attempt()
                if told and self.on_retry is not None:
                    self.on_retry(f"The PostgreSQL server at {self.where} answers again; "
                                  "carrying on.")
                return result
            except Exception as exc:
                if not retryable(exc):
                    message = sentence(exc, self.where)
                    if message is None:
                        raise
                    raise StoreError(message) from exc
                if time.monotonic() + delay > deadline:
                    raise StoreError(sentence(exc, self.where) or str(exc)) from exc
                if self.on_retry is not None and not told:
                    self.on_retry(f"The PostgreSQL server at {self.where} is not answering "
                                  f"({_first_line(exc)}); retrying for up to "
                                  f"{self.retry_seconds:.0f} s.")
                    told = True
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
                with contextlib.suppress(Exception):  # drop the other broken connections
                    self.pool.check()
