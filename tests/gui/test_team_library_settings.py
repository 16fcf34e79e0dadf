"""Settings → Library (issue 23): the window switched to a team library on a real PostgreSQL.

The address is typed into the dialog, the connection tested (the sentence says how many
documents the library holds), Save switches the running window's workers to it, and the
window's own search then finds what another copy indexed there. A wrong port, a library made
by another embedder and an address with a password in it each read as one plain sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from assistant.ingest import Indexer
from assistant.store.pg_connect import KEYRING_SERVICE, keyring_key
from assistant.store.postgres import PgStore
from assistant.store.store import ChunkRow

QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"
NOT_PYTHON = ("Traceback", "Error", "psycopg", "Exception", "errno")


def _test(qtbot: Any, field: Any) -> Any:
    with qtbot.waitSignal(field.tested, timeout=60_000) as blocker:
        qtbot.mouseClick(field.test_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def _plain(sentence: str) -> bool:
    return sentence.endswith(".") and not any(word in sentence for word in NOT_PYTHON)


def test_settings_switch_the_window_to_a_team_library(qtbot, make_window, pg_url, docs_copy,
                                                      embedder, app_home,
                                                      memory_keyring) -> None:
    with PgStore(pg_url) as other_copy:  # what another copy of the app indexed there
        Indexer(other_copy, embedder).index([str(docs_copy)], "default")
        held = other_copy.stats()["documents"]
    assert held >= 3
    window = make_window(watch=False)
    before: list[str] = []
    window.backend.read(lambda store: store.backend, success=before.append)
    qtbot.waitUntil(lambda: bool(before), timeout=30_000)
    assert before == ["sqlite"]

    dialog = window.settings_controller.open_settings()
    qtbot.waitExposed(dialog)
    field = dialog.library_field
    assert not field.team and not field.url.isEnabled()
    field.choice.setCurrentIndex(field.choice.findData("team"))
    assert field.url.isEnabled() and field.test_button.isEnabled()
    field.url.setText(pg_url)
    field.password.setText("team-secret")
    check = _test(qtbot, field)
    assert check.ok, check.sentence
    assert f"holds {held} documents in 1 collection." in check.sentence
    assert _plain(check.sentence) and field.result.text() == check.sentence
    assert field.result.isVisible()

    switched: list[Any] = []
    window.settings_controller.applied.connect(switched.append)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(switched), timeout=10_000)
    assert "store_url" in switched[0]
    # the address is in the settings file without the password; the password is in the keyring
    saved = (app_home / "settings.json").read_text()
    assert json.loads(saved)["extra"]["store_url"] == pg_url and "team-secret" not in saved
    assert memory_keyring.saved[(KEYRING_SERVICE, keyring_key(pg_url))] == "team-secret"

    # the window's workers now search the team library
    found: list[Any] = []

    def search(ctx: Any) -> Any:
        hits = ctx.state["retriever"].search(QUESTION, 3)
        return ctx.state["store"].backend, [h.path for h in hits]

    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Now using"),
                    timeout=60_000)
    window.backend.model.submit(search, success=found.append)
    qtbot.waitUntil(lambda: bool(found), timeout=60_000)
    backend, paths = found[0]
    assert backend == "postgresql" and paths[0].endswith("handbook.pdf")
    listed: list[Any] = []
    window.backend.read(lambda store: (store.backend, len(store.documents("default"))),
                        success=listed.append)
    qtbot.waitUntil(lambda: bool(listed), timeout=30_000)
    assert listed == [("postgresql", held)]

    # and back to this computer's library, from the dialog again
    back = window.settings_controller.open_settings()
    qtbot.waitExposed(back)
    assert back.library_field.team and back.library_field.url.text() == pg_url
    back.library_field.choice.setCurrentIndex(back.library_field.choice.findData("local"))
    switched.clear()
    qtbot.mouseClick(back.buttons.button(QDialogButtonBox.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(switched), timeout=10_000)
    assert "store_url" not in json.loads((app_home / "settings.json").read_text())["extra"]
    qtbot.waitUntil(lambda: "this computer's library" in window.statusBar().currentMessage(),
                    timeout=60_000)
    found.clear()
    window.backend.model.submit(search, success=found.append)
    qtbot.waitUntil(lambda: bool(found), timeout=60_000)
    assert found[0] == ("sqlite", [])  # this computer's library is empty
    assert not window.context.failures


def test_a_library_that_cannot_be_used_is_a_sentence_and_save_waits(qtbot, make_window,
                                                                    pg_url, app_home) -> None:
    window = make_window(watch=False)
    dialog = window.settings_controller.open_settings()
    qtbot.waitExposed(dialog)
    field = dialog.library_field
    field.choice.setCurrentIndex(field.choice.findData("team"))

    field.url.setText("postgresql://kari@127.0.0.1:1/library")  # nothing listens on port 1
    check = _test(qtbot, field)
    assert not check.ok and _plain(check.sentence), check.sentence
    assert check.sentence.startswith("No PostgreSQL server answers at "
                                     "postgresql://kari@127.0.0.1:1/library")
    assert field.result.text() == check.sentence and field.result.isVisible()

    # Save tests an untested address first, and stays open when the test fails
    field.url.setText("postgresql://kari@127.0.0.1:2/library")
    with qtbot.waitSignal(field.tested, timeout=60_000):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save),
                         Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "No PostgreSQL server answers" in field.result.text()
    settings = app_home / "settings.json"
    assert not settings.exists() or "store_url" not in settings.read_text()

    # a password belongs in its own field, not in the address
    field.url.setText("postgresql://kari:hunter2@db.example.org/library")
    check = _test(qtbot, field)
    assert not check.ok and "password field" in check.sentence

    # a library whose passages another embedder made would not match this app's searches
    with PgStore(pg_url) as other:
        cid = other.collection_id("Old")
        other.write_document(cid, "/old.txt", size=1, mtime=1, hash="h", kind="text",
                             title=None, pages=0, warnings=[],
                             chunks=[ChunkRow(None, 0, 4, "text")],
                             vectors=_unit_vector(), embedder="another-model/v0")
    field.url.setText(pg_url)
    check = _test(qtbot, field)
    assert not check.ok and _plain(check.sentence), check.sentence
    assert "embedded by another-model/v0" in check.sentence
    dialog.reject()


def _unit_vector() -> Any:
    import numpy as np

    v = np.ones((1, 384), dtype=np.float32)
    return v / np.linalg.norm(v)


def _password_database(pg_server: Any, pg_url: str) -> tuple[str, Any]:
    """A database owned by a user who must give a password (scram, for that user alone: the
    session's other users keep the server's trust); returns its address and an undo."""
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        conn.execute("DROP ROLE IF EXISTS kari_pw")
        conn.execute("CREATE ROLE kari_pw LOGIN PASSWORD 'right-one'")
        database = pg_url.split("?", 1)[0].rsplit("/", 1)[1]
        conn.execute(f"ALTER DATABASE {database} OWNER TO kari_pw")
        before = hba.read_text()
        hba.write_text(f"local all kari_pw scram-sha-256\n{before}")
        conn.execute("SELECT pg_reload_conf()")
    with psycopg.connect(pg_url, autocommit=True) as conn:  # not a trusted extension
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("ALTER SCHEMA public OWNER TO kari_pw")

    def undo() -> None:
        hba.write_text(before)
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")

    return pg_url.replace("postgresql://postgres:@", "postgresql://kari_pw@"), undo


def test_the_password_is_tested_kept_in_the_keyring_and_used(qtbot, make_window, pg_server,
                                                             pg_url, docs_copy, embedder,
                                                             app_home,
                                                             memory_keyring) -> None:
    url, undo = _password_database(pg_server, pg_url)
    try:
        with PgStore(url, password="right-one") as other_copy:
            Indexer(other_copy, embedder).index([str(docs_copy)], "default")
        window = make_window(watch=False)
        dialog = window.settings_controller.open_settings()
        qtbot.waitExposed(dialog)
        field = dialog.library_field
        field.choice.setCurrentIndex(field.choice.findData("team"))
        field.url.setText(url)
        check = _test(qtbot, field)  # no password given, none saved
        assert not check.ok and "asks for a password" in check.sentence, check.sentence
        field.password.setText("wrong-one")
        check = _test(qtbot, field)
        assert not check.ok and "refused the password" in check.sentence, check.sentence
        assert _plain(check.sentence)
        field.password.setText("right-one")
        check = _test(qtbot, field)
        assert check.ok and "holds" in check.sentence, check.sentence

        switched: list[Any] = []
        window.settings_controller.applied.connect(switched.append)
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(switched), timeout=10_000)
        assert "right-one" not in (app_home / "settings.json").read_text()
        assert memory_keyring.saved[(KEYRING_SERVICE, keyring_key(url))] == "right-one"
        # the window's workers log in with the password from the keyring
        qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Now using"),
                        timeout=60_000)
        found: list[Any] = []
        window.backend.model.submit(
            lambda ctx: [h.path for h in ctx.state["retriever"].search(QUESTION, 3)],
            success=found.append)
        qtbot.waitUntil(lambda: bool(found), timeout=60_000)
        assert found[0][0].endswith("handbook.pdf")
        # opened again, the dialog shows the team library and that a password is saved
        again = window.settings_controller.open_settings()
        qtbot.waitExposed(again)
        assert again.library_field.team and again.library_field.url.text() == url
        assert again.library_field.password.text() == ""
        assert again.library_field.password.placeholderText() == "Saved in the system keyring"
        again.reject()
    finally:
        undo()


def test_a_library_gone_between_test_and_save_leaves_the_open_one(qtbot, make_window, pg_url,
                                                                  app_home,
                                                                  monkeypatch) -> None:
    """The network drops after the test passed: Save cannot open the library, says so in a
    sentence, and the window keeps (and the settings go back to) this computer's library."""
    from PySide6.QtWidgets import QApplication, QMessageBox
    from tcp_relay import Relay, unix_socket_of

    from assistant.store import pg_connect

    monkeypatch.setattr(pg_connect, "RETRY_SECONDS", 2.0)  # a minute in the app
    relay = Relay(unix_socket_of(pg_url))
    try:
        window = make_window(watch=False)
        first: list[str] = []
        window.backend.read(lambda store: store.backend, success=first.append)
        qtbot.waitUntil(lambda: bool(first), timeout=30_000)
        dialog = window.settings_controller.open_settings()
        qtbot.waitExposed(dialog)
        field = dialog.library_field
        field.choice.setCurrentIndex(field.choice.findData("team"))
        database = pg_url.split("?", 1)[0].rsplit("/", 1)[1]
        field.url.setText(f"postgresql://postgres@127.0.0.1:{relay.port}/{database}")
        assert _test(qtbot, field).ok
        relay.cut()  # the network goes away
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save),
                         Qt.MouseButton.LeftButton)

        def told() -> list[Any]:
            return [w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.isVisible()]

        qtbot.waitUntil(lambda: bool(told()), timeout=60_000)
        text = told()[0].text()
        assert text.startswith("No PostgreSQL server answers at postgresql://postgres@")
        assert text.endswith("The library that was open stays in use.") and _plain(text)
        told()[0].close()
        assert "store_url" not in json.loads((app_home / "settings.json").read_text())["extra"]
        after: list[Any] = []
        for worker in (window.backend.model, window.backend.indexing, window.backend.reader):
            worker.submit(lambda ctx: ctx.state.get("store") and ctx.state["store"].backend,
                          success=after.append)
        qtbot.waitUntil(lambda: len(after) == 3, timeout=60_000)
        assert all(b in ("sqlite", None) for b in after) and "sqlite" in after
    finally:
        relay.close()


