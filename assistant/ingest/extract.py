"""Text out of user files: PDF, Word, Markdown, HTML, plain text and source code.

Users point the app at real folders, so every expected failure (encrypted, truncated, scanned,
mislabelled, binary, empty, huge) becomes an `ExtractionError` with a short reason the GUI can
show next to the file, never a traceback. The kind is decided from the bytes as well as the
extension, because files are often misnamed. PDF page numbers are kept so answers can cite them.

Everything here is a pure function of the file's bytes; no Qt, no torch.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_HTML_DEPTH",
    "MAX_TEXT_BYTES",
    "SUPPORTED_EXTENSIONS",
    "Extracted",
    "ExtractionError",
    "Page",
    "detect_kind",
    "extract",
    "is_supported",
]

# pypdf reports every oddity of real-world PDFs it recovers from through `logging` (even at
# ERROR level, e.g. unknown font encodings); with no handler configured Python prints them to
# stderr. They are noise to a user: failures that matter reach us as exceptions instead.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

MAX_FILE_BYTES: int = 200 * 1024 * 1024
# Text-like files (plain text, code, Markdown, HTML) above this are refused before they are
# read: 16 MB is thousands of pages, and tokenizing and embedding more would hold an index run
# for many minutes (a 50 MB one-line dump took over two minutes just to chunk).
MAX_TEXT_BYTES: int = 16 * 1024 * 1024
# HTML nested deeper than this is flattened before parsing (as browsers do at 512): lexbor's
# tree building is quadratic in depth (200,000 nested <div>s took over ten minutes).
MAX_HTML_DEPTH: int = 512
# Word documents are zip archives: limits checked on the archive's directory before unpacking.
_DOCX_MAX_MEMBERS = 10_000
_DOCX_MAX_XML_BYTES = 64 * 1024 * 1024  # one XML part, unpacked (python-docx parses it whole)
_DOCX_MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # all parts together, unpacked
_SNIFF_BYTES = 8192  # how much of the head decides "binary or text"
_PDF_MAGIC_WINDOW = 1024  # Acrobat accepts %PDF anywhere in the first 1 KB

_PDF_EXTS = frozenset({".pdf"})
_DOCX_EXTS = frozenset({".docx"})
_MARKDOWN_EXTS = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mkdn"})
_HTML_EXTS = frozenset({".html", ".htm", ".xhtml"})
_TEXT_EXTS = frozenset(
    {
        ".txt", ".text", ".rst", ".adoc", ".asciidoc", ".org", ".tex", ".bib", ".log",
        ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini",
        ".cfg", ".conf", ".properties", ".xml", ".srt", ".vtt",
    }
)  # fmt: skip
_CODE_EXTS = frozenset(
    {
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt",
        ".kts", ".scala", ".groovy", ".gradle", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp",
        ".hh", ".hxx", ".cs", ".fs", ".go", ".rs", ".rb", ".php", ".pl", ".pm", ".swift",
        ".m", ".mm", ".r", ".jl", ".lua", ".dart", ".ex", ".exs", ".erl", ".hrl", ".hs",
        ".ml", ".mli", ".clj", ".cljs", ".elm", ".zig", ".nim", ".sh", ".bash", ".zsh",
        ".fish", ".ps1", ".psm1", ".bat", ".cmd", ".sql", ".css", ".scss", ".sass", ".less",
        ".vue", ".svelte", ".proto", ".graphql", ".gql", ".cmake", ".mk", ".asm", ".s",
        ".f90", ".f", ".vb", ".tf", ".hcl",
    }
)  # fmt: skip

_KIND_BY_EXT: dict[str, str] = {
    **dict.fromkeys(_PDF_EXTS, "pdf"),
    **dict.fromkeys(_DOCX_EXTS, "docx"),
    **dict.fromkeys(_MARKDOWN_EXTS, "markdown"),
    **dict.fromkeys(_HTML_EXTS, "html"),
    **dict.fromkeys(_TEXT_EXTS, "text"),
    **dict.fromkeys(_CODE_EXTS, "code"),
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_KIND_BY_EXT)


@dataclass
class Page:
    """One page of text; `number` is 1-based for PDFs and None for unpaged formats."""

    number: int | None
    text: str


@dataclass
class Extracted:
    """The text of one file, page by page, plus non-fatal problems worth showing."""

    kind: str
    pages: list[Page]
    warnings: list[str]
    title: str | None = None


class ExtractionError(Exception):
    """An expected reason a file cannot be indexed; `reason` is short and human-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def is_supported(path: Path) -> bool:
    """Whether the extension is one we index; cheap, so folder walks can filter with it."""
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def detect_kind(path: Path) -> str:
    """The kind of `path`, from its extension checked against its first bytes.

    Raises ExtractionError for unsupported, empty, binary and mislabelled files, so a PDF that
    is really a text file fails here with a clear reason rather than deep inside pypdf.
    """
    suffix = path.suffix.lower()
    kind = _KIND_BY_EXT.get(suffix)
    if kind is None:
        raise ExtractionError(f"unsupported file type '{suffix or path.name}'")
    size = _file_size(path)
    if size == 0:
        raise ExtractionError("empty file")
    head = _read_head(path, _SNIFF_BYTES)
    if size <= len(head) and not _strip_bom(head).strip():
        raise ExtractionError("empty file")
    if kind == "pdf":
        if b"%PDF" not in head[:_PDF_MAGIC_WINDOW]:
            raise ExtractionError(f"not a PDF (mislabelled file{_what_is_it(head)})")
    elif kind == "docx":
        if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            raise ExtractionError(
                "not a .docx file (old .doc format, or a password-protected Word document)"
            )
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise ExtractionError(f"not a Word document (mislabelled file{_what_is_it(head)})")
    elif _looks_binary(head):
        raise ExtractionError("binary file, not text")
    return kind


