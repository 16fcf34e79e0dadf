"""What every format module shares: the result types, the one error type, careful file access,
the zip-bomb check for packaged formats, and the text clean-up used by all of them.

Failures become `ExtractionError` with a short sentence for the user; a library's own message
goes to the debug log only, because it names internals nobody can act on.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("assistant.ingest.extract")

@dataclass
class Page:
    """One citable place of a document: a page, slide, sheet range, chapter or message.

    `number` is 1-based and unique within the document (None for unpaged formats), so a
    chunk can point back at it; `label` says in words where it is ("slide 3: Results",
    "Sales!A1:F12", "chapter 2: The Sea"), for formats whose places are not pages.
    """

    number: int | None
    text: str
    label: str | None = None


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


def os_reason(err: OSError) -> ExtractionError:
    return ExtractionError(f"cannot read file ({err.strerror or type(err).__name__})")


def file_size(path: Path) -> int:
    try:
        st = path.stat()
    except OSError as err:
        raise os_reason(err) from err
    if not path.is_file():
        raise ExtractionError("not a regular file")
    return st.st_size


def read_head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError as err:
        raise os_reason(err) from err


def read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise os_reason(err) from err


def human_size(n: int) -> str:
    """'812 MB', '1.5 MB', '900 KB', '12 bytes': readable at every scale, incl. test limits."""
    mib, kib = 1024 * 1024, 1024
    if n >= 10 * mib:
        return f"{n // mib} MB"
    if n >= mib:
        return f"{n / mib:.1f} MB"
    if n >= kib:
        return f"{n // kib} KB"
    return f"{n} bytes"


def noted(err: BaseException, what: str) -> None:
    """Keep a library's own message for developers (debug log); users get a sentence."""
    log.debug("%s: %s: %s", what, type(err).__name__, err)


CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\ufffe\uffff]")
SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u3000]+")
MANY_NEWLINES = re.compile(r"\n{3,}")


def table_text(rows: Iterable[Iterable[str]]) -> str:
    """A table as text: one row a line, its cells joined by ' | ', empty rows left out (the
    same shape in Word, PowerPoint and OpenDocument, so a row reads the same everywhere)."""
    return "\n".join(" | ".join(cells) for cells in map(list, rows) if any(cells))


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_line(text: str) -> str:
    """Control characters out, runs of spaces collapsed, each line trimmed."""
    text = CONTROL_CHARS.sub("", normalise_newlines(text))
    return "\n".join(SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


# Packaged formats (Word, PowerPoint, Excel, OpenDocument, EPUB) are zip archives: limits
# checked on the archive's directory before anything is unpacked.
ZIP_MAX_MEMBERS = 10_000
ZIP_MAX_XML_BYTES = 64 * 1024 * 1024  # one XML part, unpacked (the libraries parse it whole)
ZIP_MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # all parts together, unpacked
_XML_SUFFIXES = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx")


def check_zip_archive(path: Path, what: str, problem: Callable[[BaseException], str], *,
                      max_members: int = ZIP_MAX_MEMBERS, max_xml_bytes: int = ZIP_MAX_XML_BYTES,
                      max_total_bytes: int = ZIP_MAX_TOTAL_BYTES) -> list[zipfile.ZipInfo]:
    """Refuse zip bombs from the archive's directory alone, before anything is unpacked.

    Python's zipfile never unpacks more than a member's declared size (a lying size ends in a
    checksum error), so the declared sizes bound what a library can be made to read. `what`
    names the document in the sentences ("Word document"); `problem` words other failures.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as err:
        noted(err, what)
        raise ExtractionError(f"corrupt {what}: not a readable {_package_name(what)}") from err
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:  # zipfile's parsing of a hostile directory (struct errors, ...)
        raise ExtractionError(f"corrupt {what}: {problem(err)}") from err
    if len(members) > max_members:
        raise ExtractionError(f"not a usable {what}: the archive holds {len(members)} "
                              f"files (a {what} has a few dozen)")
    total = 0
    for member in members:
        total += member.file_size
        if member.filename.lower().endswith(_XML_SUFFIXES) and member.file_size > max_xml_bytes:
            raise ExtractionError(
                f"not opened: one part of this {what} unpacks to "
                f"{human_size(member.file_size)} of XML (a zip bomb?); the limit is "
                f"{human_size(max_xml_bytes)}")
    if total > max_total_bytes:
        raise ExtractionError(f"not opened: this {what} unpacks to {human_size(total)} "
                              f"(a zip bomb?); the limit is {human_size(max_total_bytes)}")
    return members


_PACKAGES = {"Word document": ".docx package"}


def _package_name(what: str) -> str:
    return _PACKAGES.get(what, "package")


def zip_problem(err: BaseException) -> str:
    """What a failure inside a packaged format's library (lxml, zipfile) means, in words."""
    noted(err, "package")
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


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Inside, a library reads a packaged `what` ("EPUB e-book"): a failure of the file system
    is worded as such, anything else as a corrupt `what` with zip_problem's reason."""
    try:
        yield
    except ExtractionError:
        raise
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:  # lxml syntax errors, missing parts, bad zip data, ...
        raise ExtractionError(f"corrupt {what}: {zip_problem(err)}") from err


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def is_encrypted_office(path: Path) -> bool:
    """An OLE file holding an 'EncryptedPackage' stream is a password-protected Office file
    (Word, Excel and PowerPoint wrap the encrypted zip that way); other OLE files are the
    old binary formats (.doc, .xls, .ppt)."""
    marker = "EncryptedPackage".encode("utf-16-le")
    try:
        with path.open("rb") as fh:
            head = fh.read(1024 * 1024)
            fh.seek(0, 2)
            fh.seek(max(len(head), fh.tell() - 1024 * 1024))
            tail = fh.read()  # the directory of a large file may sit at its end
    except OSError:
        return False
    return head.startswith(OLE_MAGIC) and (marker in head or marker in tail)
