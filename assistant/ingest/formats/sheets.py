"""Spreadsheets (.xlsx with openpyxl, .ods with lxml): rows that keep their header.

A row alone ("Oslo | 1200 | 1350") answers nothing; the same row written as "City: Oslo |
Q3 total: 1350" does, so every row is written with its column names. Rows are grouped into
small blocks, each a citable place labelled with its sheet and cell range ("Sales!A2:F14"),
small enough that a block is about one chunk. Both readers stream: a sheet of a million
rows is read in constant memory, and reading stops at a cell limit with a warning.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from assistant.ingest.formats.common import (
    Extracted,
    ExtractionError,
    Page,
    check_zip_archive,
    clean_line,
    is_encrypted_office,
    os_reason,
    zip_problem,
)

BLOCK_CHARS = 360  # one chunk: numbers cost a word piece per 2.5 characters (160 max)
BLOCK_ROWS = 25
MAX_CELLS = 2_000_000  # filled cells read from one workbook; more is a data dump, not a document
# as much text as the largest text file read (MAX_TEXT_BYTES): more would hold an index run
# for an hour of embedding
MAX_TEXT_CHARS = 16 * 1024 * 1024
_CUT = ("only the beginning was read: the workbook holds more than "
        f"{MAX_CELLS:,} filled cells or 16 MB of text")
MAX_REPEAT = 100  # an OpenDocument row or cell "repeated" more often than this is read once

_XLSX = "Excel workbook"
_ODS = "OpenDocument spreadsheet"


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA: spreadsheet column names."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return clean_line(str(value)).replace("\n", " ")


class _SheetWriter:
    """Turns the rows of one sheet into labelled blocks of 'header: value' lines."""

    def __init__(self, sheet: str, pages: list[Page]) -> None:
        self.sheet = sheet
        self.pages = pages
        self.header: dict[int, str] | None = None
        self.lines: list[str] = []
        self.first_row = 0
        self.last_row = 0
        self.min_col = 0
        self.max_col = 0

    def row(self, number: int, cells: list[tuple[int, str]]) -> None:
        """One row: its 1-based number and its filled cells as (1-based column, text)."""
        if not cells:
            return
        if self.header is None:
            self.header = {col: text for col, text in cells}
            if not all(not _is_number(text) for _, text in cells):
                self.header = {}  # the first row holds data: no column names to keep
            else:
                self._add(number, cells, " | ".join(text for _, text in cells))
                return
        line = " | ".join(f"{self.header.get(col) or column_letter(col)}: {text}"
                          for col, text in cells)
        self._add(number, cells, line)

    def _add(self, number: int, cells: list[tuple[int, str]], line: str) -> None:
        size = sum(len(x) + 1 for x in self.lines)
        if self.lines and (size + len(line) > BLOCK_CHARS or len(self.lines) >= BLOCK_ROWS):
            self.flush()
        if not self.lines:
            self.first_row, self.min_col, self.max_col = number, cells[0][0], cells[-1][0]
        self.lines.append(line)
        self.last_row = number
        self.min_col = min(self.min_col, cells[0][0])
        self.max_col = max(self.max_col, cells[-1][0])

    def flush(self) -> None:
        if not self.lines:
            return
        where = (f"{column_letter(self.min_col)}{self.first_row}:"
                 f"{column_letter(self.max_col)}{self.last_row}")
        label = f"{self.sheet}!{where}"
        text = f"Sheet {self.sheet}, {where}\n" + "\n".join(self.lines)
        self.pages.append(Page(len(self.pages) + 1, text, label))
        self.lines = []


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").replace(" ", ""))
    except ValueError:
        return False
    return True


def _finish(kind: str, what: str, pages: list[Page], notes: list[str],
            title: str | None) -> Extracted:
    if not pages:
        raise ExtractionError(f"empty {what.split()[-1]} (no filled cells)")
    return Extracted(kind=kind, pages=pages, warnings=notes, title=title)


def _read_rows(rows: Iterable[tuple[int, list[tuple[int, str]]]], writer: _SheetWriter,
               budget: list[int], *, flush: bool = True) -> bool:
    """Feed rows to `writer`; False when the workbook's cell or text budget ran out."""
    for number, cells in rows:
        budget[0] -= len(cells)
        budget[1] -= sum(len(text) for _, text in cells)
        if budget[0] < 0 or budget[1] < 0:
            writer.flush()
            return False
        writer.row(number, cells)
    if flush:
        writer.flush()
    return True


# --- Excel --------------------------------------------------------------------------------


def check_not_encrypted(path: Path, what: str) -> None:
    """A password-protected Office file is an OLE container, not a zip: say so plainly."""
    if is_encrypted_office(path):
        raise ExtractionError(f"password-protected {what}: save a copy without a password "
                              "to index it")