def test_the_library_column_is_never_cut_off(qtbot, make_window) -> None:
    """Three columns on a 1366-pixel screen; on a 1024-pixel one the Library goes under the
    answers (the dialog scrolls down to it) rather than past the dialog's right edge."""
    from PySide6.QtCore import QRect

    window = make_window(watch=False)
    dialog = window.settings_controller.open_settings()
    qtbot.waitExposed(dialog)
    field = dialog.library_field
    for width, columns in ((1366, 3), (1024, 2), (1366, 3)):
        dialog.fit_screen(QRect(0, 0, width, 728))
        qtbot.wait(20)
        shown = [w for w in dialog.column_widgets if dialog.columns.indexOf(w) >= 0]
        assert len(shown) == columns, width
        body = dialog.body
        for widget in (field.choice, field.url, field.password, field.test_button,
                       dialog.fields["serve_library"]):
            left = widget.mapTo(body, widget.rect().topLeft())
            right = widget.mapTo(body, widget.rect().topRight())
            assert left.x() >= 0 and right.x() <= body.width(), (width, widget.objectName())
            assert dialog.scroll_area.viewport().width() >= body.width() - 1
    dialog.reject()


def test_what_another_copy_indexes_shows_in_the_window(qtbot, make_window, pg_url, docs_copy,
                                                       embedder, monkeypatch) -> None:
    """Two copies share a team library: what the other indexes appears in this window's
    listings by itself (the change counter is read every TEAM_POLL_MS; 10 s in the app)."""
    from assistant.gui.controllers import library as library_controller
    from assistant.store.team import use_library

    monkeypatch.setattr(library_controller, "TEAM_POLL_MS", 200)
    use_library(pg_url)
    window = make_window(watch=False)
    with qtbot.waitSignal(window.library.refreshed, timeout=30_000):
        window.library.refresh()  # the listing as it is before the other copy writes
    qtbot.waitUntil(lambda: window.library._seen_generation is not None, timeout=30_000)
    qtbot.wait(500)  # the window's own start-up work done; nothing else refreshes it now
    assert window.library.collection_counts.get("default") is None
    with PgStore(pg_url) as other_copy:
        Indexer(other_copy, embedder).index([str(docs_copy)], "default")
        held = other_copy.stats()["documents"]
        final = other_copy.generation()
    qtbot.waitUntil(lambda: window.library.collection_counts.get("default") is not None and
                    window.library.collection_counts["default"].documents == held,
                    timeout=30_000)
    assert f"{held} documents" in window.library.status_label.text()
    # let the polls and refreshes of the indexing settle, so only the rename can move it now
    qtbot.waitUntil(lambda: window.library._seen_generation == final, timeout=30_000)
    qtbot.wait(2 * library_controller.LIBRARY_REFRESH_MS + 500)
    assert "manuals" not in window.library.collection_counts
    with PgStore(pg_url) as other_copy:
        other_copy.rename_collection("default", "manuals")
    qtbot.waitUntil(lambda: "manuals" in window.library.collection_counts, timeout=30_000)
    assert window.library.collection_counts["manuals"].documents == held