def extract(path: Path, max_bytes: int = MAX_FILE_BYTES,
            max_text_bytes: int = MAX_TEXT_BYTES) -> Extracted:
    """Extract the text of `path`, page by page.

    Raises ExtractionError with a reason for every expected failure; the size limits are
    checked before anything is read so a stray disk image cannot exhaust memory, and a huge
    text dump cannot hold an index run for long.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExtractionError(f"unsupported file type '{suffix or path.name}'")
    size = _file_size(path)
    if size > max_bytes:
        raise ExtractionError(f"too large ({_human_size(size)} > {_human_size(max_bytes)} limit)")
    kind = detect_kind(path)
    if kind == "pdf":
        return _extract_pdf(path)
    if kind == "docx":
        return _extract_docx(path)
    if size > max_text_bytes:
        raise ExtractionError(f"too large for a text file ({_human_size(size)} > "
                              f"{_human_size(max_text_bytes)} limit); split it into smaller files")
    data = _read_all(path)
    if kind == "html":
        return _extract_html(data)
    text = _normalise_newlines(_decode_text(data))
    if text.count("\x00") > len(text) // 100:
        raise ExtractionError("binary file, not text")
    text = text.replace("\x00", "")
    if not text.strip():
        raise ExtractionError("empty file")
    title = _markdown_title(text) if kind == "markdown" else None
    return Extracted(kind=kind, pages=[Page(None, text)], warnings=[], title=title)


# --------------------------------------------------------------------------------------------
# File access and sniffing
# --------------------------------------------------------------------------------------------


def _os_reason(err: OSError) -> ExtractionError:
    return ExtractionError(f"cannot read file ({err.strerror or type(err).__name__})")


def _file_size(path: Path) -> int:
    try:
        st = path.stat()
    except OSError as err:
        raise _os_reason(err) from err
    if not path.is_file():
        raise ExtractionError("not a regular file")
    return st.st_size


def _read_head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError as err:
        raise _os_reason(err) from err


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise _os_reason(err) from err


def _human_size(n: int) -> str:
    """'812 MB', '1.5 MB', '900 KB', '12 bytes': readable at every scale, incl. test limits."""
    mib, kib = 1024 * 1024, 1024
    if n >= 10 * mib:
        return f"{n // mib} MB"
    if n >= mib:
        return f"{n / mib:.1f} MB"
    if n >= kib:
        return f"{n // kib} KB"
    return f"{n} bytes"


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _bom_encoding(data: bytes) -> tuple[str, int] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def _strip_bom(data: bytes) -> bytes:
    found = _bom_encoding(data)
    if found is None:
        return data
    encoding, skip = found
    if encoding == "utf-8":
        return data[skip:]
    # Whitespace test for wide encodings: decode what is there (an odd tail is ignored).
    return data[skip:].decode(encoding, errors="ignore").encode("utf-8")


def _bomless_utf16(sample: bytes) -> str | None:
    """Guess UTF-16 without a BOM from where the NUL bytes of ASCII characters fall."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even = sample[0 : pairs * 2 : 2].count(0)
    odd = sample[1 : pairs * 2 : 2].count(0)
    if odd > 0.4 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.4 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x08\x1b")


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or many control characters mean binary, unless it is wide Unicode text."""
    if not head or _bom_encoding(head) is not None or _bomless_utf16(head) is not None:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if (b < 32 and b not in _TEXT_CONTROLS) or b == 127)
    return controls > 0.05 * len(head)


def _what_is_it(head: bytes) -> str:
    """A hint for mislabelled files: what the bytes actually look like."""
    if head.startswith(b"%PDF") or b"%PDF" in head[:_PDF_MAGIC_WINDOW]:
        return ": content is a PDF"
    if head.startswith(b"PK\x03\x04"):
        return ": content is a zip archive"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return ": content is HTML"
    if not _looks_binary(head):
        return ": content is plain text"
    return ""


# --------------------------------------------------------------------------------------------
# Text decoding
# --------------------------------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding: BOM, then UTF-8, then a careful legacy guess."""
    found = _bom_encoding(data)
    if found is not None:
        encoding, skip = found
        return data[skip:].decode(encoding, errors="replace")
    wide = _bomless_utf16(data[:_SNIFF_BYTES])
    if wide is not None:
        return data.decode(wide, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_legacy(data)


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def _decode_legacy(data: bytes) -> str:
    """Decode non-UTF-8 text, preferring cp1252 among Latin encodings.

    charset-normalizer often guesses cp1250/cp1257 for Western European text (they differ
    from cp1252 only in a few accented letters), which turns "façade" into "faēade". So for
    Latin-script text we take cp1252 unless the guess yields more letters than cp1252 does
    (it does for e.g. Polish "ł", which cp1252 reads as "³"). Non-Latin guesses (Cyrillic,
    Greek, CJK) are trusted as they are.
    """
    from charset_normalizer import from_bytes  # imported lazily: only legacy files need it

    sample = data[: 64 * 1024]
    guess: str | None = None
    for match in from_bytes(sample):
        # UTF-16/32 without a BOM would have shown NUL bytes; such a guess is wrong.
        if not match.encoding.startswith(("utf_16", "utf_32")):
            guess = match.encoding
            break
    try:
        western: str | None = sample.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if guess is None:
        return data.decode("cp1252" if western is not None else "latin-1", errors="replace")
    if western is None or guess in {"cp1252", "ascii", "utf_8"}:
        return data.decode(guess, errors="replace")
    guessed = sample.decode(guess, errors="replace")
    guessed_letters = [ch for ch in guessed if ord(ch) > 127 and ch.isalpha()]
    if guessed_letters and not all(_is_latin_letter(ch) for ch in guessed_letters):
        return data.decode(guess, errors="replace")
    western_letters = sum(1 for ch in western if ord(ch) > 127 and ch.isalpha())
    if len(guessed_letters) > western_letters:
        return data.decode(guess, errors="replace")
    return data.decode("cp1252", errors="replace")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_ATX_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$")


def _markdown_title(text: str) -> str | None:
    """The first level-1 ATX heading outside fenced code blocks."""
    in_fence = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if not in_fence:
            m = _ATX_H1.match(line)
            if m and m.group(1).strip():
                return m.group(1).strip()
    return None


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------

_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u3000]+")
_HYPHEN_BREAK = re.compile(r"([^\W\d_])-\n([^\W\d_])")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _tidy_pdf_text(text: str) -> str:
    """Collapse spacing, rejoin words hyphenated at line ends, keep blank-line paragraphs."""
    text = _normalise_newlines(text).translate(_LIGATURES)
    text = _CONTROL_CHARS.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _HYPHEN_BREAK.sub(
        lambda m: m.group(1) + m.group(2) if m.group(2).islower() else m.group(0), text
    )
    return _MANY_NEWLINES.sub("\n\n", text).strip()


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


