"""Word (.docx): paragraphs, headings and tables in body order, read with python-docx.

The package is checked for zip bombs before python-docx unpacks anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.ingest.formats.common import (
    Extracted,
    ExtractionError,
    Page,
    check_zip_archive,
    clean_line,
    os_reason,
    reading,
    table_text,
    zip_problem,
)

_W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


_WHAT = "Word document"


def extract_docx(path: Path) -> Extracted:
    """Paragraphs and tables in body order; each table row as 'cell | cell'."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_zip_archive(path, _WHAT, zip_problem)
    try:
        document = docx.Document(str(path))
    except PackageNotFoundError as err:  # its message is just the path; say what it means
        raise ExtractionError("corrupt Word document: not a readable .docx package") from err
    except ValueError as err:
        if "not a Word file" in str(err):
            raise ExtractionError(
                "not a Word document (mislabelled file: a different Office format)") from err
        raise ExtractionError(f"corrupt {_WHAT}: {zip_problem(err)}") from err
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:  # lxml syntax errors, missing parts, bad zip data, ...
        raise ExtractionError(f"corrupt {_WHAT}: {zip_problem(err)}") from err

    with reading(_WHAT):
        blocks = [block for block in _docx_blocks(document) if block.strip()]
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
            yield clean_line(Paragraph(element, document).text)
        elif tag == f"{_W_NS}tbl":
            yield table_text(_docx_table_rows(Table(element, document)))
        elif tag == f"{_W_NS}sdt":  # content control (cover pages, tables of contents)
            content = element.find(f"{_W_NS}sdtContent")
            if content is not None:
                stack.extend(reversed(list(content.iterchildren())))


def _docx_table_rows(table: Any) -> Iterator[list[str]]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(clean_line(" ".join(p.text for p in cell.paragraphs)))
        yield cells


def _docx_heading_title(document: Any) -> str | None:
    try:
        for paragraph in document.paragraphs[:20]:
            style = paragraph.style.name if paragraph.style is not None else ""
            if style in {"Title", "Heading 1"} and paragraph.text.strip():
                return clean_line(paragraph.text)
    except Exception:
        return None
    return None