def test_start_up_leaves_another_copys_waiting_files_alone(qtbot, pg_url, docs_copy,
                                                           embedder) -> None:
    """At start the window finishes files an interrupted run left waiting; on a team library
    a waiting file this computer does not have is another copy's, in its own run: the
    window neither reports it as unreadable nor touches it, and still finishes its own."""
    from assistant.gui.app import create_application
    from assistant.gui.backend import Backend
    from assistant.settings import Settings
    from assistant.store.team import use_library

    create_application()
    use_library(pg_url)
    mine = str(docs_copy / "guide.md")
    with PgStore(pg_url) as other_copy:
        cid = other_copy.collection_id("default")
        other_copy.mark_pending_many(cid, ["/home/someone-else/report.txt", mine])
    backend = Backend(Settings(), embedder=embedder)
    got: list[Any] = []
    try:
        backend.check_library(progress=lambda _: None, success=got.append)
        qtbot.waitUntil(lambda: bool(got), timeout=120_000)
    finally:
        backend.shutdown()
    summary = got[0]
    assert summary.failed == [] and summary.indexed == [mine]
    with PgStore(pg_url) as server:
        status = {d.path: d.status for d in server.documents("default")}
    assert status == {"/home/someone-else/report.txt": "pending", mine: "indexed"}