log = logging.getLogger(__name__)


def _noted(err: BaseException, what: str) -> None:
    """Keep a library's own message for developers (debug log); users get a sentence."""
    log.debug("%s: %s: %s", what, type(err).__name__, err)


def _pdf_problem(err: BaseException) -> str:
    """What a pypdf failure means, in words (its own messages name internals)."""
    _noted(err, "pdf")
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


def _extract_pdf(path: Path) -> Extracted:
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
            raise _os_reason(err) from err
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
            pages.append(Page(number, text))
        title = _pdf_title(reader)

    if not any(page.text for page in pages):
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
    title = _SPACES.sub(" ", _CONTROL_CHARS.sub("", raw)).strip()
    title = title.removeprefix("Microsoft Word - ").strip()
    return title or None


# --------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------

_W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_problem(err: BaseException) -> str:
    """What a failure inside python-docx, lxml or zipfile means, in words."""
    _noted(err, "docx")
    text = str(err).lower()
    if isinstance(err, RecursionError) or "depth" in text:
        return "its XML is nested too deeply"
    if isinstance(err, MemoryError) or "resource limit" in text or "huge" in text:
        return "its XML is too large to read"
    if "amplification" in text or "entity" in text:
        return "its XML expands entities without end (a 'billion laughs' file)"
    if isinstance(err, zlib.error) or "crc" in text or "decompress" in text:
        return "its compressed data is damaged"
    if isinstance(err, KeyError) or "no item named" in text:
        return "a part it refers to is missing"
    if "document is empty" in text:
        return "a part of it is empty"
    if err.__class__.__module__.startswith("lxml") or "line 1, column" in text:
        return "its XML is damaged"
    return "its contents cannot be read"


