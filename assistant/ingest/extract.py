"""Text out of user files: which format a file is, and which format module reads it.

PDF, Word, PowerPoint, Excel and OpenDocument, EPUB, RTF, saved mail, HTML, Markdown, plain
text, source code, and images (by OCR, as are PDF pages without a text layer).

Users point the app at real folders, so every expected failure (encrypted, truncated, scanned,
mislabelled, binary, empty, huge) becomes an `ExtractionError` with a short reason the GUI can
show next to the file, never a traceback. The kind is decided from the bytes as well as the
extension, because files are often misnamed. Each family of formats lives in its own module
under `assistant.ingest.formats`; this one keeps the extension table and the size limits.

Everything here is a pure function of the file's bytes; no Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.ingest.formats.common import (
    OLE_MAGIC,
    ZIP_MAGICS,
    Extracted,
    ExtractionError,
    Page,
    file_size,
    human_size,
    is_encrypted_office,
    read_all,
    read_head,
)
from assistant.ingest.formats.documents import extract_odt, extract_rtf
from assistant.ingest.formats.ebook import extract_epub
from assistant.ingest.formats.images import IMAGE_EXTS, extract_image, looks_like_image
from assistant.ingest.formats.mail import MAX_ATTACHMENT_BYTES, extract_eml, extract_mbox
from assistant.ingest.formats.office import extract_docx
from assistant.ingest.formats.pdf import extract_pdf
from assistant.ingest.formats.sheets import extract_ods, extract_xlsx
from assistant.ingest.formats.slides import extract_pptx
from assistant.ingest.formats.text import (
    PDF_MAGIC_WINDOW,
    SNIFF_BYTES,
    extract_text,
    looks_binary,
    strip_bom,
    what_is_it,
)
from assistant.ingest.formats.web import MAX_HTML_DEPTH, extract_html
from assistant.ingest.ocr import OcrOptions

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

MAX_FILE_BYTES: int = 200 * 1024 * 1024
# Text-like files (plain text, code, Markdown, HTML) above this are refused before they are
# read: 16 MB is thousands of pages, and tokenizing and embedding more would hold an index run
# for many minutes (a 50 MB one-line dump took over two minutes just to chunk).
MAX_TEXT_BYTES: int = 16 * 1024 * 1024

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

# Packaged (zip) formats and the words for them in sentences.
_PACKAGES: dict[str, str] = {
    "docx": "Word document",
    "pptx": "PowerPoint presentation",
    "xlsx": "Excel workbook",
    "ods": "OpenDocument spreadsheet",
    "odt": "OpenDocument text",
    "epub": "EPUB e-book",
}
_OOXML_OLD = {"pptx": ".ppt", "xlsx": ".xls"}  # the binary formats that came before

_KIND_BY_EXT: dict[str, str] = {
    **dict.fromkeys(_PDF_EXTS, "pdf"),
    **dict.fromkeys(_DOCX_EXTS, "docx"),
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".ods": "ods",
    ".odt": "odt",
    ".epub": "epub",
    ".rtf": "rtf",
    ".eml": "eml",
    ".mbox": "mbox",
    **dict.fromkeys(IMAGE_EXTS, "image"),
    **dict.fromkeys(_MARKDOWN_EXTS, "markdown"),
    **dict.fromkeys(_HTML_EXTS, "html"),
    **dict.fromkeys(_TEXT_EXTS, "text"),
    **dict.fromkeys(_CODE_EXTS, "code"),
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_KIND_BY_EXT)


_BY_PATH: dict[str, Callable[[Path], Extracted]] = {
    "pptx": extract_pptx,
    "xlsx": extract_xlsx,
    "ods": extract_ods,
    "odt": extract_odt,
    "epub": extract_epub,
    "mbox": lambda path: extract_mbox(path, _attachment),
}


def _attachment(path: Path) -> Extracted:
    """A mail attachment's text: any supported type but mail itself (no mail inside mail, so
    reading attachments never recurses), no OCR (its cache is keyed by whole files)."""
    if detect_kind(path) in ("eml", "mbox"):
        raise ExtractionError("mail attached to mail is only named")
    return extract(path, max_bytes=MAX_ATTACHMENT_BYTES)


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
    size = file_size(path)
    if size == 0:
        raise ExtractionError("empty file")
    head = read_head(path, SNIFF_BYTES)
    if size <= len(head) and not strip_bom(head).strip():
        raise ExtractionError("empty file")
    if kind == "pdf":
        if b"%PDF" not in head[:PDF_MAGIC_WINDOW]:
            raise ExtractionError(f"not a PDF (mislabelled file{what_is_it(head)})")
    elif kind == "docx":
        if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            raise ExtractionError(
                "not a .docx file (old .doc format, or a password-protected Word document)"
            )
        if not head.startswith(ZIP_MAGICS):
            raise ExtractionError(f"not a Word document (mislabelled file{what_is_it(head)})")
    elif kind in _PACKAGES:
        what = _PACKAGES[kind]
        if head.startswith(OLE_MAGIC):
            if is_encrypted_office(path):
                raise ExtractionError(f"password-protected {what}: save a copy without a "
                                      "password to index it")
            old = _OOXML_OLD.get(kind)
            raise ExtractionError(f"not a {suffix} file (the old {old} format; save it as "
                                  f"{suffix} to index it)" if old else
                                  f"not an {what} (mislabelled file)")
        if not head.startswith(ZIP_MAGICS):
            article = "an" if what[0] in "AEIOU" else "a"
            raise ExtractionError(f"not {article} {what} (mislabelled file{what_is_it(head)})")
    elif kind == "image":
        if not looks_like_image(head):
            raise ExtractionError(f"not an image (mislabelled file{what_is_it(head)})")
    elif kind == "rtf":
        if not strip_bom(head).lstrip().startswith(b"{\\rtf"):
            raise ExtractionError(f"not an RTF document (mislabelled file{what_is_it(head)})")
    elif looks_binary(head):
        raise ExtractionError("binary file, not text")
    return kind


def extract(path: Path, max_bytes: int = MAX_FILE_BYTES,
            max_text_bytes: int = MAX_TEXT_BYTES, ocr: OcrOptions | None = None) -> Extracted:
    """Extract the text of `path`, page by page.

    Raises ExtractionError with a reason for every expected failure; the size limits are
    checked before anything is read so a stray disk image cannot exhaust memory, and a huge
    text dump cannot hold an index run for long. With `ocr`, scanned PDF pages and images
    are read by OCR (the indexing worker passes it when the setting is on).
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExtractionError(f"unsupported file type '{suffix or path.name}'")
    size = file_size(path)
    if size > max_bytes:
        raise ExtractionError(f"too large ({human_size(size)} > {human_size(max_bytes)} limit)")
    kind = detect_kind(path)
    if kind == "pdf":
        return extract_pdf(path, ocr)
    if kind == "image":
        return extract_image(path, ocr)
    if kind == "docx":
        return extract_docx(path)
    by_path = _BY_PATH.get(kind)
    if by_path is not None:
        return by_path(path)
    if size > max_text_bytes:
        raise ExtractionError(f"too large for a text file ({human_size(size)} > "
                              f"{human_size(max_text_bytes)} limit); split it into smaller files")
    data = read_all(path)
    if kind == "html":
        return extract_html(data)
    if kind == "rtf":
        return extract_rtf(data)
    if kind == "eml":
        return extract_eml(data, _attachment)
    return extract_text(data, kind)
