"""The main window end to end: drop files, index, ask, see sources, open the cited page.

These use the real embedder and the real default GGUF (answers are kept short), real files
from tests/data/docs, and real Qt events (a QDropEvent carrying file URLs, mouse clicks on the
[n] link of an answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gui_helpers import library_rows, wait_library
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QTextCursor
from PySide6.QtWidgets import QApplication

INDEX_TIMEOUT = 180_000
ANSWER_TIMEOUT = 180_000


def drop_files(window: Any, paths: list[Path]) -> None:
    """Drag `paths` onto the window the way a file manager does, and drop them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction | Qt.DropAction.LinkAction
    enter = QDragEnterEvent(pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.overlay.isVisible()
    move = QDragMoveEvent(pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, move)
    drop = QDropEvent(pos, actions, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    assert not window.overlay.isVisible()


def did_work(summary: Any) -> bool:
    """A run that indexed, removed or failed something (not a start-up check with nothing)."""
    return summary is None or bool(summary.indexed or summary.removed or summary.failed)


def index_and_wait(qtbot: Any, window: Any, paths: list[Path]) -> Any:
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=did_work) as blocker:
        window.indexing.add_paths([str(p) for p in paths])
    summary = blocker.args[0]
    assert summary is not None, [f.traceback for f in window.context.failures]
    return summary


def test_dropping_real_files_indexes_them_and_fills_the_library(qtbot, make_window, data_dir,
                                                                tmp_path):
    window = make_window()
    docs = sorted(p for p in (data_dir / "docs").iterdir() if p.is_file())
    bad = [data_dir / "bad" / "encrypted.pdf", data_dir / "bad" / "empty.txt"]
    assert window.conversations.chat.empty.title.text() == "Drop your documents here"

    window.probe.start()
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=did_work) as blocker:
        drop_files(window, [*docs, *bad])
        assert window.indexing.progress.isVisible() and window.indexing.progress.running
        assert window.indexing.progress.cancel_button.isVisible()
    window.probe.stop()
    summary = blocker.args[0]
    print(window.probe.report("GUI thread while indexing a drop"))
    assert sorted(Path(p).name for p in summary.indexed) == [p.name for p in docs]
    assert {Path(f.path).name for f in summary.failed} == {"encrypted.pdf", "empty.txt"}

    # the progress area ends with a summary and the failures one click away
    assert not window.indexing.progress.running
    assert "2 could not be read" in window.indexing.progress.detail.text()
    assert window.indexing.progress.failures_button.isVisible()
    assert window.indexing.progress.failures_button.text() == "Show 2 failed"

    wait_library(qtbot, window)
    rows = library_rows(window)
    assert all(rows[p.name].startswith("● Indexed") for p in docs), rows
    assert "encrypted" in rows["encrypted.pdf"].lower() and rows["encrypted.pdf"].startswith(
        "● Could not be read")
    assert rows["empty.txt"].startswith("● Could not be read")
    model = window.library.view.model
    row = next(r for r in range(model.rowCount()) if model.item(r, 0).text() == "handbook.pdf")
    assert model.item(row, 3).text() == "5"  # pages
    assert int(model.item(row, 4).text()) >= 5  # chunks
    assert window.conversations.chat.empty.title.text() == "Ask about your documents"
    # one count everywhere: documents are the files that can be searched
    assert window.library.collection_box.currentText() == f"default ({len(docs)})"
    # dropping files (not a folder) does not watch anything
    assert window.indexing.watcher.folders == []
    assert window.probe.stats()["max"] < 500


def test_the_gui_thread_stays_responsive_while_indexing(qtbot, make_window, docs_copy):
    window = make_window()
    window.probe.start()
    summary = index_and_wait(qtbot, window, [docs_copy])
    window.probe.stop()
    stats = window.probe.stats()
    print(window.probe.report("GUI thread while indexing a folder"))
    assert len(summary.indexed) >= 6
    assert stats["samples"] > 50
    assert stats["max"] < 250, window.probe.report()
    assert stats["p99"] < 100, window.probe.report()


def _link_position(browser: Any, n: int) -> QPoint:
    """The viewport position of the [n] link in an answer."""
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
    raise AssertionError(f"no [{n}] link in {browser.toPlainText()!r}")


