"""Connection addresses of a team library: the password never shown or saved, and where it
comes from when the URL leaves it out (issue 23)."""

from __future__ import annotations

import pytest

from assistant.cli.main import main
from assistant.errors import UserError
from assistant.store import pg_connect


def test_redacted_never_shows_the_password() -> None:
    url = "postgresql://kari:s3cret%21@db.example.org:5433/library?sslmode=verify-full"
    assert pg_connect.redacted(url) == "postgresql://kari@db.example.org:5433/library"
    clean, password = pg_connect.split_password(url)
    assert password == "s3cret!" and "s3cret" not in clean
    assert clean.endswith("?sslmode=verify-full")  # TLS options pass through to libpq
    socket = "postgresql://postgres:@/t1?host=/tmp/pg"
    assert pg_connect.split_password(socket) == (socket, None)
    assert pg_connect.redacted(socket) == "postgresql://postgres@/tmp/pg/t1"


def test_the_password_comes_from_the_environment_without_a_keyring(monkeypatch) -> None:
    monkeypatch.setenv(pg_connect.PASSWORD_ENV, "from-env")
    clean, kwargs = pg_connect.conninfo("postgresql://kari@db.example.org/library")
    assert kwargs["password"] == "from-env" and "from-env" not in clean
    monkeypatch.delenv(pg_connect.PASSWORD_ENV)
    if pg_connect._keyring() is None:
        assert "password" not in pg_connect.conninfo("postgresql://kari@h/db")[1]


def test_no_keyring_is_one_sentence(monkeypatch, capsys) -> None:
    monkeypatch.setattr(pg_connect, "_keyring", lambda: None)  # force: no keyring backend
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("pw\n"))
    assert main(["library", "password", "postgresql://kari@h/db"]) == 1
    err = capsys.readouterr().err
    assert "no keyring" in err and pg_connect.PASSWORD_ENV in err and "Traceback" not in err


def test_the_default_library_is_kept_without_a_password(app_home, capsys) -> None:
    from assistant.store.backend import default_target, set_default_target

    url = "postgresql://kari@db.example.org/library?sslmode=require"
    set_default_target(url)
    assert default_target() == url
    assert "sslmode=require" in (app_home / "settings.json").read_text()
    with pytest.raises(UserError, match="Leave the password out"):
        set_default_target("postgresql://kari:pw@db.example.org/library")
    assert main(["library", "use", "mysql://kari@db/library"]) == 1
    assert "starts with postgresql://" in capsys.readouterr().err
    assert ":pw@" not in (app_home / "settings.json").read_text()
    assert main(["library", "use", "--local"]) == 0
    assert default_target() is None


def test_is_url() -> None:
    assert pg_connect.is_url("postgresql://h/db") and pg_connect.is_url("postgres://h/db")
    assert not pg_connect.is_url("/home/kari/library.db")
    assert not pg_connect.is_url("postgresql.db")
