"""Extraction over real documents made by tests/data/make_data.py (fpdf2, pikepdf, python-docx)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from assistant.ingest.extract import (
    MAX_FILE_BYTES,
    SUPPORTED_EXTENSIONS,
    ExtractionError,
    Page,
    detect_kind,
    extract,
    is_supported,
)

DATA = Path(__file__).resolve().parents[1] / "data"
DOCS = DATA / "docs"
BAD = DATA / "bad"


def reason_for(path: Path, **kwargs: int) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(path, **kwargs)
    assert str(info.value) == info.value.reason
    return info.value.reason


def pages_containing(pages: list[Page], needle: str) -> list[int | None]:
    return [page.number for page in pages if needle in page.text]


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def test_handbook_keeps_page_numbers_and_facts_land_on_their_pages() -> None:
    result = extract(DOCS / "handbook.pdf")
    assert result.kind == "pdf"
    assert [page.number for page in result.pages] == [1, 2, 3, 4, 5]
    assert result.warnings == []
    assert result.title == "Zephyr X200 Kettle - Owner's Handbook"
    assert pages_containing(result.pages, "2150 watts") == [1]
    assert pages_containing(result.pages, "27 months") == [2]
    assert pages_containing(result.pages, "every 45 days") == [3]
    assert pages_containing(result.pages, "opens at 07:45") == [4]
    assert pages_containing(result.pages, "83 degrees Celsius") == [5]
    for page in result.pages:
        assert page.text.startswith(f"{page.number}. ")  # each page begins with its heading


def test_pdf_text_is_normalised_with_paragraph_breaks() -> None:
    page3 = extract(DOCS / "handbook.pdf").pages[2]
    # The heading and the four paragraphs are separated by blank lines...
    assert page3.text.count("\n\n") == 4
    assert page3.text.startswith("3. Cleaning and descaling\n\nHard water leaves")
    # ...while lines inside a paragraph are not.
    assert "quiet and efficient.\n\nBrightwater recommends" in page3.text
    # "solu-\ntion" (hyphenated at a line end in the PDF) is rejoined.
    assert "descaling solution made from citric acid" in page3.text
    assert "solu-" not in page3.text
    assert "  " not in page3.text
    assert "\n\n\n" not in page3.text


def test_encrypted_pdf_with_user_password_is_refused() -> None:
    assert reason_for(BAD / "encrypted.pdf") == "encrypted (password required)"


def test_aes_encrypted_pdf_is_refused_as_encrypted() -> None:
    # Without the optional 'cryptography' package pypdf cannot even test the password;
    # either way the reason must say "encrypted", not "corrupt".
    assert reason_for(BAD / "encrypted_aes256.pdf").startswith("encrypted")


def test_pdf_with_empty_user_password_opens() -> None:
    result = extract(DOCS / "encrypted_empty_pw.pdf")
    assert [page.number for page in result.pages] == [1]
    assert "car park C" in result.pages[0].text
    assert result.title == "Quarterly safety audit"


def test_truncated_pdf_is_corrupt_not_a_crash() -> None:
    reason = reason_for(BAD / "truncated.pdf")
    assert reason.startswith("corrupt PDF: file is truncated")


def test_damaged_pdf_with_intact_end_is_corrupt_but_not_truncated(tmp_path: Path) -> None:
    data = (DOCS / "handbook.pdf").read_bytes()
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(data[:200] + data[len(data) // 2 :])  # middle gone, %%EOF kept
    reason = reason_for(damaged)
    assert reason.startswith("corrupt PDF: ")
    assert "truncated" not in reason


def test_scanned_pdf_without_text_layer_is_refused() -> None:
    assert reason_for(BAD / "scanned.pdf") == "no extractable text; scanned?"


def test_pdf_with_one_scanned_page_keeps_it_and_warns() -> None:
    result = extract(DOCS / "mixed_scan.pdf")
    assert [page.number for page in result.pages] == [1, 2]
    assert "14 March" in result.pages[0].text
    assert result.pages[1].text == ""
    assert result.warnings == ["page 2: no extractable text; scanned?"]


def test_text_file_named_pdf_is_mislabelled() -> None:
    reason = reason_for(BAD / "mislabelled.pdf")
    assert reason.startswith("not a PDF (mislabelled file")
    assert "plain text" in reason
    with pytest.raises(ExtractionError, match="not a PDF"):
        detect_kind(BAD / "mislabelled.pdf")


def test_pdf_magic_may_follow_junk_within_first_kilobyte(tmp_path: Path) -> None:
    shifted = tmp_path / "shifted.pdf"
    shifted.write_bytes(b"\n" * 300 + (DOCS / "encrypted_empty_pw.pdf").read_bytes())
    assert detect_kind(shifted) == "pdf"
    far = tmp_path / "far.pdf"
    far.write_bytes(b"x" * 1100 + (DOCS / "encrypted_empty_pw.pdf").read_bytes())
    with pytest.raises(ExtractionError, match="not a PDF"):
        detect_kind(far)


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------


def test_docx_paragraphs_headings_and_table_rows_in_document_order() -> None:
    result = extract(DOCS / "contract.docx")
    assert result.kind == "docx"
    assert [page.number for page in result.pages] == [None]
    assert result.title == "Service Agreement - Northwind Logistics and Harbor Analytics"
    text = result.pages[0].text
    assert "Notice period | 93 days" in text
    assert "Term | Value\nStart date | 1 April 2024\nMinimum term | 24 months" in text
    order = [
        "Service Agreement\n\n",
        "Key terms",
        "summarised in this table:",
        "Term | Value",
        "Notice period | 93 days",
        "Governing law | Hamburg, Germany",
        "Either party may terminate",
        "Confidentiality",
        "three years after it ends.",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    # Headings stay separate paragraphs.
    assert "\n\nKey terms\n\n" in text
    assert "\n\nConfidentiality\n\n" in text


def test_text_file_named_docx_is_mislabelled() -> None:
    assert reason_for(BAD / "mislabelled.docx").startswith("not a Word document (mislabelled")


def test_broken_zip_named_docx_is_corrupt(tmp_path: Path) -> None:
    data = (DOCS / "contract.docx").read_bytes()
    broken = tmp_path / "broken.docx"
    broken.write_bytes(data[: len(data) // 2])
    assert reason_for(broken).startswith("corrupt Word document")


# ---------------------------------------------------------------------------------------------
# Text, Markdown, code
# ---------------------------------------------------------------------------------------------


def test_utf16_with_bom_is_decoded() -> None:
    raw = (DOCS / "notes_utf16.txt").read_bytes()
    assert raw[:2] == b"\xff\xfe" and b"\x00" in raw  # the file really is UTF-16 LE
    result = extract(DOCS / "notes_utf16.txt")
    assert result.kind == "text"
    text = result.pages[0].text
    assert "Venue: Café Lumière, Lindenstraße 12, Köln." in text
    assert "booked for 38 people" in text
    assert "“Naïve assumptions in our forecasts”" in text
    assert "\ufeff" not in text and "\x00" not in text


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-8-sig", "utf-32"])
def test_other_unicode_boms(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes("Grüße aus der Straße – 42 €\r\nzweite Zeile".encode(encoding))
    assert extract(path).pages[0].text == "Grüße aus der Straße – 42 €\nzweite Zeile"


def test_cp1252_text_is_decoded_as_western_european() -> None:
    raw = (DOCS / "latin1.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = extract(DOCS / "latin1.txt").pages[0].text
    for word in ["Jönköping", "Måns Åström", "façade", "jalapeño", "piña", "déjà-vu", "1 800 €"]:
        assert word in text
    assert "“never again without a back-up heater”" in text
    assert "\r" not in text and "\ufffd" not in text
    assert "11 minutes" in text


def test_markdown_is_kept_as_is_and_titled_by_first_heading() -> None:
    result = extract(DOCS / "guide.md")
    assert result.kind == "markdown"
    assert result.title == "Field Guide to the Oakridge Trail"
    assert result.pages == [Page(None, (DOCS / "guide.md").read_text(encoding="utf-8"))]
    assert "has 14 bunks" in result.pages[0].text


def test_markdown_title_ignores_code_fences(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("```sh\n# not a title\n```\n\nIntro\n\n# Real title #\n", encoding="utf-8")
    assert extract(path).title == "Real title"


def test_source_code_is_read_verbatim() -> None:
    result = extract(DOCS / "example.py")
    assert result.kind == "code"
    assert result.title is None
    assert result.pages == [Page(None, (DOCS / "example.py").read_text(encoding="utf-8"))]


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def test_html_visible_text_only_with_title() -> None:
    result = extract(DOCS / "page.html")
    assert result.kind == "html"
    assert result.title == "Riverside Library – Opening Hours"
    text = result.pages[0].text
    assert "MARKER_SHOULD_NOT_APPEAR" not in text  # script, style, noscript, template
    assert "font-family" not in text and "addEventListener" not in text
    assert "Riverside Library – Opening Hours" not in text  # <title> is head content
    # Inline <b> does not break the sentence; block elements do.
    assert "The reading room on the third floor closes at 21:30 on Thursdays" in text
    assert "\nFriday: 09:00–17:00\n" in text
    assert "Opening hours\n\nThe Riverside Library is open to everyone." in text
    assert "Printing | Ground floor, near the café in Zürich wing" in text


def test_html_declared_legacy_charset(tmp_path: Path) -> None:
    path = tmp_path / "old.htm"
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    html += "<title>Menü</title></head><body><p>Crème brûlée – 7 €</p></body></html>"
    path.write_bytes(html.encode("cp1252"))
    result = extract(path)
    assert result.title == "Menü"
    assert result.pages[0].text == "Crème brûlée – 7 €"


# ---------------------------------------------------------------------------------------------
# Sniffing, limits, folders
# ---------------------------------------------------------------------------------------------


def test_empty_and_whitespace_only_files(tmp_path: Path) -> None:
    assert reason_for(BAD / "empty.txt") == "empty file"
    blank = tmp_path / "blank.md"
    blank.write_bytes(b" \r\n\t\n   ")
    assert reason_for(blank) == "empty file"
    blank_pdf = tmp_path / "blank.pdf"
    blank_pdf.write_bytes(b"\n\n")
    assert reason_for(blank_pdf) == "empty file"


def test_binary_file_with_text_extension() -> None:
    assert reason_for(BAD / "garbage.bin.txt") == "binary file, not text"
    with pytest.raises(ExtractionError, match="binary"):
        detect_kind(BAD / "garbage.bin.txt")


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    assert (
        reason_for(DOCS / "handbook.pdf", max_bytes=1000) == "too large (6 KB > 1000 bytes limit)"
    )
    # A sparse 300 MB file: refused at once by size, without reading 300 MB.
    huge = tmp_path / "huge.log"
    with huge.open("wb") as fh:
        fh.truncate(300 * 1024 * 1024)
    assert reason_for(huge) == "too large (300 MB > 200 MB limit)"
    assert MAX_FILE_BYTES == 200 * 1024 * 1024


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("hello", encoding="utf-8")
    assert not is_supported(path)
    assert reason_for(path) == "unsupported file type '.xyz'"
    with pytest.raises(ExtractionError, match="unsupported"):
        detect_kind(path)


def test_missing_file_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    assert reason_for(tmp_path / "gone.txt").startswith("cannot read file")


def test_supported_extensions() -> None:
    assert all(ext.startswith(".") and ext == ext.lower() for ext in SUPPORTED_EXTENSIONS)
    for name in ["a.PDF", "b.docx", "c.Md", "d.htm", "e.rst", "f.yaml", "g.rs", "h.tex", "i.sql",
                 "j.PPTX", "k.xlsx", "l.epub", "m.png", "n.TIFF", "o.mbox"]:
        assert is_supported(Path(name)), name
    for name in ["a.exe", "b.mp3", "c.doc", "d", "e.tar.gz"]:
        assert not is_supported(Path(name)), name


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("handbook.pdf", "pdf"),
        ("contract.docx", "docx"),
        ("guide.md", "markdown"),
        ("page.html", "html"),
        ("notes_utf16.txt", "text"),
        ("latin1.txt", "text"),
        ("example.py", "code"),
    ],
)
def test_detect_kind(name: str, kind: str) -> None:
    assert detect_kind(DOCS / name) == kind


def test_every_good_document_extracts_and_every_bad_one_has_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    good = sorted(p for p in DOCS.iterdir() if is_supported(p))
    bad = sorted(p for p in BAD.iterdir() if is_supported(p))
    assert len(good) == 9 and len(bad) == 8
    for path in good:
        result = extract(path)
        assert any(page.text.strip() for page in result.pages), path
    for path in bad:
        assert reason_for(path), path
    # pypdf's recoverable-problem chatter must not reach the user's console or logs.
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []


def test_questions_point_at_text_that_is_really_there() -> None:
    questions = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))
    assert len(questions) >= 8
    for item in questions:
        result = extract(DATA / item["file"])
        where = pages_containing(result.pages, item["answer_contains"])
        assert item["page"] in where, item
