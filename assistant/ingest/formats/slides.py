"""PowerPoint (.pptx): one citable place per slide, with its number, title and speaker notes.

Read with python-pptx. Text comes from every shape in reading order
(groups entered, tables as 'cell | cell'); the notes follow the slide's own text, because
what a presenter says is often the answer to a question about the slide.
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

_WHAT = "PowerPoint presentation"


def extract_pptx(path: Path) -> Extracted:
    """Each slide a page: 'slide N: title' is its label; notes come after its text."""
    from pptx import Presentation

    check_zip_archive(path, _WHAT, zip_problem)
    try:
        deck = Presentation(str(path))
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:  # missing parts, lxml syntax errors, a different Office type
        if "not a PowerPoint file" in str(err) or "content type" in str(err).lower():
            raise ExtractionError("not a PowerPoint presentation (mislabelled file: a "
                                  "different Office format)") from err
        raise ExtractionError(f"corrupt {_WHAT}: {zip_problem(err)}") from err
    pages: list[Page] = []
    notes: list[str] = []
    with reading(_WHAT):
        for number, slide in enumerate(deck.slides, 1):
            title = _slide_title(slide)
            blocks = [block for block in _shape_texts(slide.shapes) if block]
            spoken = _speaker_notes(slide)
            if spoken:
                blocks.append(f"Speaker notes: {spoken}")
            label = f"slide {number}: {title}" if title else f"slide {number}"
            pages.append(Page(number, "\n\n".join(blocks), label))
        title = (deck.core_properties.title or "").strip() or None
    if not pages:
        raise ExtractionError("empty presentation (no slides)")
    if not any(page.text for page in pages):
        raise ExtractionError("empty presentation (no text on any slide)")
    empty = [str(page.number) for page in pages if not page.text]
    if empty:
        notes.append(f"slides without text: {', '.join(empty[:20])}"
                     + (" and more" if len(empty) > 20 else ""))
    if title is None:
        title = next((p.label.split(": ", 1)[1] for p in pages
                      if p.label and ": " in p.label), None)
    return Extracted(kind="pptx", pages=pages, warnings=notes, title=title)


def _slide_title(slide: Any) -> str | None:
    try:
        shape = slide.shapes.title
    except Exception:
        return None
    if shape is None or not shape.has_text_frame:
        return None
    return clean_line(shape.text_frame.text).replace("\n", " ") or None


def _shape_texts(shapes: Any) -> Iterator[str]:
    """Text of shapes in order; group shapes are walked with a stack, not recursion."""
    stack: list[Any] = list(reversed(list(shapes)))
    while stack:
        shape = stack.pop()
        if getattr(shape, "shape_type", None) == 6 or hasattr(shape, "shapes"):  # a group
            stack.extend(reversed(list(shape.shapes)))
            continue
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield clean_line(shape.text_frame.text)
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield table_text([clean_line(cell.text).replace("\n", " ") for cell in row.cells]
                             for row in shape.table.rows)


def _speaker_notes(slide: Any) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return clean_line(frame.text) if frame is not None else ""
