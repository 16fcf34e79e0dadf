"""Opening the store: the SQLite binding, sqlite-vec, pragmas and error mapping.

apsw is used rather than the standard `sqlite3` module because many Pythons (pyenv builds,
macOS system Python) cannot load SQLite extensions, and sqlite-vec is an extension. apsw
ships its own current SQLite with FTS5.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import sqlite_vec

from assistant.errors import StoreError

BUSY_TIMEOUT_MS = 10_000


def mount_point(path: Path | str) -> Path:
    """The folder where the disk (file system) holding `path` is mounted."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    try:
        device = current.stat().st_dev
        while current != current.parent and current.parent.stat().st_dev == device:
            current = current.parent
    except OSError:
        pass
    return current


def _free_space(path: Path) -> str:
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return "no"
    if free >= 1 << 30:
        return f"{free / (1 << 30):.1f} GB"
    if free >= 1 << 20:
        return f"{free / (1 << 20):.1f} MB"
    return f"{free // 1024} KB"


def _is_full(path: Path | str) -> bool:
    try:
        return shutil.disk_usage(mount_point(path)).free < 256 * 1024
    except OSError:
        return False


def disk_full_message(path: Path | str, what: str = "the document store") -> str:
    """A sentence naming the full disk, what could not be written, and what to do."""
    disk = mount_point(path)
    return (f"The disk at {disk} is full ({_free_space(disk)} free), so {what} ({path}) "
            "cannot be written. Free some space there and try again; what was saved before "
            "is kept.")


def _known_error(exc: apsw.Error, path: Path | str) -> StoreError | None:
    """Map SQLite failures the user can act on to a sentence; None means a bug."""
    if isinstance(exc, apsw.FullError) or (
            isinstance(exc, apsw.Error) and getattr(exc, "extendedresult", 0) == 13):
        return StoreError(disk_full_message(path))
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        return StoreError(f"The document store {path} is busy in another program. "
                          "Close other copies of the app and try again.")
    if isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        return StoreError(f"The document store {path} is damaged. Move it away and re-index.")
    if isinstance(exc, apsw.CantOpenError | apsw.ReadOnlyError | apsw.PermissionsError):
        return StoreError(f"The document store {path} cannot be written. Check its permissions.")
    if isinstance(exc, apsw.IOError):
        if _is_full(path):  # some write paths report a full disk as a plain I/O error
            return StoreError(disk_full_message(path))
        return StoreError(f"Reading or writing {path} failed (disk error).")
    return None


@contextlib.contextmanager
def translate_errors(path: Path | str) -> Iterator[None]:
    """Re-raise known SQLite failures as StoreError; let bugs through unchanged."""
    try:
        yield
    except apsw.Error as exc:
        known = _known_error(exc, path)
        if known is None:
            raise
        raise known from exc


def _switch_to_wal(conn: apsw.Connection) -> None:
    """Put the file in WAL mode, waiting as long as the busy timeout for other openers.

    SQLite does not call the busy handler while one connection turns a new file to WAL and
    another is reading its header, so copies opening a new store at once would otherwise
    fail at once with "database is locked"; here they retry until the timeout instead.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def connect(path: Path | str) -> apsw.Connection:
    """Open (and create) a store file with sqlite-vec loaded and the pragmas we rely on."""
    with translate_errors(path):
        conn = apsw.Connection(str(path))
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        if str(path) != ":memory:":
            _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-32000")
    return conn