def _check_docx_archive(path: Path) -> None:
    """Refuse zip bombs from the archive's directory alone, before anything is unpacked.

    Python's zipfile never unpacks more than a member's declared size (a lying size ends in a
    checksum error), so the declared sizes bound what python-docx can be made to read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as err:
        _noted(err, "docx")
        raise ExtractionError("corrupt Word document: not a readable .docx package") from err
    except OSError as err:
        raise _os_reason(err) from err
    except Exception as err:  # zipfile's parsing of a hostile directory (struct errors, ...)
        raise ExtractionError(f"corrupt Word document: {_docx_problem(err)}") from err
    if len(members) > _DOCX_MAX_MEMBERS:
        raise ExtractionError(f"not a usable Word document: the archive holds {len(members)} "
                              f"files (a Word document has a few dozen)")
    total = 0
    for member in members:
        total += member.file_size
        if member.filename.lower().endswith((".xml", ".rels")) and \
                member.file_size > _DOCX_MAX_XML_BYTES:
            raise ExtractionError(
                f"not opened: one part of this Word document unpacks to "
                f"{_human_size(member.file_size)} of XML (a zip bomb?); the limit is "
                f"{_human_size(_DOCX_MAX_XML_BYTES)}")
    if total > _DOCX_MAX_TOTAL_BYTES:
        raise ExtractionError(f"not opened: this Word document unpacks to {_human_size(total)} "
                              f"(a zip bomb?); the limit is {_human_size(_DOCX_MAX_TOTAL_BYTES)}")


def _extract_docx(path: Path) -> Extracted:
    """Paragraphs and tables in body order; each table row as 'cell | cell'."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_docx_archive(path)
    try:
        document = docx.Document(str(path))
    except PackageNotFoundError as err:  # its message is just the path; say what it means
        raise ExtractionError("corrupt Word document: not a readable .docx package") from err
    except ValueError as err:
        if "not a Word file" in str(err):
            raise ExtractionError(
                "not a Word document (mislabelled file: a different Office format)") from err
        raise ExtractionError(f"corrupt Word document: {_docx_problem(err)}") from err
    except OSError as err:
        raise _os_reason(err) from err
    except Exception as err:  # lxml syntax errors, missing parts, bad zip data, ...
        raise ExtractionError(f"corrupt Word document: {_docx_problem(err)}") from err

    try:
        blocks = [block for block in _docx_blocks(document) if block.strip()]
    except Exception as err:
        raise ExtractionError(f"corrupt Word document: {_docx_problem(err)}") from err
    if not blocks:
        raise ExtractionError("empty document (no text)")

    title: str | None = None
    try:
        title = (document.core_properties.title or "").strip() or None
    except Exception:
        title = None
    if title is None:
        title = _docx_heading_title(document)
    return Extracted(kind="docx", pages=[Page(None, "\n\n".join(blocks))], warnings=[], title=title)


