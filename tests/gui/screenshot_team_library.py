"""Screenshot of Settings → Library with a team library tested (issue 23).

Not a test (no `test_` prefix). It starts a private PostgreSQL with pgserver, reaches it over
TCP on 127.0.0.1:5432 through `tests/tcp_relay.py` (pgserver listens on a Unix socket only),
makes a user and a database for the team, indexes tests/data/docs there with the real
embedder, then opens the settings dialog sized for a 1366×768 screen, chooses the team
library, presses "Test connection" and saves the dialog as it looks then:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/gui/screenshot_team_library.py [OUT.png]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "resources" / "screenshots" / "13-settings-team-library.png"
PORT = 5432


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = Path(tempfile.mkdtemp(prefix="ka-team-shot-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT

    import pgserver
    import psycopg
    from tcp_relay import Relay, unix_socket_of

    folder = Path(tempfile.mkdtemp(prefix="ka-team-pg-"))
    folder.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    relay = Relay(unix_socket_of(server.get_uri()), port=PORT)
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE ROLE kari LOGIN")
            conn.execute("CREATE DATABASE library OWNER kari")
        with psycopg.connect(server.get_uri("library"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
        url = f"postgresql://kari@127.0.0.1:{relay.port}/library"
        return _shoot(url, out)
    finally:
        relay.close()
        server.cleanup()


def _shoot(url: str, out: Path) -> int:
    from PySide6.QtCore import QRect

    from assistant.gui.app import create_application
    from assistant.gui.settingsdialog import SettingsDialog
    from assistant.ingest import Indexer
    from assistant.search import Embedder
    from assistant.settings import Settings
    from assistant.store.postgres import PgStore

    embedder = Embedder()
    with PgStore(url) as store:
        Indexer(store, embedder).index([ROOT / "tests" / "data" / "docs"], "Manuals")
    app = create_application()
    dialog = SettingsDialog(Settings(), embedder=embedder.identity)
    dialog.fit_screen(QRect(0, 0, 1366, 728))
    dialog.show()
    field = dialog.library_field
    field.choice.setCurrentIndex(field.choice.findData("team"))
    field.url.setText(url)
    field.password.setText("correct horse")
    checks: list[object] = []
    field.tested.connect(checks.append)
    field.test()
    deadline = time.monotonic() + 60
    while not checks and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    print(getattr(checks[0], "sentence", "no answer") if checks else "no answer")
    print(f"dialog {dialog.width()}×{dialog.height()}, scroll "
          f"{dialog.scroll_area.verticalScrollBar().maximum()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(out))
    print(out)
    dialog.reject()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
