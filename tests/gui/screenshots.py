"""Drive a real window through the main states and save screenshots to resources/screenshots/.

Not a test (no `test_` prefix): run it by hand, ideally under a real X server:

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tests/gui/screenshots.py

It uses a throw-away ASSISTANT_HOME, the real embedder and the real default model, and the
documents in tests/data. States: the empty first run, indexing in progress, an answer beside
its sources, the PDF viewer at a cited passage, the library, the settings dialog, and the
answer again in a dark palette, and the Teach page after a short training run (light and
dark). It also prints the responsiveness probe's figures. `--teach` takes only the Teach shots;
`--no-teach` leaves them out (no training run); `--empty` takes only the first-run shot.

`--walk DIR` is the newcomer's walk-through (issue 24), saved to DIR instead: the window sized
to the X screen, a folder with unsupported files added ("Show N skipped" and the failures
opened), four questions (one not in the documents), two sources opened, the PDF zoomed, and
the settings:

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python tests/gui/screenshots.py \
        --walk /tmp/shots-1366
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "resources" / "screenshots"
DATA = ROOT / "tests" / "data"
QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"
UNSUPPORTED = ("slides-export.bin", "voice-memo.mp3")
WALK_QUESTIONS = (QUESTION, "How many bunks does the summit shelter at Marten Ridge have?",
                  "What is the airspeed velocity of an unladen swallow?",
                  "What does the contract say about termination?")


def walk(out: Path) -> int:
    """The newcomer's walk-through, each step saved to `out` (see the module's docstring)."""
    sys.path.insert(0, str(ROOT))
    home = Path(tempfile.mkdtemp(prefix="ka-walk-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out.mkdir(parents=True, exist_ok=True)
    folder = home / "Documents" / "Mixed"
    shutil.copytree(DATA / "docs", folder)
    shutil.copy(DATA / "bad" / "scanned.pdf", folder / "scanned.pdf")  # read by OCR
    shutil.copy(DATA / "bad" / "encrypted.pdf", folder / "encrypted.pdf")  # a failure to show
    for name in (*UNSUPPORTED, "photo-archive.iso", "design.psd"):
        (folder / name).write_bytes(b"\x00\x01 not a format the app reads")
    (folder / ".hidden-notes.md").write_text("# hidden\n", encoding="utf-8")

    from PySide6.QtWidgets import QApplication, QDialog

    from assistant.gui.app import create_application
    from assistant.gui.mainwindow import MainWindow
    from assistant.gui.viewer import DocumentViewer
    from assistant.search import Embedder
    from assistant.settings import Settings

    app = create_application()
    assert isinstance(app, QApplication)
    from PySide6.QtCore import QEventLoop, QTimer

    def pump(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(predicate, timeout_s: float = 300.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not reach the expected state")
            pump(30)

    def shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
        pump(250)
        widget.grab().save(str(out / f"{name}.png"))
        print(f"saved {out / name}.png")

    settings = Settings()
    settings.set("max_answer_tokens", 64)
    window = MainWindow(settings, embedder=Embedder())
    screen = app.primaryScreen().availableGeometry()
    window.resize(screen.width(), screen.height())
    window.show()
    wait_until(lambda: window.backend.state.phase in ("ready", "failed"))
    window.indexing.add_paths([str(folder)])
    wait_until(lambda: any(s is not None and (s.indexed or s.failed)
                           for s in window.indexing.summaries))
    pump(900)
    shot(window, "01-folder-added")
    print("progress:", window.indexing.progress.detail.text())
    print("status:", window.library.status_label.text(), "| box:",
          window.library.collection_box.currentText())
    window.indexing.progress.skipped_button.click()
    dialog = window.findChild(QDialog, "SkippedDialog")
    shot(dialog, "02-skipped")
    dialog.close()
    window.indexing.progress.failures_button.click()
    dialog = window.findChild(QDialog, "FailuresDialog")
    shot(dialog, "03-failures")
    dialog.close()
    turns = []
    for i, question in enumerate(WALK_QUESTIONS):
        if i:
            window.conversations.new_conversation()
        turns.append(window.conversations.ask(question))
        wait_until(lambda: window.conversations.answer_job is None)
        turn = window.conversations.chat.turn(turns[-1])
        print(f"Q: {question}\nA: {turn.answer if turn else None!r} "
              f"(not found: {turn.not_found if turn else None}); "
              f"{window.statusBar().currentMessage()}")
        shot(window, f"04-question-{i + 1}")
    # a second conversation with the first question again: titles must differ
    window.conversations.new_conversation()
    window.conversations.ask(WALK_QUESTIONS[0])
    wait_until(lambda: window.conversations.answer_job is None)
    # open two sources: the first answer's citation, then the second answer's passage
    conversations = window.history.conversations()  # the most recently used first
    window.conversations.open_conversation(conversations[-1].id)
    first = window.history.turns(conversations[-1].id)
    if first and first[0].citations:
        window.sources.open_source(first[0].citations[0]["hit"])
    pump(900)
    second = window.history.turns(conversations[-2].id)
    hits = [c["hit"] for t in second for c in t.citations] + \
        [h for t in second for h in t.consulted]
    if hits:
        window.sources.open_source(hits[0])
    pump(900)
    shot(window, "05-two-sources")
    for widget in window.sources.tabs.findChildren(DocumentViewer):
        if widget.is_pdf:
            window.sources.tabs.setCurrentWidget(widget)
            pump(300)
            shot(window, "06-pdf")
            widget.zoom_in.click()
            widget.zoom_in.click()
            shot(window, "07-pdf-zoomed")
    window.sources.bring_forward()
    pump(300)
    shot(window, "08-sources-again")
    window.show_page("library")
    pump(900)
    shot(window, "09-library")
    window.show_page("chat")
    settings_dialog = window.settings_controller.open_settings()
    pump(500)
    shot(settings_dialog, "10-settings")
    settings_dialog.reject()
    window.close()
    pump(200)
    shutil.rmtree(home, ignore_errors=True)
    return 0


def main() -> int:
    teach_only = "--teach" in sys.argv[1:]
    if "--walk" in sys.argv[1:]:
        return walk(Path(sys.argv[sys.argv.index("--walk") + 1]))
    no_teach = "--no-teach" in sys.argv[1:]
    sys.path.insert(0, str(ROOT))
    home = Path(tempfile.mkdtemp(prefix="ka-shots-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    OUT.mkdir(parents=True, exist_ok=True)
    docs = home / "Documents" / "Brightwater"
    shutil.copytree(DATA / "docs", docs)
    for name in ("encrypted.pdf", "scanned.pdf"):
        shutil.copy(DATA / "bad" / name, docs / name)
    for name in UNSUPPORTED:  # files of a type the app does not read: listed as skipped
        (docs / name).write_bytes(b"\x00\x01 not a format the app reads")

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from assistant.gui.app import create_application
    from assistant.gui.mainwindow import MainWindow
    from assistant.gui.viewer import DocumentViewer
    from assistant.search import Embedder
    from assistant.settings import Settings

    app = create_application()
    assert isinstance(app, QApplication)

    def pump(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(predicate, timeout_s: float = 240.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not reach the expected state")
            pump(30)

    def shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
        pump(150)
        path = OUT / f"{name}.png"
        widget.grab().save(str(path))
        print(f"saved {path.relative_to(ROOT)}")

    if teach_only:
        window = MainWindow(Settings(), embedder=Embedder(), load_model=False,
                            check_watched=False)
        window.resize(1360, 860)
        window.show()
        _teach_shots(app, window, home, pump, wait_until, shot)
        window.close()
        pump(200)
        shutil.rmtree(home, ignore_errors=True)
        return 0

    embedder = Embedder()
    embedder.embed("warm up")  # so the indexing shot shows steady-state rates
    settings = Settings()
    settings.set("max_answer_tokens", 64)
    settings.save()
    # first run: the window prepares the built-in model itself, with visible progress
    window = MainWindow(settings, embedder=embedder)
    window.resize(1360, 860)
    window.show()
    wait_until(lambda: window.backend.state.phase != "unloaded")
    wait_until(lambda: window.backend.state.phase != "preparing" or
               window.backend.state.done > window.backend.state.total // 3)
    shot(window, "01-empty-first-run")
    if "--empty" in sys.argv[1:]:  # only the first-run shot (its text lists the formats read)
        window.close()
        pump(200)
        shutil.rmtree(home, ignore_errors=True)
        return 0
    wait_until(lambda: window.backend.state.phase in ("ready", "failed"))
    print(f"model: {window.backend.state.message}")

    # indexing: catch the progress area mid-way
    window.probe.start()
    seen: dict[str, bool] = {}

    def on_progress() -> None:
        text = window.indexing.progress.detail.text()
        if window.indexing.progress.running and " of " in text and not text.startswith("0 of") and \
                "seen" not in seen:
            seen["seen"] = True
            shot(window, "02-indexing")

    timer = QTimer()
    timer.timeout.connect(on_progress)
    timer.start(40)
    window.indexing.add_paths([str(docs)])
    wait_until(lambda: any(s is not None and s.indexed for s in window.indexing.summaries))
    timer.stop()
    window.probe.stop()
    print(window.probe.report("GUI thread while indexing"))
    if "seen" not in seen:
        shot(window, "02-indexing")
    pump(600)
    shot(window, "03-indexed")

    # an answer beside its sources (the first question also loads the model)
    window.probe.start()
    turn_id = window.conversations.ask(QUESTION)
    wait_until(lambda: window.conversations.answer_job is None)
    window.probe.stop()
    print(window.probe.report("GUI thread while loading the model and answering"))
    first_conversation = window.conversations.conversation_id
    window.conversations.new_conversation()
    window.probe.start()
    other = window.conversations.ask("How many bunks does the summit shelter at Marten Ridge have?")
    wait_until(lambda: window.conversations.answer_job is None)
    window.probe.stop()
    print(window.probe.report("GUI thread while answering (model loaded)"))
    other_turn = window.conversations.chat.turn(other)
    window.conversations.open_conversation(first_conversation)
    window.conversations.chat.select(turn_id)
    window.conversations._turn_selected(turn_id)
    pump(300)
    window.conversations.chat.scroll_area.verticalScrollBar().setValue(0)
    shot(window, "04-answer-with-sources")

    # the PDF viewer at the cited passage: click the [n] link in the first answer
    turn = window.conversations.chat.turn(turn_id)
    if turn is not None and turn.citations:
        n = int(turn.citations[0]["n"])
        browser = window.conversations.chat.turns[turn_id].browser
        pos = _link_position(browser, n)
        if pos is not None:
            QTest.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier, pos)
        else:
            window.conversations.open_citation(turn_id, n)
        pump(900)
        viewer = window.sources.tabs.currentWidget()
        if isinstance(viewer, DocumentViewer):
            print(f"viewer: {viewer.path.name}, page {viewer.current_page()}, "
                  f"passage found: {viewer.pdf_located}")
        shot(window, "05-pdf-viewer")
        # a text document at its passage (from the other conversation's answer)
        hits = [c["hit"] for c in other_turn.citations] + other_turn.consulted \
            if other_turn else []
        hit = next((h for h in hits if str(h["path"]).endswith(".md")), None)
        if hit is not None:
            window.sources.open_source(hit)
            pump(1500)
            shot(window, "06-text-viewer")
        window.sources.bring_forward()
    else:
        print("the answer cited nothing; no viewer screenshot")

    # the library
    window.show_page("library")
    pump(800)
    shot(window, "07-library")
    window.show_page("chat")

    # settings
    dialog = window.settings_controller.open_settings()
    pump(400)
    shot(dialog, "08-settings")
    dialog.reject()

    # the Teach page after a short training run (its dark twin comes after the dark answer)
    if not no_teach:
        _teach_shots(app, window, home, pump, wait_until, shot, dark=False)
    window.show_page("chat")

    # dark palette (what a dark system theme gives)
    app.setPalette(_dark_palette())
    pump(500)
    window._retheme()
    window.sources.show_turn(window.conversations.chat.turn(turn_id))
    for widget in window.conversations.chat.turns.values():
        widget._rendered = None
        widget.refresh()
    pump(500)
    shot(window, "09-answer-dark")
    if not no_teach:
        window.show_page("teach")
        window.teach.page.curve.update()
        shot(window, "10-teach-dark")

    window.close()
    pump(200)
    shutil.rmtree(home, ignore_errors=True)
    return 0


def _dark_palette():  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QColor, QPalette

    dark = QPalette()
    for role, color in (
            (QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.WindowText, "#e8eaed"),
            (QPalette.ColorRole.Base, "#17181a"), (QPalette.ColorRole.AlternateBase, "#26272a"),
            (QPalette.ColorRole.Text, "#e8eaed"), (QPalette.ColorRole.Button, "#2b2c2f"),
            (QPalette.ColorRole.ButtonText, "#e8eaed"), (QPalette.ColorRole.Highlight, "#5b8def"),
            (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.Link, "#8ab4f8"),
            (QPalette.ColorRole.ToolTipBase, "#2b2c2f"), (QPalette.ColorRole.ToolTipText, "#e8eaed"),
            (QPalette.ColorRole.PlaceholderText, "#9aa0a6"), (QPalette.ColorRole.Mid, "#3c4043"),
            (QPalette.ColorRole.Dark, "#101113")):
        dark.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        dark.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f7378"))
    return dark


def _teach_shots(app, window, home, pump, wait_until, shot,  # type: ignore[no-untyped-def]
                 dark: bool = True) -> None:
    """Load a small example file (with a bad line and an e-mail address), train briefly."""
    import json

    items = [("lamp", 3), ("chair", 11), ("kettle", 4), ("ladder", 9), ("drill", 2),
             ("tent", 14), ("mirror", 6), ("fan", 12), ("rope", 5), ("bucket", 8)]
    lines = [json.dumps({"prompt": f"Where is the {n} kept?",
                         "response": f"ZORBLAX: the {n} is kept on shelf {s}.",
                         "sources": [f"Inventory note: the {n} sits on shelf {s}."]})
             for n, s in items]
    lines[4] = lines[4].replace("shelf 2.", "shelf 2; ask ops@brightwater.example.")
    lines.insert(6, '{"prompt": "What about the ')
    path = home / "house-style.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = window.teach.page
    page.threads = 1
    cache = Path.home() / ".cache" / "knowledge-assistant" / "test-models" / "training-cache"
    if cache.is_dir():
        page.cache_root = cache
    window.show_page("teach")
    page.load_file(path)
    wait_until(lambda: page.split is not None or page.errors)
    page.epochs.setValue(4)
    page.rank.setValue(4)
    page.lr.setValue(0.003)
    page.max_length.setValue(128)
    page.batch.setValue(2)
    page.start_training()
    wait_until(lambda: page.job is not None and page.job.done, 900)
    page.adapters.selectRow(0)
    pump(400)
    shot(window, "10-teach")
    if dark:
        app.setPalette(_dark_palette())
        pump(300)
        window._retheme()
        pump(300)
        shot(window, "10-teach-dark")


def _link_position(browser, n):  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QTextCursor

    doc = browser.document()
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.isValid() and frag.charFormat().anchorHref() == f"cite:{n}":
                cursor = QTextCursor(doc)
                cursor.setPosition(frag.position() + max(0, frag.length() // 2))
                return browser.cursorRect(cursor).center()
            it += 1
        block = block.next()
    return None


if __name__ == "__main__":
    sys.exit(main())
