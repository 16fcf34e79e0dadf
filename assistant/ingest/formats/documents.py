"""Word-processor files other than .docx: OpenDocument text (.odt) and Rich Text (.rtf).

.odt is read straight from its content.xml with lxml (the format is an open standard and
lxml is the parser python-docx already brings; odfpy, the only ODF library, is unmaintained
and builds the whole document as Python objects). RTF goes through striprtf. Both are
unpaged: the chunker's character offsets are their places.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from assistant.ingest.formats.common import (
    MANY_NEWLINES,
    Extracted,
    ExtractionError,
    Page,
    clean_line,
    noted,
    reading,
    table_text,
)
from assistant.ingest.formats.sheets import odf_part, odf_text, xml_parser

_ODT = "OpenDocument text"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"


def extract_odt(path: Any) -> Extracted:
    """Headings, paragraphs, lists and tables in body order; tables as 'cell | cell'."""
    from lxml import etree

    data = odf_part(path, _ODT, "content.xml")
    with reading(_ODT):
        root = etree.fromstring(data, parser=xml_parser())
        body = root.find(f"{{{_OFFICE}}}body/{{{_OFFICE}}}text")
        blocks = [b for b in _odt_blocks(body) if b] if body is not None else []
        heading = next((odf_text(h) for h in root.iter(f"{_TEXT}h")), None) or None
    if not blocks:
        raise ExtractionError("empty document (no text)")
    title = _odt_title(path) or heading
    return Extracted(kind="odt", pages=[Page(None, "\n\n".join(blocks))], warnings=[],
                     title=title)


def _odt_blocks(body: Any) -> Iterator[str]:
    stack: list[Any] = list(reversed(list(body)))
    while stack:
        element = stack.pop()
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in (f"{_TEXT}p", f"{_TEXT}h"):
            yield odf_text(element, lines=True)
        elif tag == f"{_TABLE}table":
            yield table_text([odf_text(cell) for cell in row
                              if cell.tag == f"{_TABLE}table-cell"]
                             for row in element.iter(f"{_TABLE}table-row"))
        elif tag in (f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}section",
                     f"{_TEXT}list-header", f"{_TEXT}index-body", f"{_TEXT}table-of-content"):
            stack.extend(reversed(list(element)))


def _odt_title(path: Any) -> str | None:
    from lxml import etree

    try:
        meta = etree.fromstring(odf_part(path, _ODT, "meta.xml"), parser=xml_parser())
        node = next(meta.iter(_DC_TITLE), None)
    except Exception:
        return None
    return clean_line(node.text or "") or None if node is not None else None


def extract_rtf(data: bytes) -> Extracted:
    """RTF's text; its \\'xx escapes are read in the code page the file declares."""
    from striprtf.striprtf import rtf_to_text

    raw = data.decode("latin-1")  # RTF is 7-bit; 8-bit bytes map one to one, undamaged
    encoding = _declared_codepage(raw)
    try:
        text = rtf_to_text(raw, encoding=encoding, errors="replace")  # type: ignore[no-untyped-call]
    except Exception as err:
        noted(err, "rtf")
        raise ExtractionError("corrupt RTF document: its contents cannot be read") from err
    text = MANY_NEWLINES.sub("\n\n", clean_line(text))
    if not text:
        raise ExtractionError("empty document (no text)")
    return Extracted(kind="rtf", pages=[Page(None, text)], warnings=[], title=None)


def _declared_codepage(raw: str) -> str:
    marker = raw.find("\\ansicpg", 0, 4096)
    if marker >= 0:
        digits = ""
        for ch in raw[marker + 8:marker + 14]:
            if not ch.isdigit():
                break
            digits += ch
        if digits:
            import codecs

            try:
                return codecs.lookup(f"cp{digits}").name
            except LookupError:
                pass
    return "cp1252"