def extract_xlsx(path: Path) -> Extracted:
    """Every worksheet in order; chart sheets have no cells and are passed over."""
    from openpyxl import load_workbook

    check_zip_archive(path, _XLSX, zip_problem)
    try:
        book = load_workbook(str(path), read_only=True, data_only=True)
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:
        raise ExtractionError(f"corrupt {_XLSX}: {zip_problem(err)}") from err
    pages: list[Page] = []
    notes: list[str] = []
    budget = [MAX_CELLS, MAX_TEXT_CHARS]
    try:
        for sheet in book.worksheets:
            if not hasattr(sheet, "iter_rows"):
                continue
            writer = _SheetWriter(sheet.title, pages)
            if not _read_rows(_xlsx_rows(sheet), writer, budget):
                notes.append(_CUT)
                break
        title = (book.properties.title or "").strip() or None if book.properties else None
    except ExtractionError:
        raise
    except Exception as err:
        raise ExtractionError(f"corrupt {_XLSX}: {zip_problem(err)}") from err
    finally:
        book.close()
    return _finish("xlsx", _XLSX, pages, notes, title)


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    for row in sheet.iter_rows():
        number = None
        cells: list[tuple[int, str]] = []
        for cell in row:
            column = getattr(cell, "column", None)
            if column is None:  # an empty cell in read-only mode has no coordinates
                continue
            number = cell.row
            text = _cell_text(cell.value)
            if text:
                cells.append((column, text))
        if number is not None and cells:
            yield number, cells


# --- OpenDocument -------------------------------------------------------------------------

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_T = f"{{{_TABLE}}}"


def odf_part(path: Path, what: str, part: str) -> bytes:
    """One XML part of an OpenDocument package, after the zip-bomb and password checks."""
    check_zip_archive(path, what, zip_problem)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "META-INF/manifest.xml" in names and \
                    b"encryption-data" in archive.read("META-INF/manifest.xml"):
                raise ExtractionError(f"password-protected {what}: save a copy without a "
                                      "password to index it")
            if part not in names:
                raise ExtractionError(f"not an {what} (its '{part}' is missing)")
            return archive.read(part)
    except ExtractionError:
        raise
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:
        raise ExtractionError(f"corrupt {what}: {zip_problem(err)}") from err


def xml_parser() -> Any:
    """An lxml parser that never fetches, never expands entities and keeps its size limits."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False)


def extract_ods(path: Path) -> Extracted:
    """Streamed with lxml's iterparse, each row dropped once read: a large sheet's XML is
    never held whole (a DOM of 64 MB of XML would take several hundred MB)."""
    data = odf_part(path, _ODS, "content.xml")
    pages: list[Page] = []
    notes: list[str] = []
    budget = [MAX_CELLS, MAX_TEXT_CHARS]
    writer: _SheetWriter | None = None
    number = 0
    try:
        for kind, value in _ods_events(data):
            if kind == "table":
                if writer is not None:
                    writer.flush()
                writer = _SheetWriter(value or f"Sheet{len(pages) + 1}", pages)
                number = 0
                continue
            if writer is None:
                continue
            number, rows = _ods_row(value, number)
            if not _read_rows(rows, writer, budget, flush=False):
                notes.append(_CUT)
                break
        if writer is not None:
            writer.flush()
    except ExtractionError:
        raise
    except Exception as err:
        raise ExtractionError(f"corrupt {_ODS}: {zip_problem(err)}") from err
    return _finish("ods", _ODS, pages, notes, None)


def _ods_events(data: bytes) -> Iterator[tuple[str, Any]]:
    """('table', its name) as each sheet starts, then ('row', element) for its rows."""
    from lxml import etree

    events = etree.iterparse(io.BytesIO(data), events=("start", "end"),
                             tag=(f"{_T}table", f"{_T}table-row"), resolve_entities=False,
                             no_network=True, huge_tree=False, load_dtd=False)
    for event, element in events:
        if element.tag == f"{_T}table":
            if event == "start":
                yield "table", element.get(f"{_T}name")
            else:
                element.clear()
        elif event == "end":
            yield "row", element
            element.clear(keep_tail=True)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]


def _ods_row(row: Any, number: int) -> tuple[int, list[tuple[int, list[tuple[int, str]]]]]:
    """The row's filled cells, once per repetition (up to MAX_REPEAT), and the next number."""
    repeat = int(row.get(f"{_T}number-rows-repeated") or 1)
    cells: list[tuple[int, str]] = []
    column = 0
    for cell in row:
        if cell.tag not in (f"{_T}table-cell", f"{_T}covered-table-cell"):
            continue
        span = int(cell.get(f"{_T}number-columns-repeated") or 1)
        text = odf_text(cell)
        if text:
            for k in range(min(span, MAX_REPEAT)):
                cells.append((column + 1 + k, text))
        column += span
    if not cells:
        return number + repeat, []
    rows = [(number + 1 + k, cells) for k in range(min(repeat, MAX_REPEAT))]
    return number + repeat, rows


def odf_text(element: Any, *, lines: bool = False) -> str:
    """The visible text of an OpenDocument element: <text:s/> as spaces, tabs and line breaks
    kept, paragraphs on their own lines (joined by spaces unless `lines`)."""
    from lxml import etree

    parts: list[str] = []
    for event, node in etree.iterwalk(element, events=("start", "end")):
        tag = node.tag if isinstance(node.tag, str) else ""
        if event == "start":
            if tag == f"{{{_TEXT}}}s":
                parts.append(" " * min(int(node.get(f"{{{_TEXT}}}c") or 1), 100))
            elif tag == f"{{{_TEXT}}}tab":
                parts.append("\t")
            elif tag == f"{{{_TEXT}}}line-break" or (tag in (f"{{{_TEXT}}}p", f"{{{_TEXT}}}h") and parts):
                parts.append("\n")
            if node.text:
                parts.append(node.text)
        elif node is not element and node.tail:
            parts.append(node.tail)
    text = clean_line("".join(parts))
    return text if lines else text.replace("\n", " ")