def _docx_blocks(document: Any) -> Iterator[str]:
    """Walk the body XML so tables appear where they are, and content controls are entered."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    body = document.element.body
    stack: list[Any] = list(reversed(list(body.iterchildren())))
    while stack:
        element = stack.pop()
        tag = element.tag
        if tag == f"{_W_NS}p":
            yield _clean_line(Paragraph(element, document).text)
        elif tag == f"{_W_NS}tbl":
            yield "\n".join(_docx_table_rows(Table(element, document)))
        elif tag == f"{_W_NS}sdt":  # content control (cover pages, tables of contents)
            content = element.find(f"{_W_NS}sdtContent")
            if content is not None:
                stack.extend(reversed(list(content.iterchildren())))


def _docx_table_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(_clean_line(" ".join(p.text for p in cell.paragraphs)))
        if any(cells):
            yield " | ".join(cells)


def _docx_heading_title(document: Any) -> str | None:
    try:
        for paragraph in document.paragraphs[:20]:
            style = paragraph.style.name if paragraph.style is not None else ""
            if style in {"Title", "Heading 1"} and paragraph.text.strip():
                return _clean_line(paragraph.text)
    except Exception:
        return None
    return None


def _clean_line(text: str) -> str:
    text = _CONTROL_CHARS.sub("", _normalise_newlines(text))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_PARAGRAPH_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl",
        "section", "article", "header", "footer", "aside", "nav", "main", "form", "figure",
        "details", "hr", "address", "fieldset",
    }
)  # fmt: skip
_LINE_TAGS = frozenset(
    {
        "div", "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "legend", "option",
        "center", "dialog", "menu", "hgroup", "tbody", "thead", "tfoot", "body", "html",
    }
)  # fmt: skip
_WS = re.compile(r"\s+")


def _decode_html(data: bytes) -> str:
    """BOM, then the declared <meta charset>, then the generic text guess."""
    if _bom_encoding(data) is None:
        m = _META_CHARSET.search(data[:4096])
        if m:
            declared = m.group(1).decode("ascii", errors="ignore").lower()
            if declared in {"iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"}:
                declared = "cp1252"  # what browsers do (WHATWG Encoding Standard)
            if not declared.startswith(("utf-16", "utf-32")):
                try:
                    return data.decode(declared)
                except (LookupError, UnicodeDecodeError):
                    pass
    return _decode_text(data)


class _TextBuilder:
    """Assembles visible text: collapses HTML whitespace, turns blocks into line breaks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = 0  # newlines owed before the next text

    def _ends_with(self, chars: str) -> bool:
        return bool(self.parts) and self.parts[-1].endswith(tuple(chars))

    def text(self, value: str, *, pre: bool) -> None:
        if not pre:
            value = _WS.sub(" ", value)
            if self.pending or not self.parts or self._ends_with(" \n"):
                value = value.lstrip(" ")
        if not value:
            return
        if self.pending and self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * self.pending)
        self.pending = 0
        self.parts.append(value)

    def line_break(self) -> None:
        if self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
        self.text("\n", pre=True)

    def block(self, newlines: int) -> None:
        self.pending = max(self.pending, newlines)

    def result(self) -> str:
        text = "".join(self.parts)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        return _MANY_NEWLINES.sub("\n\n", text).strip()


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
_VOID_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "keygen",
    }
)  # fmt: skip
# Closed implicitly by the next one of their kind (or their parent): they never nest deep.
_IMPLIED_END_TAGS = frozenset(
    {
        "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt", "rp",
        "tbody", "thead", "tfoot", "colgroup", "caption",
    }
)  # fmt: skip


