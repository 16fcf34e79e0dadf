"""Real OCR (Tesseract) on real rendered pages: scanned PDFs, images, time limits, the cache
that lets a killed run resume without reading finished pages again."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from assistant.ingest.extract import ExtractionError, extract
from assistant.ingest.ocr import OcrOptions, page_list, parse_tsv, recognise, tesseract

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]


def cer(got: str, want: str) -> float:
    """Character error rate: edit distance over the reference length, spacing normalised."""
    a, b = " ".join(got.split()), " ".join(want.split())
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(1, len(b))


def scan_image(lines: list[str], size: tuple[int, int] = (1240, 600)) -> Image.Image:
    img = Image.new("L", size, color=245)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=40)
    for i, line in enumerate(lines):
        draw.text((60, 60 + 80 * i), line, fill=20, font=font)
    return img


def scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    for lines in pages:
        pdf.add_page()
        buf = io.BytesIO()
        scan_image(lines).save(buf, format="PNG")
        buf.seek(0)
        pdf.image(buf, x=15, y=20, w=180)
    path.write_bytes(bytes(pdf.output()))
    return path


def options(tmp_path: Path, **kw: float) -> OcrOptions:
    return OcrOptions(cache_dir=tmp_path / "cache", file_key="f" * 64, **kw)  # type: ignore[arg-type]


def test_tesseract_is_there() -> None:
    assert tesseract() is not None, "install tesseract-ocr and tesseract-ocr-eng"


def test_a_rendered_text_page_reads_back_within_3_percent() -> None:
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    source = DATA / "docs" / "handbook.pdf"
    document = pdfium.PdfDocument(str(source))
    try:
        image = document[0].render(scale=200 / 72, grayscale=True).to_pil()
    finally:
        document.close()
    got = recognise(image)
    want = PdfReader(source).pages[0].extract_text()
    assert cer(got.text, want) < 0.03, got.text
    assert "\n\n" in got.text  # paragraphs kept
    kettle = [w for w in got.words if w.text == "Zephyr"]
    assert kettle and all(0 <= w.box[0] < w.box[2] <= image.width for w in kettle)


def test_scanned_pdf_is_read_only_when_ocr_is_on(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError) as info:
        extract(DATA / "bad" / "scanned.pdf")
    assert info.value.reason == "no extractable text; scanned?"
    got = extract(DATA / "bad" / "scanned.pdf", ocr=options(tmp_path))
    assert "DELIVERY NOTE 5531" in got.pages[0].text
    assert "Received by: J. Okafor" in got.pages[0].text
    assert got.warnings == ["pages read by OCR: 1"]


def test_only_the_page_without_text_is_ocrd(tmp_path: Path) -> None:
    got = extract(DATA / "docs" / "mixed_scan.pdf", ocr=options(tmp_path))
    assert got.warnings == ["pages read by OCR: 2"]
    assert "valve bay 3: LEAK" in got.pages[1].text
    assert got.pages[0].text == extract(DATA / "docs" / "mixed_scan.pdf").pages[0].text


def test_images_are_read_and_multipage_tiffs_keep_their_pages(tmp_path: Path) -> None:
    png = tmp_path / "note.png"
    scan_image(["Invoice 4471", "Total due: 980 NOK"]).save(png)
    got = extract(png, ocr=options(tmp_path))
    assert got.kind == "image" and got.pages[0].number is None
    assert "Invoice 4471" in got.pages[0].text and "980 NOK" in got.pages[0].text
    tiff = tmp_path / "fax.tiff"
    first, second = scan_image(["Page one of the fax"]), scan_image(["Second page: approved"])
    first.save(tiff, save_all=True, append_images=[second])
    got = extract(tiff, ocr=options(tmp_path))
    assert [p.number for p in got.pages] == [1, 2]
    assert "approved" in got.pages[1].text
    with pytest.raises(ExtractionError) as info:
        extract(png)
    assert info.value.reason == ("an image: reading text in images (OCR) is turned off in "
                                 "Settings")


def test_a_page_over_its_time_limit_is_reported_and_the_rest_carries_on(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "two.pdf", [["First page text"], ["Second page text"]])
    with pytest.raises(ExtractionError) as info:
        extract(path, ocr=options(tmp_path, page_time_limit=0.001))
    assert info.value.reason == ("no extractable text, and not read by OCR: OCR took longer "
                                 "than 0.001 s")
    # one file's time runs out after its first page: the rest is named and left for later
    got = extract(path, ocr=options(tmp_path, file_budget=0.0))
    assert "First page" in got.pages[0].text and got.pages[1].text == ""
    assert got.warnings[-1] == ("pages 2 are not read by OCR yet: the time for one file ran "
                                "out; re-index the file to continue where it stopped")
    # the next run continues: page 1 comes from the cache, page 2 is read now
    again = extract(path, ocr=options(tmp_path, file_budget=0.0))
    assert "Second page" in again.pages[1].text


def test_a_kill_during_ocr_resumes_without_reading_finished_pages(tmp_path: Path) -> None:
    pages = [[f"Section {n} of the survey", f"Reading number {100 + n}"] for n in range(1, 9)]
    path = scanned_pdf(tmp_path / "survey.pdf", pages)
    cache = tmp_path / "cache"
    code = ("import sys; from pathlib import Path; from assistant.ingest.extract import extract;"
            "from assistant.ingest.ocr import OcrOptions;"
            f"extract(Path({str(path)!r}), ocr=OcrOptions(cache_dir=Path({str(cache)!r}), "
            "file_key='f' * 64))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    done: list[Path] = []
    while time.monotonic() < deadline and len(done) < 2 and proc.poll() is None:
        done = sorted(cache.rglob("*.json"))
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = sorted(cache.rglob("*.json"))
    assert 2 <= len(done) < 8, "the kill came too late to test anything"
    before = {p.name: p.stat().st_mtime_ns for p in done}
    got = extract(path, ocr=OcrOptions(cache_dir=cache, file_key="f" * 64))
    assert all(f"Reading number {100 + n}" in got.pages[n - 1].text for n in range(1, 9))
    after = {p.name: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    assert len(after) == 8
    assert all(after[name] == stamp for name, stamp in before.items())  # not read again


def test_page_lists_and_tsv_parsing() -> None:
    assert page_list([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight"
           "\tconf\ttext\n"
           "5\t1\t1\t1\t1\t1\t10\t10\t40\t12\t95.1\tHello\n"
           "5\t1\t1\t1\t1\t2\t60\t10\t40\t12\t93.0\tworld\n"
           "5\t1\t1\t1\t2\t1\t10\t30\t40\t12\t91.0\tagain\n"
           "5\t1\t2\t1\t1\t1\t10\t80\t40\t12\t90.0\tNext\n")
    text, words = parse_tsv(tsv)
    assert text == "Hello world\nagain\n\nNext"
    assert words[1].box == (60, 10, 100, 22)


def test_worker_ocr_follows_the_setting(tmp_path: Path, app_home: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.ingest import worker
    from assistant.ingest.formats.pdf import SCAN_NOT_READ
    from assistant.settings import Settings

    scan = str(DATA / "bad" / "scanned.pdf")
    worker._ocr_settings = None
    try:
        # on by default: the scan is read
        prepared = worker.prepare(scan, 160, 10**9)
        assert prepared.error is None and "DELIVERY NOTE 5531" in prepared.chunks[0].text
        assert prepared.warnings == ["pages read by OCR: 1"]
        assert list((app_home / "ocr-cache").rglob("1.json"))
        # the viewer's way to the text: from the cache, with no OCR program to run at all
        from assistant.ingest.ocr import cached

        with monkeypatch.context() as without:
            without.setenv("PATH", "")
            assert tesseract() is None
            shown = extract(DATA / "bad" / "scanned.pdf", ocr=cached(prepared.hash or ""))
            assert "DELIVERY NOTE 5531" in shown.pages[0].text
            # the same scan, cached, is indexed with no program; a new one is named in a
            # sentence that says why, and nothing is rendered for it
            worker._ocr_settings = None
            assert worker.prepare(scan, 160, 10**9).error is None
            fresh = scanned_pdf(tmp_path / "fresh.pdf", [["A page never read before"]])
            assert worker.prepare(str(fresh), 160, 10**9).error == SCAN_NOT_READ
            assert "not installed" in SCAN_NOT_READ
        # the setting turned off: the scan is named as not read
        values = Settings()
        values.set("ocr", False)
        values.save()
        worker._ocr_settings = None
        assert worker.prepare(scan, 160, 10**9).error == "no extractable text; scanned?"
    finally:
        worker._ocr_settings = None


def test_a_pdf_with_one_scanned_page_names_it_when_tesseract_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assistant.ingest.formats.pdf import SCAN_NOT_READ

    monkeypatch.setenv("PATH", "")
    got = extract(DATA / "docs" / "mixed_scan.pdf", ocr=options(tmp_path))
    assert got.warnings == [f"page 2: {SCAN_NOT_READ}"]
    assert got.pages[0].text and not got.pages[1].text
    png = tmp_path / "note.png"
    scan_image(["Hello"]).save(png)
    with pytest.raises(ExtractionError) as info:
        extract(png, ocr=options(tmp_path))
    assert info.value.reason == ("an image, and its text cannot be read: Tesseract, the OCR "
                                 "program, is not installed")
    assert not (tmp_path / "cache").exists()  # nothing was rendered for a missing program


def test_a_scan_with_a_stamped_page_number_is_ocrd_too(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    buf = io.BytesIO()
    scan_image(["Minutes of the harbour board", "The new crane was approved"]).save(buf, "PNG")
    buf.seek(0)
    pdf.image(buf, x=15, y=20, w=180)
    pdf.set_font("Helvetica", size=9)
    pdf.text(100, 290, "Page 7")  # the only text layer: a stamp
    path = tmp_path / "stamped.pdf"
    path.write_bytes(bytes(pdf.output()))
    assert extract(path).pages[0].text == "Page 7"
    got = extract(path, ocr=options(tmp_path))
    assert "The new crane was approved" in got.pages[0].text
    assert got.warnings == ["pages read by OCR: 1"]
    # a page with a real text layer is never OCR'd, image or not
    assert extract(DATA / "docs" / "mixed_scan.pdf", ocr=options(tmp_path)).warnings == \
        ["pages read by OCR: 2"]


def test_scans_are_read_once_tesseract_is_installed(tmp_path: Path, app_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     embedder) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from assistant.ingest.formats.images import IMAGE_NOT_READ
    from assistant.ingest.formats.pdf import SCAN_NOT_READ
    from assistant.ingest.indexer import Indexer
    from assistant.store.store import Store

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(DATA / "bad" / "scanned.pdf", folder / "delivery.pdf")
    shutil.copy(DATA / "docs" / "guide.md", folder / "guide.md")
    scan_image(["Invoice 4471", "Total due: 980 NOK"]).save(folder / "invoice.png")
    store = Store()
    try:
        indexer = Indexer(store, embedder)
        with monkeypatch.context() as without:  # OCR on (the default), Tesseract not found
            without.setenv("PATH", "")
            first = indexer.index([folder])
            assert {Path(f.path).name: f.reason for f in first.failed} == {
                "delivery.pdf": SCAN_NOT_READ, "invoice.png": IMAGE_NOT_READ}
            # still missing: the scans are not read again for nothing
            assert [Path(p).name for p in indexer.index([folder]).unchanged] == ["guide.md"]
        second = indexer.index([folder])  # installed now
        assert sorted(Path(p).name for p in second.indexed) == ["delivery.pdf", "invoice.png"]
        assert not second.failed and store.check_consistency() == []
        docs = {Path(d.path).name: d for d in store.documents("default")}
        assert docs["delivery.pdf"].warnings == ["pages read by OCR: 1"]
        assert docs["invoice.png"].kind == "image"
        hits = store.keyword("Okafor", 5, [store.collection_id("default")])
        assert [store.chunks_by_id([i])[i]["path"] for i, _ in hits] == \
            [str(folder / "delivery.pdf")]
    finally:
        store.close()


def test_ocr_progress_is_told_page_by_page(tmp_path: Path, app_home: Path,
                                           embedder) -> None:  # type: ignore[no-untyped-def]
    from assistant.ingest.indexer import Indexer, IndexProgress
    from assistant.settings import Settings
    from assistant.store.store import Store

    folder = tmp_path / "docs"
    folder.mkdir()
    scanned_pdf(folder / "three.pdf", [[f"Survey sheet {n}", f"Count {n * 11}"] for n in (1, 2, 3)])
    assert Settings()["ocr"]  # on by default
    seen: list[IndexProgress] = []
    store = Store()
    try:
        summary = Indexer(store, embedder).index([folder], progress=seen.append)
    finally:
        store.close()
    assert [Path(p).name for p in summary.indexed] == ["three.pdf"]
    details = [p.detail for p in seen if p.detail]
    assert details[-1] == "OCR page 3 of 3", details
    assert all(p.current.endswith("three.pdf") for p in seen if p.detail)


def test_the_file_budget_holds_for_the_page_under_way(tmp_path: Path) -> None:
    """A page that would likely end past the file's budget is left for the next run, so one
    file never outlasts its budget by a whole page (the indexer's own limit is not far off)."""
    from assistant.ingest.ocr import ocr_pages

    page = scan_image(["Budget line"], size=(600, 200))

    def slow_load() -> Image.Image:
        time.sleep(0.5)  # rendering a large page, say
        return page

    budget = 0.8
    started = time.monotonic()
    texts, notes = ocr_pages([(n, slow_load) for n in range(1, 7)],
                             options(tmp_path, file_budget=budget))
    elapsed = time.monotonic() - started
    read = sorted(texts)
    assert read and read == list(range(1, len(read) + 1))
    # the first page always gets its chance; after it, none starts that would end past the
    # budget (pages take over 0.5 s here, so a second one would end near or past 1 s)
    assert read == [1] or elapsed <= budget + 0.2, (read, elapsed)
    assert notes[-1].startswith(f"pages {len(read) + 1}-6 are not read by OCR yet")


def test_a_long_scan_is_indexed_within_the_indexers_own_time_limit(
        tmp_path: Path, app_home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """The OCR budget follows the indexer's limit for one file: with a short limit, a long
    scan is indexed with the pages read in time and the rest named, never killed whole."""
    from hostile.corpus import scanned_pages_pdf

    from assistant.ingest.indexer import Indexer
    from assistant.store.store import Store

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "archive.pdf").write_bytes(scanned_pages_pdf(60))
    store = Store()
    try:
        summary = Indexer(store, embedder, file_time_limit=10.0).index([folder])
        assert not summary.failed, summary.failed
        doc = store.documents("default")[0]
        assert doc.warnings[0].startswith("pages read by OCR: 1")
        assert doc.warnings[-1].endswith("re-index the file to continue where it stopped")
    finally:
        store.close()
