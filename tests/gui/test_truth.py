"""The window tells the truth (issue 24): every file of an added folder accounted for, one
count everywhere, reasons that say what happened, and nothing on screen lost or cut."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import library_rows, wait_library
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from assistant.gui.wording import reason_text
from assistant.settings import BY_NAME

INDEX_TIMEOUT = 180_000
ANSWER_TIMEOUT = 180_000
# types no reader handles (office formats, e-books and mail are read, or will be)
UNSUPPORTED = ["weights.bin", "song.mp3", "disk.iso", "design.psd", "setup.exe", "blob"]


def index_and_wait(qtbot: Any, window: Any, paths: list[Path]) -> Any:
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT,
                          check_params_cb=lambda s: s is None or bool(
                              s.indexed or s.failed or s.skipped)) as blocker:
        window.indexing.add_paths([str(p) for p in paths])
    summary = blocker.args[0]
    assert summary is not None, [f.traceback for f in window.context.failures]
    return summary


def dialog_rows(dialog: QDialog) -> dict[str, str]:
    tree = dialog.tree  # type: ignore[attr-defined]
    return {tree.topLevelItem(i).text(0): tree.topLevelItem(i).text(1)
            for i in range(tree.topLevelItemCount())}


def mixed_folder(root: Path, data_dir: Path) -> Path:
    folder = root / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "docs" / "guide.md", folder / "guide.md")
    shutil.copy(data_dir / "bad" / "scanned.pdf", folder / "scan.pdf")
    for name in UNSUPPORTED:
        (folder / name).write_bytes(b"\x00\x01 a format the app does not read")
    (folder / ".hidden.md").write_text("# hidden\n\nnot to be mentioned\n", encoding="utf-8")
    return folder


def test_every_file_in_a_mixed_folder_is_accounted_for_and_counts_agree(
        qtbot, make_window, data_dir, tmp_path, monkeypatch):
    window = make_window(watch=False)
    folder = mixed_folder(tmp_path, data_dir)
    with monkeypatch.context() as without:  # OCR is on, but Tesseract is not installed
        without.setenv("PATH", "")
        summary = index_and_wait(qtbot, window, [folder])
    assert [Path(p).name for p in summary.indexed] == ["guide.md"]
    assert [Path(f.path).name for f in summary.failed] == ["scan.pdf"]
    assert sorted(Path(s.path).name for s in summary.skipped) == sorted(UNSUPPORTED)

    progress = window.indexing.progress
    detail = progress.detail.text()
    assert "1 indexed" in detail and "1 could not be read" in detail
    assert f"{len(UNSUPPORTED)} skipped (type not supported)" in detail
    assert progress.skipped_button.isVisible()
    assert progress.skipped_button.text() == f"Show {len(UNSUPPORTED)} skipped"
    assert progress.failures_button.text() == "Show 1 failed"

    # "Show N skipped" names each file with its type; hidden files are not mentioned
    progress.skipped_button.click()
    dialog = window.findChild(QDialog, "SkippedDialog")
    assert dialog is not None and dialog.isVisible()
    rows = dialog_rows(dialog)
    assert sorted(rows) == sorted(UNSUPPORTED)
    assert rows["song.mp3"] == "“.mp3” file: this type is not supported"
    assert rows["blob"] == "A file without an extension: this type is not supported"
    assert all("this type is not supported" in why for why in rows.values())
    dialog.close()

    # the scanned PDF's reason says what happened, not a question
    progress.failures_button.click()
    failures = window.findChild(QDialog, "FailuresDialog")
    assert failures is not None and failures.isVisible()
    why = dialog_rows(failures)["scan.pdf"]
    assert "no text layer" in why and "?" not in why
    assert "Tesseract, the OCR program, is not installed" in why  # and what to do
    assert "Install Tesseract (package tesseract-ocr)" in why
    failures.close()

    # one count everywhere: the toolbar's box, the sidebar, the Library page
    wait_library(qtbot, window)
    assert window.library.collection_box.currentText() == "default (1)"
    status = window.library.status_label.text()
    assert status.startswith("“default”: 1 document · ")
    assert status.endswith(" · 1 could not be read")
    assert window.library.view.summary.text() == status.removeprefix("“default”: ")
    rows = library_rows(window)
    assert set(rows) == {"guide.md", "scan.pdf"}
    assert rows["scan.pdf"].startswith("● Could not be read — This PDF has no text layer")
    assert "not installed" in rows["scan.pdf"]
    # the Library's status wraps rather than being cut
    window.show_page("library")
    wait_library(qtbot, window)
    table, proxy = window.library.view.table, window.library.view.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "scan.pdf")
    status = proxy.index(row, 1)
    line = table.fontMetrics().height()
    assert table.fontMetrics().horizontalAdvance(status.data()) > table.columnWidth(1)
    assert table.visualRect(status).height() >= 2 * line
    # a folder too long for its column is cut at its start: its own name stays in view
    from PySide6.QtWidgets import QStyleOptionViewItem

    cell = proxy.index(row, 6)
    option = QStyleOptionViewItem()
    table.itemDelegateForIndex(cell).initStyleOption(option, cell)
    assert option.textElideMode == Qt.TextElideMode.ElideLeft
    assert not option.features & QStyleOptionViewItem.ViewItemFeature.WrapText

    # the Library names the skipped files too, after the progress area is dismissed
    progress.dismiss()
    view = window.library.view
    assert view.skipped_button.isVisible()
    assert view.skipped_button.text() == f"Show {len(UNSUPPORTED)} skipped"
    view.skipped_button.click()
    dialog = window.findChild(QDialog, "SkippedDialog")
    assert dialog is not None and sorted(dialog_rows(dialog)) == sorted(UNSUPPORTED)
    dialog.close()
    (folder / UNSUPPORTED[0]).unlink()  # gone from the folder: gone from the list
    # Tesseract is found again (installed): the scan that failed for it is read this time
    with qtbot.waitSignal(window.indexing.finished, timeout=INDEX_TIMEOUT):
        window.indexing.add_paths([str(folder)])
    wait_library(qtbot, window)
    assert view.skipped_button.text() == f"Show {len(UNSUPPORTED) - 1} skipped"
    rows = library_rows(window)
    assert rows["scan.pdf"] == "● Indexed — pages read by OCR: 1", rows["scan.pdf"]
    assert window.library.collection_box.currentText() == "default (2)"


def _hit(path: str, page: int | None, text: str, similarity: float = 0.6) -> dict[str, Any]:
    return {"path": path, "page": page, "start": 0, "end": len(text), "text": text,
            "similarity": similarity, "chunk_id": 1, "document_id": 1, "score": 0.1,
            "collection": "default"}


def _notes(view: Any) -> list[str]:
    from PySide6.QtWidgets import QLabel

    return [w.text() for w in view.contents.findChildren(QLabel) if w.objectName() == "Muted"]


def test_a_refusal_says_honestly_whether_the_nearest_passage_may_hold_the_answer(
        qtbot, make_window, tmp_path):
    from assistant.gui.chatview import TurnView

    window = make_window(watch=False)
    view = window.sources.view
    passage = ("Brightwater Appliances guarantees the kettle. The warranty period of the Zephyr "
               "X200 is 27 months from the date of purchase. Keep your receipt.")
    close = TurnView(id=1, question="How long is the warranty period of the Zephyr X200?",
                     answer="I couldn't find this in your documents.", not_found=True,
                     consulted=[_hit(str(tmp_path / "handbook.pdf"), 2, passage)])
    view.show_turn(close)
    notes = " ".join(_notes(view))
    assert "the closest passage may hold it" in notes
    assert "close enough" not in notes
    assert view.cards and view.cards[0].span is not None  # the matching sentence is marked

    far = TurnView(id=2, question="What is the airspeed velocity of an unladen swallow?",
                   answer="I couldn't find this in your documents.", not_found=True,
                   consulted=[_hit(str(tmp_path / "handbook.pdf"), 2, passage)])
    view.show_turn(far)
    notes = " ".join(_notes(view))
    assert "not sure any of these answers the question" in notes
    assert "may hold it" not in notes


def test_a_refusal_names_the_day_or_the_kind_of_answer_no_passage_gives(
        qtbot, make_window, tmp_path):
    """A question refused because the passages never name the day (or the ordinal) it asks
    about, or hold nothing of the kind it asks for, says so in words above the nearest
    passages."""
    from assistant.gui.chatview import TurnView

    window = make_window(watch=False)
    view = window.sources.view
    hours = _hit(str(tmp_path / "page.html"), None, "Opening hours. Monday to Wednesday: "
                 "09:00-19:00. Friday: 09:00-17:00. Saturday: 10:00-14:00.")
    kettle = _hit(str(tmp_path / "handbook.pdf"), 5, "The Zephyr X200 holds 1.6 litres of "
                  "water at the maximum mark and at least half a litre at the minimum mark.")
    stages = _hit(str(tmp_path / "guide.md"), None, "1. Day 1: Millbrook to Fernhollow hut, "
                  "14 km. 2. Day 2: Fernhollow to Marten Ridge, 18 km. 3. Day 3: Marten Ridge "
                  "to Lakeside station, 12 km.")
    for n, (question, hit, said) in enumerate([
            ("When does the library open on Sundays?", hours, "None of these passages "
             "mentions Sunday; they are the closest ones found."),
            ("How much does the Zephyr X200 kettle cost?", kettle, "None of these passages "
             "gives a price; they are the closest ones found."),
            ("How long is the fourth day's stage of the Oakridge Trail?", stages,
             "None of these passages mentions \u201cfourth\u201d; they are the closest "
             "ones found."),
            ("When does the library open on Saturdays?", hours, "they are the closest "
             "passages it found")], 1):  # Saturday is there: the note of before
        view.show_turn(TurnView(id=n, question=question, not_found=True, consulted=[hit],
                                answer="I couldn't find this in your documents."))
        assert said in " ".join(_notes(view))


def test_the_sources_tab_stays_reachable_after_opening_five_documents(qtbot, make_window,
                                                                      data_dir):
    window = make_window(watch=False)
    sources = window.sources
    docs = [data_dir / "docs" / name for name in ("guide.md", "example.py", "latin1.txt",
                                                 "page.html", "notes_utf16.txt")]
    for path in docs:
        sources.open_document(str(path))
    tabs = sources.tabs
    assert tabs.count() == 6 and tabs.currentWidget() is not sources.view
    button = sources.sources_button
    assert button.isVisible() and not button.isChecked()
    # the button is inside the pane, not scrolled away with the tabs
    top_left = button.mapTo(tabs, button.rect().topLeft())
    assert tabs.rect().contains(top_left) and button.width() > 20
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert tabs.currentWidget() is sources.view and button.isChecked()
    # a document tab brought forward again unchecks it; closing documents never closes it
    tabs.setCurrentIndex(tabs.count() - 1)
    assert not button.isChecked()
    for _ in range(10):
        tabs.tabCloseRequested.emit(tabs.count() - 1)
    assert tabs.count() == 1 and tabs.widget(0) is sources.view


def test_conversations_with_the_same_title_can_be_told_apart(qtbot, make_window):
    import time

    from assistant.gui.controllers.conversations import list_titles
    from assistant.gui.titlelist import SUFFIX_ROLE, TITLE_ROLE, fit

    window = make_window(watch=False)
    history = window.history
    question = "How long do I have to upload receipts for the expense report?"
    first = history.create()
    history.add_turn(first.id, question)
    second = history.create()
    history.add_turn(second.id, question)
    window.conversations.refresh()
    listing = window.conversations.conversation_list
    items = [listing.item(i) for i in range(2)]
    assert len({item.text() for item in items}) == 2
    title = history.conversation(first.id).title
    suffixes = [item.data(SUFFIX_ROLE) for item in items]
    assert sum(s.startswith("(2) · ") for s in suffixes) == 1  # the newer one is numbered
    assert all(re.fullmatch(r"\d\d:\d\d", s.removeprefix("(2) · ")) for s in suffixes)
    assert all(item.data(TITLE_ROLE) == title for item in items)

    # in the narrow sidebar the title is cut, never what tells the two apart
    metrics = listing.fontMetrics()
    shown, suffix = fit(title, "(2) · 14:02", 160, metrics)
    assert suffix == "(2) · 14:02" and shown.endswith("…")
    assert metrics.horizontalAdvance(shown) + metrics.horizontalAdvance(suffix) <= 160

    now = time.mktime((2026, 12, 5, 12, 0, 0, 0, 0, -1))
    convs = [type(first)(1, "Kettle", now - 86_400 * 40, now - 86_400 * 40),
             type(first)(2, "Kettle", now - 86_400, now - 86_400 + 60),
             type(first)(3, "Hut", now - 60, now - 60),
             type(first)(4, "Hut", now - 86_400 * 400, now - 86_400 * 400)]
    names = list_titles(convs, now)
    assert names[1] == ("Kettle", "26 Oct")
    assert names[2] == ("Kettle", "(2) · yesterday")
    assert names[4] == ("Hut", "31 Oct 2025")
    assert names[3] == ("Hut", "(2) · 11:59")


def test_zooming_keeps_the_highlighted_passage_in_view(qtbot, make_window, data_dir):
    from assistant.ingest.extract import extract

    window = make_window(watch=False)
    path = data_dir / "docs" / "handbook.pdf"
    page = next(p for p in extract(path).pages if p.number == 2)
    at = page.text.index("27 months")
    start = page.text.rfind(".", 0, at) + 1
    end = page.text.index(".", at) + 1
    viewer = window.sources.open_source(
        {"path": str(path), "page": 2, "start": start, "end": end,
         "text": page.text[start:end]})
    assert viewer is not None and viewer.pdf_located
    pdf = viewer.pdf_view
    qtbot.waitUntil(lambda: pdf.highlight_rect() is not None and
                    pdf.viewport().rect().contains(pdf.highlight_rect().topLeft().toPoint()))
    before = pdf.highlight_rect()
    zoom = pdf.zoomFactor()
    for _ in range(4):
        qtbot.mouseClick(viewer.zoom_in, Qt.MouseButton.LeftButton)
        qtbot.wait(20)
        shown = pdf.highlight_rect()
        assert pdf.viewport().rect().contains(shown.topLeft().toPoint()), (shown, before)
        assert abs(shown.top() - before.top()) < 3
    assert pdf.zoomFactor() > zoom * 2
    for _ in range(2):
        qtbot.mouseClick(viewer.zoom_out, Qt.MouseButton.LeftButton)
        assert abs(pdf.highlight_rect().top() - before.top()) < 3


def test_citations_are_numbered_in_the_order_the_answer_uses_them() -> None:
    from assistant.gui.passages import renumber_citations

    hit_a, hit_b = {"path": "a.md"}, {"path": "b.md"}
    text, cites = renumber_citations("The period is 27 months [2]. Keep the box [5].",
                                     [{"n": 5, "hit": hit_b}, {"n": 2, "hit": hit_a}])
    assert text == "The period is 27 months [1]. Keep the box [2]."
    assert cites == [{"n": 1, "hit": hit_a}, {"n": 2, "hit": hit_b}]
    text, cites = renumber_citations("Both say so [3, 1].", [{"n": 1, "hit": hit_a},
                                                             {"n": 3, "hit": hit_b}])
    assert text == "Both say so [1, 2]." and cites[0]["hit"] is hit_b
    same = [{"n": 1, "hit": hit_a}]
    assert renumber_citations("Plain [1].", same) == ("Plain [1].", same)


def test_a_refusal_reports_what_happened_and_ctrl_q_quits(qtbot, make_window):
    from assistant.gui.chatview import TurnView
    from assistant.gui.controllers.conversations import timing_note

    refused = TurnView(id=1, question="q", not_found=True)
    assert timing_note(refused, 0.01) == "Not found in your documents (searched in under 0.1 s)"
    assert timing_note(TurnView(id=2, question="q"), 2.34) == "Answered in 2.3 s"

    window = make_window(watch=False)
    assert window.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()


def test_labels_are_never_cut(qtbot, make_window, data_dir, tmp_path):
    from assistant.gui.dialogs import FailuresDialog
    from assistant.gui.viewer import DocumentViewer

    window = make_window(watch=False)
    # the viewer's buttons keep their whole text: on one row where there is room, on two
    # in a narrow pane
    window.sources.open_document(str(data_dir / "docs" / "handbook.pdf"))
    viewer = window.sources.tabs.currentWidget()
    assert isinstance(viewer, DocumentViewer)
    for sizes, row in (([500, 800], viewer.tool_row), ([5000, 100], viewer.outside_row),
                       ([500, 800], viewer.tool_row)):
        window.chat_splitter.setSizes(sizes)
        qtbot.wait(20)
        assert row.indexOf(viewer.open_button) >= 0, viewer.width()
        assert viewer.open_button.text() == "Open in the system's app"
        for button in (viewer.pdf_button, viewer.text_button, viewer.zoom_in, viewer.zoom_out,
                       viewer.fit_button, viewer.open_button, viewer.reveal_button):
            assert button.width() >= button.sizeHint().width(), (viewer.width(), button.text())
            assert viewer.rect().contains(button.geometry().translated(
                button.parentWidget().mapTo(viewer, button.parentWidget().rect().topLeft())))

    # a long reason in the failures list wraps instead of being cut
    reason = ("the reader crashed on this file; skipped. " * 4).strip()
    dialog = FailuresDialog([(str(tmp_path / "report.pdf"), reason)], window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    tree = dialog.tree
    item = tree.topLevelItem(0)
    rect = tree.visualItemRect(item)
    line = tree.fontMetrics().height()
    assert tree.fontMetrics().horizontalAdvance(reason) > tree.columnWidth(1)
    assert rect.height() >= 2 * line, (rect, line)


def test_preparing_the_embedding_model_is_shown_in_the_window(qtbot, make_window):
    import threading

    from assistant.gui.backend import SharedEmbedder

    text = "Preparing the fast embedding model (once, about a minute)."
    # the embedder the app makes tells its notices to whoever listens, not only the terminal
    told: list[str] = []
    shared = SharedEmbedder()
    shared.notice = told.append
    shared.inner.notice(text)
    assert told == [text]

    window = make_window(watch=False)
    notice = window.indexing.embedder_notice
    assert not notice.isVisible()
    worker = threading.Thread(target=window.backend.embedder.notice, args=(text,))
    worker.start()
    worker.join()
    qtbot.waitUntil(notice.isVisible)
    assert notice.label.text() == "Preparing the fast embedding model (once, about a minute)…"
    assert notice.bar.maximum() == 0  # a busy bar while it works
    qtbot.waitUntil(lambda: not notice.isVisible(), timeout=3000)  # gone once it is ready


def test_settings_show_one_answer_style_plain_units_and_fit_a_small_screen(qtbot, make_window,
                                                                          tmp_path):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    window = make_window(watch=False)
    dialog = window.settings_controller.open_settings()
    qtbot.waitExposed(dialog)
    assert "collection" not in dialog.fields  # chosen in the toolbar, not twice

    # one "Answer style" choice for the three adapter settings, strength under it
    style = dialog.style_field
    assert [style.itemData(i) for i in range(style.count())] == ["grounded", "own", "none"]
    assert style.choice == "grounded" and not dialog.fields["lora_path"].isEnabled()
    style.set_style("none")
    assert dialog.value("grounded_adapter") is False and dialog.value("lora_path") == ""
    assert not dialog.fields["lora_scale"].isEnabled()
    style.set_style("own")
    dialog.fields["lora_path"].set_value(str(tmp_path / "mine.gguf"))
    assert dialog.fields["lora_path"].isEnabled() and dialog.fields["lora_scale"].isEnabled()
    assert dialog.value("lora_path") == str(tmp_path / "mine.gguf")
    style.set_style("grounded")
    assert dialog.value("grounded_adapter") is True and dialog.value("lora_path") == ""

    # passage focus says its unit, and what 0 means
    focus = dialog.fields["focus_words"]
    dialog.set_value("focus_words", 0)
    assert focus.text() == "Off: whole passages"
    dialog.set_value("focus_words", 75)
    assert focus.text() == "75 words per passage"

    # on a 1366×768 screen every option is in view at once, nothing below the fold
    dialog.fit_screen(QRect(0, 0, 1366, 728))
    qtbot.wait(20)
    assert dialog.width() <= 1366 and dialog.height() <= 728 - 40 + 1
    assert dialog.scroll_area.verticalScrollBar().maximum() == 0
    viewport = dialog.scroll_area.viewport()
    for name, field in dialog.fields.items():
        assert isinstance(field, QWidget) and field.isVisible(), name
        corner = field.mapTo(viewport, field.rect().bottomRight())
        assert viewport.rect().contains(corner), name
    dialog.reject()


def test_reasons_say_what_happened() -> None:
    assert reason_text("unsupported file type '.mp3'") == \
        "“.mp3” file: this type is not supported"
    assert reason_text("unsupported file type 'README'") == \
        "A file without an extension: this type is not supported"
    # OCR turned off in Settings: the scan says where to turn it on
    assert reason_text("no extractable text; scanned?").endswith(
        f"Turn on “{BY_NAME['ocr'].label}” in Settings to read it.")
    assert reason_text("page 2: no extractable text; scanned?") == \
        "page 2 has no text layer (probably scanned), so it is not searchable; the other " \
        "pages are"
    assert reason_text("encrypted PDF; a password is needed") == \
        "encrypted PDF; a password is needed"


def test_an_answer_quoted_by_the_reader_says_so(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The reader's span given as the answer (“words” [n]) is labelled a quote of [n], not
    "Answered from", whose tooltip says the model's sentences were checked."""
    from assistant.answer.support import QUOTE_LEAD
    from assistant.gui.chatview import TurnView, TurnWidget

    hit = {"path": "/docs/contract.docx", "text": "Invoices are due within thirty days."}
    quoted = TurnView(1, "Within how many days are invoices due?",
                      answer="\u201cthirty days\u201d [1]", citations=[{"n": 1, "hit": hit}],
                      consulted=[hit])
    widget = TurnWidget(quoted)
    qtbot.addWidget(widget)
    widget.refresh()
    assert quoted.grounding == "quoted"
    assert widget.badge.text() == "Quoted from [1]" and not widget.badge.isHidden()
    assert "reader" in widget.badge.toolTip()

    answered = TurnView(2, "How long?", answer="Within thirty days [1].",
                        citations=[{"n": 1, "hit": hit}], consulted=[hit])
    widget = TurnWidget(answered)
    qtbot.addWidget(widget)
    widget.refresh()
    assert answered.grounding == "answered" and widget.badge.text() == "Answered from [1]"

    sentence = TurnView(3, "How long?", answer=f"{QUOTE_LEAD} \u201cInvoices are due.\u201d [1]",
                        citations=[{"n": 1, "hit": hit}], consulted=[hit])
    widget = TurnWidget(sentence)
    qtbot.addWidget(widget)
    widget.refresh()
    assert widget.badge.text() == "Quoted from a passage"


