"""PDF: the text layer page by page, page numbers kept so answers can cite them.

pypdf raises almost anything on broken files, so its calls sit inside broad handlers and every
failure is worded (encrypted, truncated, damaged); a page without text is reported as scanned.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import warnings
from pathlib import Path
from typing import Any

from assistant.ingest import ocr as _ocr
from assistant.ingest.formats.common import (
    CONTROL_CHARS,
    MANY_NEWLINES,
    SPACES,
    Extracted,
    ExtractionError,
    Page,
    normalise_newlines,
    noted,
    os_reason,
)
from assistant.ingest.ocr import MAX_PIXELS, OCR_DPI, OcrOptions, ocr_pages, page_list

# Said when OCR is on but its program is missing (a pip install without Tesseract).
SCAN_NOT_READ = f"no text layer (a scan), and it cannot be read: {_ocr.NOT_INSTALLED}"

# pypdf reports every oddity of real-world PDFs it recovers from through `logging` (even at
# ERROR level, e.g. unknown font encodings); with no handler configured Python prints them to
# stderr. They are noise to a user: failures that matter reach us as exceptions instead.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)
_HYPHEN_BREAK = re.compile(r"([^\W\d_])-\n([^\W\d_])")


def _tidy_pdf_text(text: str) -> str:
    """Collapse spacing, rejoin words hyphenated at line ends, keep blank-line paragraphs."""
    text = normalise_newlines(text).translate(_LIGATURES)
    text = CONTROL_CHARS.sub("", text)
    text = "\n".join(SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _HYPHEN_BREAK.sub(
        lambda m: m.group(1) + m.group(2) if m.group(2).islower() else m.group(0), text
    )
    return MANY_NEWLINES.sub("\n\n", text).strip()


def _page_text(page: Any) -> str:
    """Text of one PDF page, with a blank line wherever the vertical gap says paragraph.

    pypdf's plain mode keeps reading order (good for columns) but emits one newline per line
    and loses paragraph breaks, which the chunker needs. The visitor tells us each line's
    baseline: a gap clearly larger than the usual line spacing, or a jump upwards (new column
    or box), becomes a paragraph break.
    """
    pieces: list[str] = []
    line_starts: list[tuple[int, float, float]] = []  # (piece index, gap to previous, size)
    at_line_start = True
    last_y: float | None = None

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        nonlocal at_line_start, last_y
        if not text:
            return
        if text.strip():
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            # Many PDFs set a 1 pt font and scale it with the text matrix: use the real size.
            scaled = float(size or 0.0) * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            if at_line_start and last_y is not None and pieces:
                line_starts.append((len(pieces), last_y - y, scaled))
            last_y = y
            at_line_start = text.endswith("\n")
        elif "\n" in text:
            at_line_start = True
        pieces.append(text)

    plain = page.extract_text(visitor_text=visit)
    if "".join(pieces) != plain:  # visitor and output disagree: trust the output
        return _tidy_pdf_text(plain)
    gaps = [gap for _, gap, _ in line_starts if gap > 0]
    usual = statistics.median(gaps) if len(gaps) >= 3 else None
    for index, gap, size in line_starts:
        paragraph = gap < -max(size, 1.0)  # moved up: a new column or text box
        if usual is not None:
            paragraph = paragraph or gap > 1.3 * usual
        elif size > 0:
            paragraph = paragraph or gap > 1.9 * size
        if paragraph and pieces[index - 1].endswith("\n"):
            pieces[index] = "\n" + pieces[index]
    return _tidy_pdf_text("".join(pieces))


def _pdf_problem(err: BaseException) -> str:
    """What a pypdf failure means, in words (its own messages name internals)."""
    noted(err, "pdf")
    text = str(err).lower()
    if isinstance(err, RecursionError | MemoryError):
        return "its structure is too deeply nested or too large to read"
    if "encryption" in text or "encrypt" in text:
        return "it is encrypted in a way this app cannot open"
    if "xref" in text or "root object" in text or "trailer" in text:
        return "its table of contents (cross-reference table) is damaged"
    if "stream" in text and ("ended" in text or "length" in text):
        return "a data stream inside it is cut short"
    if "decompress" in text or "zlib" in text or "decode" in text or "filter" in text:
        return "its compressed content is damaged"
    return "its internal structure is damaged"


def extract_pdf(path: Path, ocr: OcrOptions | None = None) -> Extracted:
    # pypdf raises almost anything on broken files (KeyError, ValueError, RecursionError...),
    # so its calls sit inside broad handlers: a bad PDF must become a reason, not a crash.
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    aes_reason = "encrypted with AES (the 'cryptography' package is needed to open it)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = PdfReader(path, strict=False)
        except DependencyError as err:
            raise ExtractionError(aes_reason) from err
        except OSError as err:
            raise os_reason(err) from err
        except Exception as err:
            raise _corrupt_pdf(path, _pdf_problem(err)) from err

        try:
            encrypted = reader.is_encrypted
            if encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise ExtractionError("encrypted (password required)")
            count = len(reader.pages)
        except ExtractionError:
            raise
        except DependencyError as err:
            raise ExtractionError(aes_reason) from err
        except Exception as err:
            raise _corrupt_pdf(path, _pdf_problem(err)) from err
        if count == 0:
            raise ExtractionError("corrupt PDF: no pages")

        pages: list[Page] = []
        notes: list[str] = []
        first_failure: str | None = None
        sparse: list[int] = []
        for number in range(1, count + 1):
            try:
                text = _page_text(reader.pages[number - 1])
            except DependencyError as err:
                raise ExtractionError(aes_reason) from err
            except Exception as err:
                problem = _pdf_problem(err)
                first_failure = first_failure or problem
                notes.append(f"page {number}: text could not be read ({problem})")
                text = ""
            else:
                if not text:
                    notes.append(f"page {number}: no extractable text; scanned?")
                elif ocr is not None and len(text) < SPARSE_CHARS and \
                        _has_image(reader.pages[number - 1]):
                    sparse.append(number)  # a scan with a stamped page number or header
            pages.append(Page(number, text))
        title = _pdf_title(reader)

    ocr_tried = False
    if ocr is not None and first_failure is None:
        blank = [page.number for page in pages if not page.text and page.number is not None]
        if blank and _ocr.missing(ocr, blank):
            if len(blank) == len(pages):
                raise ExtractionError(SCAN_NOT_READ)
            done = {f"page {n}: no extractable text; scanned?" for n in blank}
            notes = [n for n in notes if n not in done]
            notes.append(f"{'pages' if len(blank) > 1 else 'page'} {page_list(blank)}: "
                         f"{SCAN_NOT_READ}")
        elif blank or (sparse and not _ocr.missing(ocr, sparse)):
            ocr_tried = True
            notes = _read_scans(path, pages, sorted(blank + sparse), notes, ocr)
    if not any(page.text for page in pages):
        if ocr_tried:
            failure = next((n.split(": ", 1)[1] for n in notes
                            if n.startswith("page ") and "OCR" in n), None)
            raise ExtractionError(f"no extractable text, and {failure}" if failure else
                                  "no text found on any page, even by OCR")
        if first_failure is not None:
            raise _corrupt_pdf(path, first_failure)
        if _pdf_is_truncated(path):  # pypdf rebuilt what it could; the text was in the tail
            raise _corrupt_pdf(path, "no text in the part that is left")
        raise ExtractionError("no extractable text; scanned?")
    return Extracted(kind="pdf", pages=pages, warnings=notes, title=title)


def _pdf_is_truncated(path: Path) -> bool:
    """No %%EOF near the end: the download or copy was cut short."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 2048))
            return b"%%EOF" not in fh.read()
    except OSError:
        return False