@pytest.mark.slow
def test_asking_streams_an_answer_with_sources_and_a_citation_opens_the_page(
        qtbot, make_window, data_dir):
    from assistant.settings import Settings

    settings = Settings()
    settings.set("max_answer_tokens", 40)
    window = make_window(settings=settings)
    index_and_wait(qtbot, window, [data_dir / "docs" / "handbook.pdf",
                                   data_dir / "docs" / "guide.md"])
    pieces: list[str] = []
    original = window.conversations.chat.append_token

    def spy(turn_id: int, piece: str) -> None:
        pieces.append(piece)
        original(turn_id, piece)

    window.conversations.chat.append_token = spy
    window.probe.start()
    question = "How long is the guarantee on the Zephyr X200 kettle?"
    window.conversations.chat.composer.box.setPlainText(question)
    with qtbot.waitSignal(window.conversations.answer_finished, timeout=ANSWER_TIMEOUT) as blocker:
        qtbot.keyClick(window.conversations.chat.composer.box, Qt.Key.Key_Return)
        assert window.conversations.chat.composer.busy
    window.probe.stop()
    print(window.probe.report("GUI thread while loading the model and answering"))
    turn = window.conversations.chat.turn(blocker.args[0])
    assert len(pieces) > 3, f"the answer was not streamed: {turn.answer!r} {turn.error!r}"
    assert "27" in turn.answer
    assert not turn.not_found and turn.citations
    assert not window.conversations.chat.composer.busy

    # the sources pane shows the cited passage with its span highlighted, then the rest apart
    cards = window.sources.view.cards
    cited = [c for c in cards if c.label.text().startswith("[")]
    assert cited and cited[0].hit["path"].endswith("handbook.pdf")
    assert cited[0].span is not None and "background-color" in cited[0].passage.text()
    assert "27 months" in cited[0].passage.text()
    # the marked words are the reader's answer span: exactly the answer's words
    start, end = cited[0].span
    assert cited[0].hit["text"][start:end] == "27 months"

    # the conversation was saved with its sources
    stored = window.history.turns(window.conversations.conversation_id)[0]
    assert stored.answer == turn.answer and stored.citations and stored.consulted

    # clicking [n] in the answer opens the PDF at the cited page, passage found and marked
    n = int(turn.citations[0]["n"])
    page = turn.citations[0]["hit"]["page"]
    widget = window.conversations.chat.turns[turn.id]
    pos = _link_position(widget.browser, n)
    qtbot.mouseClick(widget.browser.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    viewer = window.sources.tabs.currentWidget()
    from assistant.gui.viewer import DocumentViewer

    assert isinstance(viewer, DocumentViewer)
    assert viewer.path.name == "handbook.pdf"
    assert viewer.target is not None and viewer.target.span == (start, end)  # marked there too
    qtbot.waitUntil(lambda: viewer.current_page() == page, timeout=5000)
    assert viewer.pdf_located
    assert viewer.pdf_view.highlights and page - 1 in viewer.pdf_view.highlights
    # the highlight is on screen
    rect = viewer.pdf_view.page_rect(page - 1)
    bar = viewer.pdf_view.verticalScrollBar()
    assert rect.top() <= bar.value() + viewer.pdf_view.viewport().height()
    assert rect.bottom() >= bar.value()

    # a good-answer mark and a correction are kept for fine-tuning
    qtbot.mouseClick(widget.good_button, Qt.MouseButton.LeftButton)
    assert window.history.turn(turn.id).rating == "good"
    examples = window.history.training_examples()
    assert examples and examples[0]["question"] == question

    # Esc stops an answer (here at once, before the model writes): it is marked as stopped
    window.conversations.chat.composer.box.setPlainText("Describe everything the handbook says about the "
                                          "warranty, in detail.")
    with qtbot.waitSignal(window.conversations.answer_finished, timeout=ANSWER_TIMEOUT) as blocker:
        qtbot.keyClick(window.conversations.chat.composer.box, Qt.Key.Key_Return)
        qtbot.keyClick(window.conversations.chat.composer.box, Qt.Key.Key_Escape)
    stopped = window.conversations.chat.turn(blocker.args[0])
    assert stopped.stopped and window.conversations.chat.turns[stopped.id].badge.text() == "Stopped"
    assert window.history.turn(stopped.id).stopped
    assert not window.conversations.chat.composer.busy

    # Regenerate answers the first question again in place; the old judgement is cleared
    with qtbot.waitSignal(window.conversations.answer_finished, timeout=ANSWER_TIMEOUT) as blocker:
        qtbot.mouseClick(widget.regen_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == turn.id
    again = window.history.turn(turn.id)
    assert "27" in again.answer and again.rating is None
    assert len(window.history.turns(window.conversations.conversation_id)) == 2


@pytest.mark.slow
def test_not_found_answers_say_so_and_show_nearest_passages(qtbot, make_window, data_dir):
    window = make_window()
    index_and_wait(qtbot, window, [data_dir / "docs" / "guide.md"])
    with qtbot.waitSignal(window.conversations.answer_finished, timeout=ANSWER_TIMEOUT) as blocker:
        window.conversations.ask("What is the airspeed velocity of an unladen swallow?")
    turn = window.conversations.chat.turn(blocker.args[0])
    assert turn.not_found and "couldn't find" in turn.answer
    assert window.sources.view.cards, "the nearest passages are shown"
    titles = [w.text() for w in window.sources.view.findChildren(type(window.library.status_label))]
    assert "Nearest passages" in titles


def test_settings_are_built_from_options_validated_and_survive_a_restart(qtbot, make_window,
                                                                           tmp_path):
    from assistant.settings import OPTIONS

    window = make_window()
    dialog = window.settings_controller.open_settings()
    # every option but the collection (the toolbar's box chooses it)
    assert set(dialog.fields) == {o.name for o in OPTIONS} - {"collection"}
    # a bad value keeps the dialog open with a sentence under the field
    dialog.set_value("model_path", str(tmp_path / "missing.gguf"))
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    dialog.set_value("lora_path", str(not_gguf))
    dialog.accept()
    assert dialog.isVisible()
    assert "does not exist" in dialog.errors["model_path"].text()
    assert dialog.errors["model_path"].isVisible()
    dialog.set_value("model_path", "")
    dialog.accept()
    assert dialog.isVisible() and dialog.errors["lora_path"].text()
    assert not dialog.errors["model_path"].isVisible()
    dialog.set_value("lora_path", "")
    dialog.set_value("top_k", 7)
    dialog.set_value("temperature", 0.3)
    dialog.set_value("strictness", "strict")
    dialog.set_value("grounded_adapter", False)
    dialog.set_value("lora_scale", 0.55)
    dialog.accept()
    assert not dialog.isVisible()
    assert {"top_k", "temperature", "strictness", "lora_scale"} <= window.settings.values.keys()
    window.chat_splitter.setSizes([500, 700])
    window.close()

    again = make_window()
    assert again.settings["top_k"] == 7
    assert again.settings["temperature"] == pytest.approx(0.3)
    assert again.settings["strictness"] == "strict"
    assert again.settings["grounded_adapter"] is False
    assert again.settings["lora_scale"] == pytest.approx(0.55)
    dialog = again.settings_controller.open_settings()
    assert dialog.value("top_k") == 7 and dialog.value("lora_scale") == pytest.approx(0.55)
    dialog.reject()
    sizes = again.chat_splitter.sizes()
    assert sizes[1] > sizes[0], sizes  # the layout came back too


def test_a_changed_file_in_a_watched_folder_is_reindexed(qtbot, make_window, docs_copy):
    from assistant.store.store import Store

    window = make_window()
    summary = index_and_wait(qtbot, window, [docs_copy])
    assert summary.indexed
    wait_library(qtbot, window)
    assert window.indexing.watcher.folders == [("default", str(docs_copy))]

    guide = docs_copy / "guide.md"
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=did_work) as blocker:
        guide.write_text(guide.read_text() + "\n\nThe ferry to Quillhaven leaves at 06:10.\n")
    summary = blocker.args[0]
    assert [Path(p).name for p in summary.indexed] == ["guide.md"]
    # a new file and a deleted one are picked up too
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=did_work) as blocker:
        (docs_copy / "extra.txt").write_text("Quillhaven harbour has 12 moorings.\n")
        (docs_copy / "example.py").unlink()
    summary = blocker.args[0]
    assert [Path(p).name for p in summary.indexed] == ["extra.txt"]
    assert [Path(p).name for p in summary.removed] == ["example.py"]
    with Store() as store:
        texts = " ".join(c[4] for d in store.documents() for c in store.chunk_texts(d.id))
    assert "Quillhaven leaves at 06:10" in texts and "12 moorings" in texts
    window.close()

    # a change while the app is closed is picked up at the next start
    (docs_copy / "extra.txt").write_text("Quillhaven harbour has 40 moorings now.\n")
    again = make_window()

    def rechecked() -> bool:
        return any(s is not None and [Path(p).name for p in s.indexed] == ["extra.txt"]
                   for s in again.indexing.summaries)

    qtbot.waitUntil(rechecked, timeout=INDEX_TIMEOUT)
    with Store() as store:
        texts = " ".join(c[4] for d in store.documents() for c in store.chunk_texts(d.id))
    assert "40 moorings" in texts and "12 moorings" not in texts


