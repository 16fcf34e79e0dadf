"""Testing a team library's address (`assistant.store.team.check_library`, behind Settings →
Library and `library use`) on the session's real PostgreSQL: each way it can fail is one
plain sentence that says what to do."""

from __future__ import annotations

import psycopg

from assistant.store.team import check_library

NOT_PYTHON = ("Traceback", "Error", "psycopg", "Exception")


def _plain(sentence: str) -> bool:
    return sentence.endswith(".") and not any(w in sentence for w in NOT_PYTHON)


def test_an_empty_library_passes_and_says_so(pg_url) -> None:
    check = check_library(pg_url, embedder="model-a")
    assert check.ok and check.documents == 0 and check.collections == 0
    assert check.sentence.endswith("the library holds 0 documents in 0 collections.")


def test_no_such_database_is_a_sentence(pg_url) -> None:
    url = pg_url.replace(pg_url.split("?", 1)[0].rsplit("/", 1)[1] + "?", "nosuchdb?")
    check = check_library(url)
    assert not check.ok and _plain(check.sentence), check.sentence
    assert "has no database called 'nosuchdb'" in check.sentence


def test_no_such_user_is_a_sentence(pg_url) -> None:
    check = check_library(pg_url.replace("postgresql://postgres:@", "postgresql://nobody@"))
    assert not check.ok and _plain(check.sentence), check.sentence
    assert "knows no user called 'nobody'" in check.sentence


def test_a_user_without_rights_is_told_to_ask_for_them(pg_server, pg_url) -> None:
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader_only")
        conn.execute("CREATE ROLE reader_only LOGIN")
    check = check_library(pg_url.replace("postgresql://postgres:@", "postgresql://reader_only@"))
    assert not check.ok and "ask the server's administrator for the rights" in check.sentence
    assert check.sentence.endswith("."), check.sentence