def _corrupt_pdf(path: Path, detail: str) -> ExtractionError:
    """Name the common cause, a file cut short, when the end-of-file marker is missing."""
    if _pdf_is_truncated(path):
        return ExtractionError("corrupt PDF: file is truncated (the end of the file is missing)")
    return ExtractionError(f"corrupt PDF: {detail}")


def _pdf_title(reader: Any) -> str | None:
    try:
        meta = reader.metadata
        raw = meta.title if meta is not None else None
    except Exception:
        return None
    if not isinstance(raw, str):
        return None
    title = SPACES.sub(" ", CONTROL_CHARS.sub("", raw)).strip()
    title = title.removeprefix("Microsoft Word - ").strip()
    return title or None


# A page with less text than this over an image is a scan with a few words stamped on it (a
# page number, a header): OCR reads the rest.
SPARSE_CHARS = 40


def _has_image(page: Any) -> bool:
    """Whether the page draws an image (its resources hold an image XObject)."""
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return False
        xobjects = xobjects.get_object()
        return any(xobjects[name].get_object().get("/Subtype") == "/Image" for name in xobjects)
    except Exception:  # a damaged resource dictionary: no OCR for that page
        return False


def _read_scans(path: Path, pages: list[Page], blank: list[int], notes: list[str],
                ocr: OcrOptions) -> list[str]:
    """OCR the pages without a text layer, rendered at OCR_DPI with pdfium; returns the notes
    with OCR's account of those pages in place of 'scanned?', and which pages were OCR'd."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except Exception as err:
        noted(err, "pdfium")
        return [*notes, "the scanned pages could not be rendered for OCR"]

    def render(number: int) -> Any:
        page = document[number - 1]
        try:
            width, height = page.get_size()
            scale = OCR_DPI / 72
            if width * height * scale * scale > MAX_PIXELS:  # a poster-sized page
                scale = math.sqrt(MAX_PIXELS / (width * height))
            return page.render(scale=scale, grayscale=True).to_pil()
        finally:
            page.close()

    try:
        texts, ocr_notes = ocr_pages(((n, lambda n=n: render(n)) for n in blank), ocr)
    finally:
        document.close()
    read = [n for n, text in texts.items()
            if len(text.strip()) > len(pages[n - 1].text)]  # more than a sparse layer had
    for number in read:
        pages[number - 1].text = _tidy_pdf_text(texts[number])
    # OCR's own notes say what became of each page it did not read
    done = {f"page {n}: no extractable text; scanned?" for n in blank}
    kept = [note for note in notes if note not in done]
    if read:
        kept.append(f"pages read by OCR: {page_list(read)}")
    return kept + ocr_notes
