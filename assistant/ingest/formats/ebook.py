"""EPUB e-books: one citable place per chapter, in reading order, with the chapter's title.

ebooklib reads the package (spine, table of contents, metadata); each chapter's XHTML goes
through the same HTML reader as web pages. The archive is checked for zip bombs first,
because ebooklib holds every part in memory.
"""

from __future__ import annotations

import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any

from assistant.ingest.formats.common import (
    ZIP_MAX_TOTAL_BYTES,
    Extracted,
    ExtractionError,
    Page,
    check_zip_archive,
    clean_line,
    reading,
    zip_problem,
)
from assistant.ingest.formats.web import extract_html

_WHAT = "EPUB e-book"


def extract_epub(path: Path) -> Extracted:
    """Spine documents with text become chapters 1, 2, ...; labelled by the book's own
    table of contents where it names them, else by the chapter's first heading."""
    from ebooklib import epub

    check_zip_archive(path, _WHAT, zip_problem, max_total_bytes=ZIP_MAX_TOTAL_BYTES // 2)
    _refuse_drm(path)
    with warnings.catch_warnings(), reading(_WHAT):
        warnings.simplefilter("ignore")
        book = epub.read_epub(str(path), options={"ignore_ncx": False})
    with reading(_WHAT):
        names = _toc_titles(book.toc)
        pages: list[Page] = []
        notes: list[str] = []
        for idref, *_ in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or "nav" in (getattr(item, "properties", None) or []) or \
                    type(item).__name__ == "EpubNav":
                continue  # the book's own table of contents is not a chapter
            try:
                html = extract_html(item.get_content())
            except ExtractionError:
                continue  # a cover image page, a blank separator: nothing to cite
            text = html.pages[0].text
            number = len(pages) + 1
            title = names.get(_norm(item.get_name())) or html.title
            label = f"chapter {number}: {title}" if title else f"chapter {number}"
            pages.append(Page(number, text, label))
        meta = book.get_metadata("DC", "title")
        title = clean_line(str(meta[0][0])) or None if meta else None
    if not pages:
        raise ExtractionError("empty e-book (no text in any chapter)")
    return Extracted(kind="epub", pages=pages, warnings=notes, title=title)


def _norm(href: str) -> str:
    return posixpath.normpath(href.split("#", 1)[0]).lstrip("./")


def _toc_titles(toc: Any) -> dict[str, str]:
    """File name -> the first title the table of contents gives it (nested sections too)."""
    found: dict[str, str] = {}
    stack: list[Any] = list(reversed(list(toc or [])))
    while stack:
        entry = stack.pop()
        if isinstance(entry, tuple | list):
            section, children = (entry[0], entry[1]) if len(entry) == 2 else (None, entry)
            stack.extend(reversed(list(children)))
            entry = section
        href = getattr(entry, "href", None)
        title = clean_line(str(getattr(entry, "title", "") or ""))
        if href and title:
            found.setdefault(_norm(href), title)
    return found


def _refuse_drm(path: Path) -> None:
    """A book whose chapters are encrypted (DRM) cannot be read; fonts alone may be."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "META-INF/encryption.xml" not in archive.namelist():
                return
            spec = archive.read("META-INF/encryption.xml").lower()
    except Exception:
        return  # ebooklib will word any damage
    if b".xhtml" in spec or b".html" in spec:
        raise ExtractionError("protected by DRM (its chapters are encrypted); only books "
                              "without copy protection can be indexed")
