"""Fast checks of the hostile cases found by the corpus, kill, disk and fuzz tests.

Each pins one fix: a cap that applies before parsing, a sentence instead of exception text,
a file swapped under the reader, a name that is not text, offline forcing, GGUF settings
llama.cpp would crash on.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from hostile.sentences import internals_in

from assistant.errors import ModelError
from assistant.ingest.extract import MAX_FILE_BYTES, ExtractionError, extract
from assistant.ingest.indexer import scan
from assistant.ingest.worker import prepare

DATA = Path(__file__).resolve().parents[1] / "data"


def reason_for(path: Path) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(path)
    assert not internals_in(info.value.reason), info.value.reason
    return info.value.reason


def docx_with(tmp_path: Path, name: str, replace: dict[str, bytes]) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(DATA / "docs" / "contract.docx") as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


# --- HTML and text -----------------------------------------------------------------------------

def test_deeply_nested_html_is_flattened_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * 200_000 + "the kettle boils at dawn" +
                    "</div>" * 200_000, encoding="utf-8")
    started = time.perf_counter()
    result = extract(path)
    assert time.perf_counter() - started < 5  # it held a run for its whole 120 s limit before
    assert "the kettle boils at dawn" in result.pages[0].text
    assert result.warnings and "nested more than 512 levels" in result.warnings[0]


def test_ordinary_html_is_left_alone() -> None:
    from assistant.ingest.formats.web import _flatten_deep_html

    html = (DATA / "docs" / "page.html").read_text(encoding="utf-8")
    assert _flatten_deep_html(html) == (html, False)
    unclosed = "<ul>" + "<li>item" * 5000 + "</ul>" + "<p>para" * 5000  # implied ends: flat
    assert _flatten_deep_html(unclosed)[1] is False


def test_huge_text_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    with path.open("wb") as fh:
        fh.write(b'{"a": "' + b"plain text " * 2000)  # a text head; the rest is a hole
        fh.truncate(50 * 1024 * 1024)
    assert reason_for(path).startswith("too large for a text file (50 MB > 16 MB limit)")


# --- Word documents ----------------------------------------------------------------------------

def test_content_types_with_a_foreign_root_is_a_sentence(tmp_path: Path) -> None:
    # what a user saw: "corrupt Word document: 'lxml.etree._Element' object has no attribute
    # 'overrides'" for a zip bomb whose [Content_Types].xml is not the expected element
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
              b"<lolz>&lol2;</lolz>")
    path = docx_with(tmp_path, "bomb.docx", {"[Content_Types].xml": laughs})
    assert reason_for(path).startswith("corrupt Word document: ")


def test_zip_bomb_is_refused_from_the_directory(tmp_path: Path) -> None:
    from hostile.corpus import _deflate_stream, _raw_zip, _stored

    deflated, crc, size = _deflate_stream(b"<w:document>", b" ", 300 * 1024 * 1024)
    path = tmp_path / "bomb.docx"
    path.write_bytes(_raw_zip([_stored("[Content_Types].xml", b"<Types/>"),
                               ("word/document.xml", deflated, crc, size, 8)]))
    started = time.perf_counter()
    reason = reason_for(path)
    assert time.perf_counter() - started < 0.5  # nothing was unpacked
    assert "300 MB of XML" in reason and "zip bomb" in reason


def test_damaged_docx_and_pdf_reasons_are_sentences(tmp_path: Path) -> None:
    data = bytearray((DATA / "docs" / "contract.docx").read_bytes())
    for offset in range(200, len(data), 997):
        data[offset] ^= 0x55
    (tmp_path / "flipped.docx").write_bytes(bytes(data))
    reason_for(tmp_path / "flipped.docx")
    pdf = bytearray((DATA / "docs" / "handbook.pdf").read_bytes())
    pdf[400:420] = b"<<< garbage >>> 0 R  "
    (tmp_path / "flipped.pdf").write_bytes(bytes(pdf))
    try:
        result = extract(tmp_path / "flipped.pdf")
    except ExtractionError as exc:
        assert not internals_in(exc.reason), exc.reason
    else:
        assert all(not internals_in(w) for w in result.warnings), result.warnings


# --- the worker ---------------------------------------------------------------------------------

def test_a_parser_bug_is_reported_without_its_exception_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "note.txt"
    path.write_text("hello", encoding="utf-8")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise AttributeError("'lxml.etree._Element' object has no attribute 'overrides'")

    monkeypatch.setattr("assistant.ingest.worker.extract", broken)
    result = prepare(str(path), 160, MAX_FILE_BYTES)
    assert result.error is not None and not internals_in(result.error), result.error


def test_a_file_swapped_for_a_pipe_does_not_hang_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "swapped.txt"
    os.mkfifo(path)
    started = time.perf_counter()
    result = prepare(str(path), 160, MAX_FILE_BYTES)
    assert time.perf_counter() - started < 2
    assert result.error == "no longer a regular file (it was replaced while indexing)"
    gone = prepare(str(tmp_path / "gone.txt"), 160, MAX_FILE_BYTES)
    assert gone.error == "the file disappeared before it could be read"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="runs the reader as another user, which needs root")
def test_an_unreadable_file_is_a_sentence() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        locked = folder / "locked.txt"
        locked.write_text("secret", encoding="utf-8")
        locked.chmod(0)
        readable = folder / "readable.txt"
        readable.write_text("open to all", encoding="utf-8")
        # The child reads one file as root first (so every lazy import is done), then drops to
        # nobody: the interpreter need not be executable by nobody (a clone in a 0700 folder).
        code = ("import os, sys; from assistant.ingest.worker import prepare; "
                "assert prepare(sys.argv[2], 160, 10**9).error is None; "
                "os.setgroups([]); os.setgid(65534); os.setuid(65534); "
                "print(prepare(sys.argv[1], 160, 10**9).error)")
        done = subprocess.run([sys.executable, "-c", code, str(locked), str(readable)],
                              capture_output=True, text=True, timeout=120,
                              cwd=str(Path(__file__).resolve().parents[2]))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "cannot be read (permission denied)"
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


# --- the scan -------------------------------------------------------------------------------------

def test_scan_reports_links_and_names_it_cannot_index(tmp_path: Path) -> None:
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    os.symlink("missing.pdf", tmp_path / "dangling.pdf")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"a Latin-1 name")
    (tmp_path / "fine.txt").write_text("fine", encoding="utf-8")
    files, _, failed = scan([tmp_path])
    assert [f.name for f in files] == ["fine.txt"]
    reasons = {Path(f.path).name: f.reason for f in failed}
    assert reasons["a.txt"] == reasons["b.txt"] == reasons["dangling.pdf"]
    assert "link" in reasons["a.txt"]
    assert "caf\ufffd.txt" in reasons and "UTF-8" in reasons["caf\ufffd.txt"]
    for failure in failed:
        failure.path.encode("utf-8")  # printable and storable


# --- offline --------------------------------------------------------------------------------------

def test_hugging_face_is_offline_even_when_the_shell_says_otherwise() -> None:
    code = ("import huggingface_hub.constants as c; before = c.HF_HUB_OFFLINE; import assistant;"
            " import transformers.utils.hub as h; print(before, c.HF_HUB_OFFLINE,"
            " h.is_offline_mode())")
    env = dict(os.environ, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


# --- GGUF settings llama.cpp trusts ---------------------------------------------------------------

def _tiny_model(path: Path, **overrides: int) -> Path:
    import numpy as np
    from gguf import GGUFWriter

    values = {"block_count": 2, "embedding_length": 64, "head_count": 4, "head_count_kv": 2,
              **overrides}
    writer = GGUFWriter(str(path), "gemma3")
    writer.add_block_count(values["block_count"])
    writer.add_embedding_length(values["embedding_length"])
    writer.add_head_count(values["head_count"])
    writer.add_head_count_kv(values["head_count_kv"])
    writer.add_context_length(128)
    writer.add_feed_forward_length(128)
    writer.add_tensor("token_embd.weight", np.zeros((32, 64), np.float32))
    for layer in range(overrides.get("layers", 2)):
        writer.add_tensor(f"blk.{layer}.attn_q.weight", np.zeros((64, 64), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize(("overrides", "words"), [
    ({"block_count": 1000}, "number of layers"),
    ({"block_count": 3}, "3 layers"),
    ({"head_count": 0}, "number of attention heads"),
    ({"head_count_kv": 3}, "key/value heads"),
    ({"embedding_length": 0}, "embedding width"),
    ({"embedding_length": 32}, "embedding width is 32"),
])
def test_model_settings_that_would_crash_llama_cpp(tmp_path: Path, overrides: dict[str, int],
                                                   words: str) -> None:
    from assistant.llm.gguf_check import check_model_file

    assert check_model_file(_tiny_model(tmp_path / "ok.gguf")).architecture == "gemma3"
    with pytest.raises(ModelError, match="is damaged") as info:
        check_model_file(_tiny_model(tmp_path / "bad.gguf", **overrides))
    assert words in str(info.value)


# --- issue 21: slides, spreadsheets, e-books, mail, images and scans ---------------------------

def reason_with_ocr(path: Path, tmp_path: Path) -> str:
    from assistant.ingest.ocr import OcrOptions

    with pytest.raises(ExtractionError) as info:
        extract(path, ocr=OcrOptions(cache_dir=tmp_path / "ocr", file_key="0" * 64))
    assert not internals_in(info.value.reason), info.value.reason
    return info.value.reason


@pytest.mark.parametrize("suffix", [".pptx", ".xlsx", ".epub", ".odt"])
def test_a_zip_bomb_disguised_as_a_new_format_is_refused_unopened(tmp_path: Path,
                                                                  suffix: str) -> None:
    from hostile.corpus import disguised_bomb

    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(disguised_bomb(suffix, 100 * 1024 * 1024))
    started = time.monotonic()
    reason = reason_for(path)
    assert time.monotonic() - started < 2.0
    assert "unpacks to 100 MB of XML (a zip bomb?); the limit is 64 MB" in reason


def test_a_password_protected_spreadsheet_is_a_sentence(tmp_path: Path) -> None:
    from hostile.corpus import locked_xlsx

    path = tmp_path / "salaries.xlsx"
    path.write_bytes(locked_xlsx())
    assert reason_for(path) == ("password-protected Excel workbook: save a copy without a "
                                "password to index it")


def test_an_image_of_30000_by_30000_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    import resource

    from hostile.corpus import huge_png

    path = tmp_path / "poster.png"
    path.write_bytes(huge_png())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert reason_with_ocr(path, tmp_path) == ("image too large to read (30,000 x 30,000 "
                                               "pixels; the limit is 40 megapixels)")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100  # 900 million pixels were never decoded


def test_a_corrupt_tiff_is_a_sentence(tmp_path: Path) -> None:
    from hostile.corpus import corrupt_tiff

    path = tmp_path / "fax.tiff"
    path.write_bytes(corrupt_tiff())
    assert reason_with_ocr(path, tmp_path) == "corrupt image: it cannot be decoded"
    path.write_bytes(corrupt_tiff()[:12])  # cut inside its directory
    assert reason_with_ocr(path, tmp_path) == "corrupt image: it cannot be decoded"


def test_a_2_gb_mailbox_is_refused_by_its_size_unread(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(b"From a@example.org Mon Jan  1 00:00:00 2024\nSubject: hi\n\nhello\n")
    os.truncate(path, 2 * 1024 ** 3)  # sparse
    started = time.monotonic()
    prepared = prepare(str(path), 160, MAX_FILE_BYTES)
    assert prepared.error == "too large (2048 MB > 200 MB limit)"
    assert prepared.hash is None and time.monotonic() - started < 1.0


def test_a_pdf_of_500_scanned_pages_is_read_within_its_time_and_names_the_rest(
        tmp_path: Path) -> None:
    from hostile.corpus import scanned_pages_pdf

    from assistant.ingest.ocr import OcrOptions

    path = tmp_path / "scans.pdf"
    path.write_bytes(scanned_pages_pdf(500))
    assert reason_for(path) == "no extractable text; scanned?"
    started = time.monotonic()
    got = extract(path, ocr=OcrOptions(cache_dir=tmp_path / "ocr", file_key="5" * 64,
                                       file_budget=2.0))
    assert time.monotonic() - started < 30
    read = [p.number for p in got.pages if p.text]
    assert read and read == list(range(1, len(read) + 1)) and len(read) < 500
    assert "Shelf 14: 220 crates" in got.pages[0].text
    assert got.warnings[-1].startswith(f"pages {len(read) + 1}-500 are not read by OCR yet")
    assert not any(internals_in(w) for w in got.warnings)
    assert len(got.warnings) == 2  # which pages were read, which are left: no note per page


def test_a_huge_mailbox_or_workbook_is_read_up_to_its_limit_with_a_note(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailbox
    from email.message import EmailMessage

    from openpyxl import Workbook

    from assistant.ingest.formats import mail, sheets

    box = mailbox.mbox(str(tmp_path / "big.mbox"))
    for i in range(5):
        message = EmailMessage()
        message["Subject"] = f"Note {i}"
        message.set_content(f"Body of note {i}.")
        box.add(message)
    box.close()
    monkeypatch.setattr(mail, "MAX_MESSAGES", 3)
    got = extract(tmp_path / "big.mbox")
    assert len(got.pages) == 3
    assert got.warnings == ["only the first 3 of 5 messages were read (a mailbox is read up "
                            "to 3 messages or 16 MB of text)"]
    book = Workbook()
    for i in range(100):
        book.active.append([f"row {i}", i])
    book.save(tmp_path / "big.xlsx")
    monkeypatch.setattr(sheets, "MAX_CELLS", 21)
    got = extract(tmp_path / "big.xlsx")
    assert got.warnings and got.warnings[0].startswith("only the beginning was read")
    assert "row 9" in got.pages[-1].text and "row 11" not in "".join(p.text for p in got.pages)
