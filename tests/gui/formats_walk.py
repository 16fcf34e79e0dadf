"""Issue 21's "done when", tried by hand in a real window: a folder holding every format is
added, every file is indexed or reported in a sentence, and cited places open in the viewer.

Not a test (no `test_` prefix); run it under an X server and look at the screenshots:

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tests/gui/formats_walk.py /tmp/walk

The folder holds a PDF, a scanned PDF, Word, PowerPoint, Excel, OpenDocument spreadsheet and
text, EPUB, RTF, a saved message and a mailbox, a PNG and a two-page TIFF (scans), Markdown,
HTML, text and code, plus the bad ones: a password-protected workbook, a zip bomb dressed as
slides, a corrupt TIFF and a file of a type the app does not read. Each file's outcome is
printed; then one question per place is answered by the real model (its citation opened by
the app), and the top passage of each is opened from its source card, each step saved.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
QUESTIONS = [  # (question, file whose place holds the answer)
    ("When does the new office in Bergen open?", "deck.pptx"),
    ("What was the Q3 total for Tromsø 2?", "sales.xlsx"),
    ("How long did the waves break over the deck?", "sea.epub"),
    ("When is report number 1 due?", "inbox.mbox"),
    ("What is the total due on invoice 4471?", "invoice.png"),
    ("Who received the delivery of 12 pallets?", "delivery-scan.pdf"),
]


def make_folder(folder: Path) -> None:
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "unit")]
    from hostile.corpus import corrupt_tiff, disguised_bomb, locked_xlsx
    from test_formats import (
        make_eml,
        make_epub,
        make_mbox,
        make_ods,
        make_odt,
        make_pptx,
        make_rtf,
        make_xlsx,
    )
    from test_ocr import scan_image

    folder.mkdir(parents=True)
    for name in ("handbook.pdf", "contract.docx", "guide.md", "page.html", "latin1.txt",
                 "example.py"):
        shutil.copy(DATA / "docs" / name, folder / name)
    shutil.copy(DATA / "bad" / "scanned.pdf", folder / "delivery-scan.pdf")
    make_pptx(folder / "deck.pptx")
    make_xlsx(folder / "sales.xlsx")
    make_ods(folder / "budget.ods")
    make_odt(folder / "field-guide.odt")
    make_epub(folder / "sea.epub")
    make_rtf(folder / "memo.rtf")
    make_eml(folder / "lunch.eml")
    make_mbox(folder / "inbox.mbox")
    scan_image(["Invoice 4471", "Total due: 980 NOK"]).save(folder / "invoice.png")
    first, second = scan_image(["Fax page one: order 77"]), scan_image(["Fax page two: signed"])
    first.save(folder / "fax.tiff", save_all=True, append_images=[second])
    (folder / "locked.xlsx").write_bytes(locked_xlsx())
    (folder / "bomb.pptx").write_bytes(disguised_bomb(".pptx"))
    (folder / "broken.tiff").write_bytes(corrupt_tiff())
    (folder / "song.mp3").write_bytes(b"ID3\x00\x01 not a format the app reads")


def main(out: Path) -> int:
    sys.path.insert(0, str(ROOT))
    home = Path(tempfile.mkdtemp(prefix="ka-formats-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out.mkdir(parents=True, exist_ok=True)
    folder = home / "Documents" / "Everything"
    make_folder(folder)

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest

    from assistant.gui.app import create_application
    from assistant.gui.chatview import TurnView
    from assistant.gui.history import hit_to_dict
    from assistant.gui.mainwindow import MainWindow
    from assistant.gui.wording import reason_text
    from assistant.search import Embedder, Retriever
    from assistant.settings import Settings
    from assistant.store.store import Store

    create_application()

    def pump(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(predicate, timeout_s: float = 600.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not reach the expected state")
            pump(50)

    def shot(name: str) -> None:
        pump(300)
        window.grab().save(str(out / f"{name}.png"))
        print(f"saved {out / name}.png")

    embedder = Embedder()
    settings = Settings()
    settings.set("max_answer_tokens", 48)
    settings.save()
    window = MainWindow(settings, embedder=embedder)
    window.resize(1360, 860)
    window.show()
    shot("00-empty")
    started = time.monotonic()
    window.indexing.add_paths([str(folder)])
    def run_of_folder():  # type: ignore[no-untyped-def]
        return next((s for s in window.indexing.summaries if s is not None and
                     any(str(folder) in p for p in [*s.indexed, *(f.path for f in s.failed)])),
                    None)

    wait_until(lambda: run_of_folder() is not None)
    summary = run_of_folder()
    print(f"indexed in {time.monotonic() - started:.0f} s")
    outcome = {Path(p).name: "indexed" for p in summary.indexed}
    outcome |= {Path(f.path).name: f"reported: {reason_text(f.reason)}" for f in summary.failed}
    outcome |= {Path(s.path).name: f"skipped: {s.reason}" for s in summary.skipped}
    files = sorted(p.name for p in folder.iterdir())
    for name in files:
        print(f"  {name:22} {outcome.get(name, 'NOT ACCOUNTED FOR')}")
    missing = [n for n in files if n not in outcome]
    shot("01-added")

    store = Store()
    retriever = Retriever(store, embedder)
    for i, (question, name) in enumerate(QUESTIONS, 2):
        hits = [h for h in retriever.search(question, 5) if h.path.endswith(name)]
        if not hits:
            print(f"  {question!r}: {name} not in the top 5")
            continue
        hit = hit_to_dict(hits[0])
        window.sources.view.show_turn(TurnView(id=1000 + i, question=question, answer="[1]",
                                               citations=[{"n": 1, "hit": hit}],
                                               consulted=[hit]))
        QTest.mouseClick(window.sources.view.cards[0], Qt.MouseButton.LeftButton)
        pump(1500)
        viewer = window.sources.tabs.currentWidget()
        print(f"  {name}: card '{window.sources.view.cards[0].title.text()}' -> viewer "
              f"'{getattr(viewer, 'page_label', None) and viewer.page_label.text()}'")
        shot(f"{i:02d}-{Path(name).stem}")
    store.close()

    # the real model answers one question per place; the app opens its citation [1]
    for question, name in QUESTIONS[:2]:
        turn_id = window.conversations.ask(question)
        wait_until(lambda: window.conversations.answer_job is None)
        turn = window.conversations.chat.turn(turn_id)
        print(f"  asked {question!r}: {turn.answer!r}, cites "
              f"{[(Path(c['hit']['path']).name, c['hit'].get('place')) for c in turn.citations]}")
        if turn.citations:
            window.conversations.open_citation(turn_id, int(turn.citations[0]["n"]))
            pump(1500)
            shot(f"answer-{Path(name).stem}")
    window.close()
    pump(300)
    shutil.rmtree(home, ignore_errors=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/formats-walk")))