def test_a_source_card_says_its_figure_is_similarity_not_the_chance_of_an_answer(
        qtbot) -> None:  # type: ignore[no-untyped-def]
    """A cited passage often scores lower than uncited ones (46% beside 51% and 54% in a
    screenshot); called "match", that read as the chance of holding the answer."""
    from assistant.gui.sourcesview import SourceCard

    hit = {"path": "/docs/handbook.pdf", "page": 5, "similarity": 0.4612,
           "text": "The keep-warm function holds the water at 83 degrees Celsius."}
    card = SourceCard(hit, "[1]", "83 degrees Celsius")
    qtbot.addWidget(card)
    assert card.score.text() == "46% similar"
    assert "not the chance" in card.score.toolTip()


def test_a_refusal_by_a_check_on_the_answer_found_says_why(qtbot, make_window, tmp_path):
    """Where no passage lacks anything the question names, a refusal made by a check on the
    answer found (a "not" its passage never says, an opposite of the question's "lowest", an
    answer repeating the question) says that check's reason rather than guessing whether the
    closest passage may hold it."""
    from assistant.gui.chatview import TurnView

    window = make_window(watch=False)
    view = window.sources.view
    suits = _hit(str(tmp_path / "handbook.pdf"), 5, "The keep-warm function holds the water at "
                 "83 degrees Celsius for up to 40 minutes after boiling, which suits green tea "
                 "and instant coffee.")
    brew = _hit(str(tmp_path / "tea.txt"), None, "Green tea is best brewed at 90 degrees.")
    for n, (question, reason, said) in enumerate([
            ("Which drinks does the keep-warm function not suit?", "negation",
             "Your question asks what is not so, and the passage the answer came from never "
             "says so. These are the closest passages found."),
            ("Which drinks does the keep-warm function suit?", "echo",
             "The only answer found repeated the words of your question."),
            ("What is the lowest temperature of the keep-warm function?", "opposite",
             "The passage the answer came from says the opposite of what your question asks "
             "about."),
            ("How long does the keep-warm function hold the water on Sundays?", "qualifier",
             "None of these passages mentions Sunday"),  # true of every passage: said first
            ("How long does the keep-warm function hold it at 90 degrees?", "qualifier",
             "The passage the answer came from does not name everything your question pins "
             "down"),  # another passage listed has 90: only the cited one is known to lack it
            ("Which drinks does the keep-warm function suit?", "model",
             "the closest passage may hold it")], 1):
        view.show_turn(TurnView(id=n, question=question, not_found=True, consulted=[suits, brew],
                                not_found_reason=reason,
                                answer="I couldn't find this in your documents."))
        assert said in " ".join(_notes(view))


@pytest.mark.slow
def test_the_reason_of_a_refusal_is_shown_and_kept_with_the_conversation(
        qtbot, make_window, data_dir):
    """The real model asked, in the window, what the handbook never denies: the note says why,
    and the reason is saved, so the conversation reopened says it again."""
    from assistant.gui.controllers.conversations import turn_view

    window = make_window()
    index_and_wait(qtbot, window, [data_dir / "docs" / "handbook.pdf"])
    with qtbot.waitSignal(window.conversations.answer_finished, timeout=ANSWER_TIMEOUT) as blocker:
        window.conversations.ask("Which drinks does the keep-warm function not suit?")
    turn = window.conversations.chat.turn(blocker.args[0])
    assert turn.not_found and turn.not_found_reason == "negation"
    said = "Your question asks what is not so"
    assert said in " ".join(_notes(window.sources.view))
    stored = window.history.turn(turn.id)
    assert stored is not None and stored.not_found_reason == "negation"
    window.sources.view.show_turn(turn_view(stored))
    assert said in " ".join(_notes(window.sources.view))