def _flatten_deep_html(html: str, limit: int = MAX_HTML_DEPTH) -> tuple[str, bool]:
    """Drop the tags that would nest deeper than `limit` (their text stays); linear time.

    Returns the HTML (the same string when nothing was that deep) and whether it changed.
    The depth is estimated from the tags alone (no parser); it errs on the deep side only
    for odd markup, which then merely loses some of its layout.
    """
    depth = 0
    open_counts: dict[str, int] = {}
    dropped: dict[str, int] = {}
    pieces: list[str] = []
    last = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID_TAGS or name in _IMPLIED_END_TAGS or match.group(3):
            continue
        if not match.group(1):  # an opening tag
            if depth >= limit:
                pieces.append(html[last:match.start()])
                last = match.end()
                dropped[name] = dropped.get(name, 0) + 1
                continue
            depth += 1
            open_counts[name] = open_counts.get(name, 0) + 1
        elif dropped.get(name):  # the end of a tag that was dropped
            pieces.append(html[last:match.start()])
            last = match.end()
            dropped[name] -= 1
        elif open_counts.get(name):
            open_counts[name] -= 1
            depth -= 1
    if not pieces:
        return html, False
    pieces.append(html[last:])
    return "".join(pieces), True


def _extract_html(data: bytes) -> Extracted:
    from selectolax.lexbor import LexborHTMLParser

    html, flattened = _flatten_deep_html(_decode_html(data))
    notes = [f"nested more than {MAX_HTML_DEPTH} levels deep: the deepest levels were "
             "read as plain text"] if flattened else []
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _WS.sub(" ", title_node.text()).strip() if title_node is not None else ""
    for selector in (*_INVISIBLE, "[hidden]"):
        for node in tree.css(selector):
            node.decompose()
    if not title:
        h1 = tree.css_first("h1")
        title = _WS.sub(" ", h1.text()).strip() if h1 is not None else ""

    root = tree.body if tree.body is not None else tree.root
    text = _html_visible_text(root) if root is not None else ""
    if not text:
        raise ExtractionError("empty file (no visible text)")
    return Extracted(kind="html", pages=[Page(None, text)], warnings=notes, title=title or None)


def _html_visible_text(root: Any) -> str:
    """Depth-first walk with an explicit stack (deep nesting must not hit recursion limits)."""
    out = _TextBuilder()
    pre_depth = 0
    # Entries: (node, entering). On exit we only close blocks and <pre>.
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if node.is_text_node:
            out.text(node.text_content or "", pre=pre_depth > 0)
            continue
        if not node.is_element_node:
            continue  # comments, doctype
        tag = (node.tag or "").lower()
        if not entering:
            if tag in {"pre", "textarea"}:
                pre_depth -= 1
            if tag in _PARAGRAPH_TAGS:
                out.block(2)
            elif tag in _LINE_TAGS:
                out.block(1)
            continue
        if tag == "br":
            out.line_break()
            continue
        if tag in _PARAGRAPH_TAGS:
            out.block(2)
        elif tag in _LINE_TAGS:
            out.block(1)
        elif tag in {"td", "th"} and not out.pending and out.parts and not out._ends_with("\n"):
            out.text(" | ", pre=True)
        if tag in {"pre", "textarea"}:
            pre_depth += 1
        stack.append((node, False))
        children = list(node.iter(include_text=True))
        stack.extend((child, True) for child in reversed(children))
    return out.result()
