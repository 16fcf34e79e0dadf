"""Slides, spreadsheets, e-books, OpenDocument, RTF and mail: real files made here with the
libraries people's own programs use (python-pptx, openpyxl, odfpy, ebooklib, the standard
library's email), read back with the place each passage came from."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from assistant.ingest.extract import ExtractionError, detect_kind, extract, is_supported
from assistant.ingest.worker import prepare
from assistant.store.store import Store

# --- makers -----------------------------------------------------------------------------------


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Quarterly review"
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Quarterly results"
    first.placeholders[1].text = "Revenue grew 12 percent.\nCosts fell in every region."
    first.notes_slide.notes_text_frame.text = "Mention the new office in Bergen opens in May."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Headcount"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (r, c), text in {(0, 0): "City", (0, 1): "People", (1, 0): "Oslo",
                         (1, 1): "41"}.items():
        table.cell(r, c).text = text
    deck.slides.add_slide(deck.slide_layouts[6])  # a blank slide
    deck.save(str(path))
    return path


CITIES = ["Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Bodø", "Ålesund", "Molde"]


def make_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sales"
    sheet.append(["City", "Q1 total", "Q2 total", "Q3 total"])
    for i in range(40):
        sheet.append([f"{CITIES[i % 8]} {i // 8 + 1}", 100 + i, 200.5 + i, 1000 + 7 * i])
    notes = book.create_sheet("Notes")
    notes["B3"] = "Prepared by the finance team in Lillehammer"
    book.save(str(path))
    return path


def make_ods(path: Path) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Budget")
    for row in [["Item", "Cost"], ["Rent", "1200"], ["Electricity", "300"]]:
        tr = TableRow()
        for value in row:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            tr.addElement(cell)
        table.addElement(tr)
    gap = TableRow(numberrowsrepeated=1000)  # an empty tail, as spreadsheets save them
    gap.addElement(TableCell(numbercolumnsrepeated=1024))
    table.addElement(gap)
    tr = TableRow()
    tr.addElement(TableCell(numbercolumnsrepeated=2))
    last = TableCell(valuetype="string")
    last.addElement(P(text="Approved by the board"))
    tr.addElement(last)
    table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P, S, Span

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="Field guide"))
    para = P(text="Moose are common")
    para.addElement(S(c=1))
    para.addElement(Span(text="in the forests north of Oslo."))
    doc.text.addElement(para)
    doc.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("sea-stories-1")
    book.set_title("Sea stories")
    book.set_language("en")
    chapters = [("The Harbour", "The ship left the harbour at dawn with forty sailors."),
                ("The Storm", "Waves broke over the deck for three days and nights."),
                ("The Island", "They found fresh water on the third island.")]
    items = []
    for n, (title, text) in enumerate(chapters, 1):
        item = epub.EpubHtml(title=title, file_name=f"chap_{n}.xhtml")
        item.content = f"<h1>{title}</h1><p>{text}</p>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def make_message(subject: str, sender: str, body: str, date: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = "ola@example.org"
    message["Date"] = date
    message.set_content(body)
    return message


def make_eml(path: Path) -> Path:
    message = make_message("Lunch on Friday", "Kari Nordmann <kari@example.org>",
                           "Shall we meet at the canteen at noon?", "Thu, 03 Dec 2026 10:00:00 +0100")
    message.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf",
                           filename="menu.pdf")
    path.write_bytes(bytes(message))
    return path


def make_mbox(path: Path, n: int = 3) -> Path:
    box = mailbox.mbox(str(path))
    for i in range(n):
        box.add(make_message(f"Report {i}", "boss@example.org",
                             f"Report number {i} is due on the {i + 10}th.",
                             "Mon, 30 Nov 2026 09:00:00 +0000"))
    html = EmailMessage()
    html["Subject"] = "Newsletter"
    html["From"] = "news@example.org"
    html.set_content("<html><body><p>The <b>sauna</b> opens on Monday.</p>"
                     "<script>x()</script></body></html>", subtype="html")
    box.add(html)
    box.flush()
    box.close()
    return path


def make_rtf(path: Path) -> Path:
    path.write_bytes(rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}\f0 The fa\'e7ade needs "
                     rb"paint.\par {\b Budget:} 4000 kroner.\par}")
    return path


# --- extraction -------------------------------------------------------------------------------


def test_every_new_extension_is_supported() -> None:
    for ext in (".pptx", ".xlsx", ".ods", ".odt", ".epub", ".rtf", ".eml", ".mbox"):
        assert is_supported(Path(f"x{ext}")), ext


def test_pptx_slides_keep_number_title_and_notes(tmp_path: Path) -> None:
    got = extract(make_pptx(tmp_path / "deck.pptx"))
    assert got.kind == "pptx" and got.title == "Quarterly review"
    assert [p.number for p in got.pages] == [1, 2, 3]
    assert [p.label for p in got.pages] == ["slide 1: Quarterly results", "slide 2: Headcount",
                                            "slide 3"]
    assert "Revenue grew 12 percent." in got.pages[0].text
    assert "Speaker notes: Mention the new office in Bergen" in got.pages[0].text
    assert "City | People\nOslo | 41" in got.pages[1].text
    assert got.warnings == ["slides without text: 3"]


def test_xlsx_rows_keep_their_header_and_cite_a_cell_range(tmp_path: Path) -> None:
    got = extract(make_xlsx(tmp_path / "book.xlsx"))
    assert got.kind == "xlsx"
    labels = [p.label for p in got.pages]
    assert labels[0].startswith("Sales!A1:D") and labels[-1] == "Notes!B3:B3"
    assert [p.number for p in got.pages] == list(range(1, len(got.pages) + 1))
    row = "City: Tromsø 2 | Q1 total: 112 | Q2 total: 212.5 | Q3 total: 1084"
    holding = [p for p in got.pages if row in p.text]
    assert len(holding) == 1
    # row 14 of the sheet (header in row 1) lies inside the cited range
    first, last = holding[0].label.split("!")[1].split(":")
    assert int(first[1:]) <= 14 <= int(last[1:])
    assert all(len(p.text) < 500 for p in got.pages)  # about one chunk each
    assert "Prepared by the finance team" in got.pages[-1].text


def test_ods_is_read_with_repeated_rows_skipped(tmp_path: Path) -> None:
    got = extract(make_ods(tmp_path / "budget.ods"))
    assert got.kind == "ods"
    assert got.pages[0].label == "Budget!A1:C1004"
    assert "Item: Electricity | Cost: 300" in got.pages[0].text
    assert "C: Approved by the board" in got.pages[0].text


def test_odt_and_rtf(tmp_path: Path) -> None:
    odt = extract(make_odt(tmp_path / "guide.odt"))
    assert odt.kind == "odt" and odt.title == "Field guide"
    assert odt.pages[0].text == "Field guide\n\nMoose are common in the forests north of Oslo."
    rtf = extract(make_rtf(tmp_path / "memo.rtf"))
    assert rtf.kind == "rtf"
    assert rtf.pages[0].text == "The façade needs paint.\nBudget: 4000 kroner."


def test_epub_chapters_in_reading_order_with_titles(tmp_path: Path) -> None:
    got = extract(make_epub(tmp_path / "sea.epub"))
    assert got.kind == "epub" and got.title == "Sea stories"
    assert [p.label for p in got.pages] == ["chapter 1: The Harbour", "chapter 2: The Storm",
                                            "chapter 3: The Island"]
    assert "forty sailors" in got.pages[0].text and "third island" in got.pages[2].text


def test_mail_keeps_subject_sender_and_date(tmp_path: Path) -> None:
    eml = extract(make_eml(tmp_path / "lunch.eml"))
    assert eml.kind == "eml" and eml.title == "Lunch on Friday"
    page = eml.pages[0]
    assert page.label == ("message: Lunch on Friday from Kari Nordmann <kari@example.org>, "
                          "Thu, 03 Dec 2026 10:00:00 +0100")
    assert "canteen at noon" in page.text and "Attachments: menu.pdf" in page.text
    box = extract(make_mbox(tmp_path / "inbox.mbox"))
    assert box.kind == "mbox"
    assert [p.number for p in box.pages] == [1, 2, 3, 4]
    assert box.pages[2].label.startswith("message 3: Report 2 from boss@example.org")
    assert "due on the 12th" in box.pages[2].text
    assert "The sauna opens on Monday." in box.pages[3].text and "x()" not in box.pages[3].text


def test_mislabelled_packages_are_named(tmp_path: Path) -> None:
    for ext, words in [(".pptx", "not a PowerPoint presentation"), (".xlsx", "not an Excel"),
                       (".epub", "not an EPUB e-book"), (".odt", "not an OpenDocument text"),
                       (".ods", "not an OpenDocument spreadsheet"), (".rtf", "not an RTF")]:
        path = tmp_path / f"fake{ext}"
        path.write_text("just some plain text pretending\n", encoding="utf-8")
        with pytest.raises(ExtractionError) as info:
            detect_kind(path)
        assert info.value.reason.startswith(words), info.value.reason
        assert "content is plain text" in info.value.reason


def test_a_docx_renamed_pptx_is_a_sentence(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("hello")
    path = tmp_path / "renamed.pptx"
    document.save(str(path))
    with pytest.raises(ExtractionError) as info:
        extract(path)
    assert info.value.reason.startswith(("not a PowerPoint", "corrupt PowerPoint")), \
        info.value.reason


# --- the place travels with the chunk into the store ------------------------------------------


def test_places_reach_the_store(tmp_path: Path, app_home: Path) -> None:
    import numpy as np

    from assistant.store.store import ChunkRow

    prepared = prepare(str(make_pptx(tmp_path / "deck.pptx")), 160, 10**9)
    assert prepared.error is None and prepared.pages == 3
    assert {c.place for c in prepared.chunks} == {"slide 1: Quarterly results",
                                                  "slide 2: Headcount"}
    store = Store()
    try:
        cid = store.collection_id("default")
        assert cid is not None
        store.write_document(cid, str(tmp_path / "deck.pptx"), size=1, mtime=1.0, hash="h",
                             kind="pptx", title=None, pages=3, warnings=[],
                             chunks=[ChunkRow(c.page, c.start, c.end, c.text, c.place)
                                     for c in prepared.chunks],
                             vectors=np.zeros((len(prepared.chunks), 384), np.float32))
        ids = [row[0] for row in store.conn.execute("SELECT id FROM chunks ORDER BY seq")]
        rows = store.chunks_by_id(ids)
        assert [rows[i]["place"] for i in ids] == [c.place for c in prepared.chunks]
        assert [rows[i]["page"] for i in ids] == [c.page for c in prepared.chunks]
    finally:
        store.close()


@pytest.mark.slow
def test_each_format_is_found_at_its_place(tmp_path: Path, app_home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """A question whose answer sits on a known slide, sheet range, chapter or message finds
    that place in the top 5."""
    from assistant.answer.citations import hit_json
    from assistant.ingest.indexer import Indexer
    from assistant.search import Retriever

    folder = tmp_path / "docs"
    folder.mkdir()
    make_pptx(folder / "deck.pptx")
    make_xlsx(folder / "book.xlsx")
    make_ods(folder / "budget.ods")
    make_epub(folder / "sea.epub")
    make_mbox(folder / "inbox.mbox")
    make_odt(folder / "guide.odt")
    make_rtf(folder / "memo.rtf")
    make_eml(folder / "lunch.eml")
    store = Store()
    try:
        summary = Indexer(store, embedder).index([folder], "default")
        assert not summary.failed and len(summary.indexed) == 8
        retriever = Retriever(store, embedder)
        cases = [
            ("When does the new office in Bergen open?", "deck.pptx", "slide 1: Quarterly results"),
            ("What was the Q3 total for Tromsø 2?", "book.xlsx", None),
            ("How much does electricity cost in the budget?", "budget.ods", "Budget!A1:C1004"),
            ("How long did the waves break over the deck?", "sea.epub", "chapter 2: The Storm"),
            ("When is report number 1 due?", "inbox.mbox", "message 2: Report 1"),
            ("Where are moose common?", "guide.odt", None),
            ("What does the façade need?", "memo.rtf", None),
            ("Where shall we meet for lunch?", "lunch.eml", "message: Lunch on Friday"),
        ]
        for question, name, place in cases:
            hits = retriever.search(question, 5)
            places = store.chunks_by_id([h.chunk_id for h in hits])
            # each hit carries its place, in --json and in citations too
            assert all(h.place == places[h.chunk_id]["place"] == h.to_json()["place"] ==
                       hit_json(1, h)["place"] for h in hits)
            found = [h.place or "" for h in hits if h.path.endswith(name)]
            assert found, (question, [Path(h.path).name for h in hits])
            if place is not None:
                assert any(p.startswith(place) for p in found), (question, found)
        sales = [store.chunks_by_id([h.chunk_id])[h.chunk_id]["place"]
                 for h in retriever.search("What was the Q3 total for Tromsø 2?", 5)
                 if h.path.endswith("book.xlsx")]
        assert sales and sales[0].startswith("Sales!A")
        assert store.check_consistency() == []
    finally:
        store.close()


def test_each_spreadsheet_block_is_one_chunk_so_its_range_is_exact(tmp_path: Path) -> None:
    prepared = prepare(str(make_xlsx(tmp_path / "book.xlsx")), 160, 10**9)
    assert prepared.error is None
    places = [c.place for c in prepared.chunks]
    assert len(places) == len(set(places)) == prepared.pages
    assert all(c.text.startswith("Sheet ") for c in prepared.chunks)  # no row cut in two


def test_mail_attachments_of_a_supported_type_are_read_as_places_of_the_message(
        tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("The tender closes on 14 March at noon.")
    buf = tmp_path / "tender.docx"
    document.save(str(buf))
    message = make_message("Tender papers", "Per <per@example.org>", "See the attached files.",
                           "Tue, 01 Dec 2026 08:00:00 +0100")
    message.add_attachment(buf.read_bytes(), maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename="tender.docx")
    message.add_attachment((Path(__file__).parents[1] / "data" / "docs" / "handbook.pdf")
                           .read_bytes(), maintype="application", subtype="pdf",
                           filename="handbook.pdf")
    message.add_attachment(b"MZ\x90\x00binary", maintype="application", subtype="octet-stream",
                           filename="setup.exe")
    inner = make_message("Forwarded", "a@example.org", "inner text", "Tue, 01 Dec 2026 08:00:00 +0100")
    message.add_attachment(bytes(inner), maintype="application", subtype="octet-stream",
                           filename="old.eml")
    path = tmp_path / "tender.eml"
    path.write_bytes(bytes(message))
    got = extract(path)
    assert got.pages[0].number is None
    assert "Attachments: tender.docx, handbook.pdf, setup.exe, old.eml" in got.pages[0].text
    labels = [p.label for p in got.pages[1:]]
    prefix = "message: Tender papers from Per <per@example.org>, Tue, 01 Dec 2026 08:00:00 +0100"
    assert labels[0] == f"{prefix}, attachment tender.docx"
    assert labels[1] == f"{prefix}, attachment handbook.pdf, page 1"
    assert len(labels) == 1 + len(extract(Path(__file__).parents[1] / "data" / "docs" /
                                          "handbook.pdf").pages)
    assert [p.number for p in got.pages[1:]] == list(range(1, len(labels) + 1))
    assert "tender closes on 14 March" in got.pages[1].text
    assert not any("inner text" in p.text for p in got.pages)  # mail inside mail: named only
    # in a mailbox, the messages keep their own numbers beside the attachments' places
    box = mailbox.mbox(str(tmp_path / "box.mbox"))
    box.add(message)
    box.add(make_message("After", "b@example.org", "The last one.", "Wed, 02 Dec 2026 08:00:00 +0100"))
    box.close()
    got = extract(tmp_path / "box.mbox")
    assert got.pages[-1].label.startswith("message 2: After")
    assert got.pages[1].label.startswith("message 1: Tender papers") and \
        got.pages[1].label.endswith("attachment tender.docx")


def test_places_are_worded_the_same_everywhere() -> None:
    from assistant.ingest.places import cell_range, heading, where

    assert heading("slide 3: Quarterly results") == "Slide 3 — Quarterly results"
    assert heading("slide 4") == "Slide 4"
    assert heading("Sales!A1:D12") == "Sheet Sales, A1:D12"
    assert heading("Q1 & Q2!B3:B3") == "Sheet Q1 & Q2, B3:B3"
    assert heading("chapter 2: The Storm") == "Chapter 2 — The Storm"
    assert heading("message 3: Report 2 from boss@example.org, Mon, 30 Nov 2026") == \
        "Message 3 — Report 2 from boss@example.org, Mon, 30 Nov 2026"
    assert heading("message: Lunch\non Friday") == "Message — Lunch on Friday"
    assert heading("something else") == "something else"
    assert where(4, None) == "page 4" and where(None, None) == ""
    assert where(2, "slide 2: Headcount") == "Slide 2 — Headcount"
    assert cell_range("Sales!A1:D12") == ("Sales", "A1:D12")
    assert cell_range("slide 2: Headcount") is None and cell_range(None) is None
