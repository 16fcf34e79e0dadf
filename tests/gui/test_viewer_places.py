"""The viewer opens a citation at its place (issue 21): a slide and a sheet range, from real
files made here with python-pptx and openpyxl and indexed for real, through the source card
a person clicks. Qt renders neither format, so each shows as its extracted text, every place
under its heading, the cited passage highlighted and named in the top bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from test_truth import index_and_wait

from assistant.gui.viewer import Target
from assistant.ingest import places

CITIES = ["Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Bodø", "Ålesund", "Molde"]


def make_deck(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Welcome", "An overview of the year for the board."),
                        ("Hiring", "Eleven engineers joined the Oslo office."),
                        ("Quarterly results", "Revenue grew 12 percent; the ferry line to "
                                              "Svolvær made its first profit.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))


def make_book(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sales"
    sheet.append(["City", "Q1 total", "Q2 total", "Q3 total"])
    for i in range(40):
        sheet.append([f"{CITIES[i % 8]} {i // 8 + 1}", 100 + i, 200 + i, 1000 + 7 * i])
    book.create_sheet("Notes")["B3"] = "Prepared by the finance team in Lillehammer"
    book.save(str(path))


def cited(store: Any, embedder: Any, question: str, name: str, holding: str = ""
          ) -> dict[str, Any]:
    """The top hit in `name` for `question` (the first that holds `holding`), as the app keeps
    a citation's hit. The sheet's blocks of near-identical rows score within a hair of each
    other (fused 0.0323 against 0.0318), so the sheet's citation is the block holding the row
    asked about, the one an answer cites: this test is about the viewer, not the ranking."""
    from assistant.gui.history import hit_to_dict
    from assistant.search import Retriever

    hits = [h for h in Retriever(store, embedder).search(question, 5)
            if h.path.endswith(name) and holding in h.text]
    assert hits, question
    return hit_to_dict(hits[0])


def open_card(qtbot: Any, window: Any, hit: dict[str, Any], question: str) -> Any:
    """Show an answer citing `hit` and click its card, as a person would."""
    from assistant.gui.chatview import TurnView
    from assistant.gui.viewer import DocumentViewer

    sources = window.sources
    sources.view.show_turn(TurnView(id=1, question=question, answer="See [1].",
                                    citations=[{"n": 1, "hit": hit}], consulted=[hit]))
    card = sources.view.cards[0]
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    viewer = sources.tabs.currentWidget()
    assert isinstance(viewer, DocumentViewer) and viewer.path == Path(hit["path"])
    qtbot.waitUntil(lambda: viewer.stack.currentWidget() is viewer.text_view, timeout=20_000)
    return card, viewer


def highlighted(viewer: Any) -> str:
    start, end = viewer.text_view.highlight_range
    return viewer.text_view.toPlainText()[start:end]


def heading_above(viewer: Any) -> str:
    """The heading of the place the highlight sits in."""
    text = viewer.text_view.toPlainText()
    start, _ = viewer.text_view.highlight_range
    before = [(a, b) for a, b in viewer.text_view.headings if a <= start]
    assert before, "the passage is under no heading"
    a, b = before[-1]
    return text[a:b]


def test_the_viewer_opens_a_slide_and_a_sheet_range_at_their_place(qtbot, make_window, embedder,
                                                                   tmp_path):
    from assistant.store.store import Store

    folder = tmp_path / "work"
    folder.mkdir()
    make_deck(folder / "review.pptx")
    make_book(folder / "sales.xlsx")
    window = make_window(watch=False)
    summary = index_and_wait(qtbot, window, [folder])
    assert sorted(Path(p).name for p in summary.indexed) == ["review.pptx", "sales.xlsx"]

    store = Store()
    try:
        slide = cited(store, embedder, "Which ferry line made its first profit?", "review.pptx")
        sheet = cited(store, embedder, "What was the Q3 total for Tromsø 2?", "sales.xlsx",
                      holding="City: Tromsø 2 |")
    finally:
        store.close()
    assert slide["place"] == "slide 3: Quarterly results"
    assert sheet["place"].startswith("Sales!A")

    # the slide: its card names it; the viewer shows every slide under its heading, opens at
    # slide 3 with the passage highlighted, and names the slide in the top bar
    card, viewer = open_card(qtbot, window, slide, "Which ferry line made its first profit?")
    assert "Slide 3 — Quarterly results" in card.title.text()
    assert viewer.text_view.heading_texts() == [
        "Slide 1 — Welcome", "Slide 2 — Hiring", "Slide 3 — Quarterly results"]
    assert "Svolvær made its first profit" in highlighted(viewer)
    assert heading_above(viewer) == "Slide 3 — Quarterly results"
    assert viewer.page_label.text() == "Slide 3 — Quarterly results"
    cursor_line = viewer.text_view.cursorRect().center()
    assert viewer.text_view.viewport().rect().contains(cursor_line)  # scrolled into view

    # the sheet range: the same, under "Sheet Sales, A…:D…", the row with its column names
    card, viewer = open_card(qtbot, window, sheet, "What was the Q3 total for Tromsø 2?")
    sheet_name, cells = sheet["place"].split("!")
    where = f"Sheet {sheet_name}, {cells}"
    assert where in card.title.text()
    assert viewer.page_label.text() == where
    assert heading_above(viewer) == where
    assert "City: Tromsø 2 | Q1 total: 112 | Q2 total: 212 | Q3 total: 1084" in \
        highlighted(viewer)
    headings = viewer.text_view.heading_texts()
    assert headings[0].startswith("Sheet Sales, A1:D") and headings[-1] == "Sheet Notes, B3:B3"
    assert len(headings) == len(set(headings)) > 2  # each range once, no doubled heading

    # a message's long place is cut to half the bar, whole in its tooltip and its heading
    long_place = "message 2: " + "A very long subject about the harbour budget " * 3
    viewer.show_passage(Target(page=1, start=0, end=5, text="Sheet", place=long_place))
    label = viewer.page_label
    assert label.toolTip() == places.heading(long_place)
    assert label.text().endswith("…") and label.sizeHint().width() <= viewer.width() // 2 + 12


def test_the_empty_window_names_every_kind_of_file_it_reads(qtbot, make_window):
    from assistant.gui.controllers.indexing import DOCUMENT_FILTER
    from assistant.ingest.extract import SUPPORTED_EXTENSIONS

    window = make_window(watch=False)
    empty = window.conversations.chat.empty
    assert empty.title.text() == "Drop your documents here"
    said = empty.text.text()
    for kind in ("PDF", "Word", "PowerPoint", "Excel", "OpenDocument", "EPUB", "RTF", ".eml",
                 ".mbox", "Markdown", "HTML", "source code", "scans", "OCR"):
        assert kind in said, kind
    # the Add Files dialog offers every type the indexer reads, images included
    offered = set(DOCUMENT_FILTER.split(";;")[0].split("(")[1].rstrip(")").split())
    assert offered == {f"*{ext}" for ext in SUPPORTED_EXTENSIONS}
    assert {"*.pptx", "*.xlsx", "*.epub", "*.eml", "*.png", "*.tiff"} <= offered


def test_a_scanned_page_opens_with_the_passage_marked_where_ocr_read_it(
        qtbot, make_window, embedder, data_dir, tmp_path):
    import shutil

    from assistant.gui.chatview import TurnView
    from assistant.store.store import Store

    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(data_dir / "bad" / "scanned.pdf", folder / "delivery.pdf")  # no text layer
    window = make_window(watch=False)
    summary = index_and_wait(qtbot, window, [folder])  # read by OCR (on by default)
    assert [Path(p).name for p in summary.indexed] == ["delivery.pdf"]
    store = Store()
    try:
        hit = cited(store, embedder, "Who received the delivery?", "delivery.pdf")
    finally:
        store.close()
    text = hit["text"]
    span = (text.index("Received by"), text.index("Okafor") + len("Okafor"))
    window.sources.view.show_turn(TurnView(
        id=1, question="Who received the delivery?", answer="J. Okafor [1].",
        citations=[{"n": 1, "hit": hit, "span": list(span)}], consulted=[hit]))
    qtbot.mouseClick(window.sources.view.cards[0], Qt.MouseButton.LeftButton)
    viewer = window.sources.tabs.currentWidget()
    assert viewer.path.name == "delivery.pdf" and viewer.mode == "pdf"
    qtbot.waitUntil(lambda: viewer.pdf_located, timeout=10_000)
    # PDFium has no text for this page: the marks come from OCR's word boxes
    assert viewer.pdf_doc.getAllText(0).text().strip() == ""
    passage, cited_words = viewer.pdf_view.highlights[0]
    assert len(passage[0]) == len(text.split())  # one box a word
    assert len(cited_words[0]) == 4  # "Received", "by:", "J.", "Okafor"
    page = viewer.pdf_doc.pagePointSize(0)
    boxes = [p.boundingRect() for p in passage[0]]
    assert all(0 <= b.left() < b.right() <= page.width() and
               0 <= b.top() < b.bottom() <= page.height() for b in boxes)
    # the cited words sit on one line, below the first line of the scan
    tops = [p.boundingRect().top() for p in cited_words[0]]
    assert max(tops) - min(tops) < 6 and min(tops) > min(b.top() for b in boxes) + 6
    assert "OCR" in viewer.notice.text()


def test_a_photographed_page_opens_as_the_image_with_the_passage_marked(
        qtbot, make_window, embedder, tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    from assistant.store.store import Store

    folder = tmp_path / "photos"
    folder.mkdir()
    picture = Image.new("L", (1240, 700), color=245)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=40)
    for row, line in enumerate(["Ferry ticket 2291", "From Bodø to Moskenes",
                                "Departure 15:30, quay 4"]):
        draw.text((60, 60 + 90 * row), line, fill=20, font=font)
    picture.save(folder / "ticket.png")
    window = make_window(watch=False)
    summary = index_and_wait(qtbot, window, [folder])  # read by OCR (on by default)
    assert [Path(p).name for p in summary.indexed] == ["ticket.png"]
    store = Store()
    try:
        hit = cited(store, embedder, "When does the ferry to Moskenes leave?", "ticket.png")
    finally:
        store.close()

    from assistant.gui.chatview import TurnView

    window.sources.view.show_turn(TurnView(id=1, question="When?", answer="15:30 [1].",
                                           citations=[{"n": 1, "hit": hit}], consulted=[hit]))
    qtbot.mouseClick(window.sources.view.cards[0], Qt.MouseButton.LeftButton)
    viewer = window.sources.tabs.currentWidget()
    assert viewer.path.name == "ticket.png" and viewer.mode == "image"
    assert viewer.stack.currentWidget() is viewer.image_view and viewer.pdf_located
    rects = viewer.image_view.marked_rects()
    assert len(rects) == len(hit["text"].split())  # one box a word OCR read
    canvas = viewer.image_view.canvas
    assert canvas.pixmap().width() == canvas.width() > 100
    assert all(0 <= r.left() < r.right() <= canvas.width() for r in rects)
    # the three lines of the ticket, top to bottom
    assert len({round(r.top() / 20) for r in rects}) == 3
    # Text shows what OCR read, the passage highlighted
    qtbot.mouseClick(viewer.text_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: viewer.stack.currentWidget() is viewer.text_view, timeout=20_000)
    assert "Moskenes" in highlighted(viewer)