def test_a_library_made_by_another_embedder_is_reembedded_at_start(qtbot, make_window,
                                                                    embedder, data_dir,
                                                                    monkeypatch):
    """An upgrade that changes the embedding model: the app moves the library over at start,
    showing its progress, and answers from the old vectors until the move is done."""
    from assistant.gui.progress import IndexProgressArea
    from assistant.ingest.indexer import Indexer
    from assistant.search import Embedder
    from assistant.search.reembed import ReembedProgress, stale_collections
    from assistant.store.store import Store

    other = "torch-fp32" if embedder.runtime != "torch-fp32" else "onnx-int8"
    old = Embedder(runtime=other)
    with Store() as store:
        Indexer(store, old).index([data_dir / "docs"], "default")
        assert stale_collections(store, embedder) == ["default"]
    del old

    shown: list[str] = []
    original = IndexProgressArea.update_progress

    def watch(self: Any, p: Any, embedder_loading: bool = False) -> None:
        original(self, p, embedder_loading)
        if isinstance(p, ReembedProgress):
            shown.append(self.detail.text())

    monkeypatch.setattr(IndexProgressArea, "update_progress", watch)
    window = make_window()
    qtbot.waitUntil(lambda: bool(window.indexing.summaries), timeout=INDEX_TIMEOUT)
    assert window.indexing.summaries[-1] is not None
    with Store() as store:
        assert stale_collections(store, embedder) == []
        cid = store.collection_id("default", create=False)
        assert store.collection_embedder(cid) == embedder.identity
        assert not store.check_consistency()
    assert shown and "new embedding model" in shown[-1]
    import re

    done = re.search(r"([\d,]+) of ([\d,]+) passages", shown[-1])
    assert done and done.group(1) == done.group(2), shown[-1]  # it showed the move completed


def test_a_first_run_window_fits_the_screen(qtbot, embedder, default_gguf) -> None:
    """With no saved layout the window takes its default size only where the screen has room:
    on a smaller screen (the offscreen one is 800 x 800; a 1366 x 768 laptop is another) a
    1320 x 840 window put the question box below the screen's edge."""
    from assistant.gui.app import create_application
    from assistant.gui.mainwindow import MainWindow
    from assistant.gui.windowstate import DEFAULT_SIZE

    create_application()
    window = MainWindow(embedder=embedder, model_path=default_gguf, load_model=False)
    try:
        free = window.screen().availableGeometry()
        assert free.width() < DEFAULT_SIZE[0] or free.height() < DEFAULT_SIZE[1]
        window.show()
        qtbot.waitExposed(window)
        assert free.contains(window.frameGeometry()), (free, window.frameGeometry())
        qtbot.wait(50)  # the layout settles
        box = window.conversations.chat.composer.box  # the question box is on the screen
        corner = box.mapTo(window, box.rect().bottomRight())
        assert window.rect().contains(corner) and box.isVisible()
    finally:
        window.close()
        window.deleteLater()
