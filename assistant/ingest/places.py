"""A passage's place in words a person reads: "Slide 3 — Quarterly results", "Sheet Sales,
A1:D12", "Chapter 2 — The Storm", "Message 3 — Report from Kari, ...", or "page 4".

The extractors store a compact label per place (`Page.label`: "slide 3: Quarterly results",
"Sales!A1:D12"); the viewer's headings, the sources pane, citations and the command line all
word it here, so a place is named the same everywhere.
"""

from __future__ import annotations

import re

_NUMBERED = re.compile(r"^(slide|chapter|message)(?: (\d+))?(?:: (.*))?$", re.DOTALL)
_RANGE = re.compile(r"^(.+)!([A-Z]+\d+:[A-Z]+\d+)$")


def heading(label: str) -> str:
    """A stored place label as a heading; a label of an unknown shape is returned as it is."""
    label = " ".join(label.split())
    sheet = _RANGE.match(label)
    if sheet:
        return f"Sheet {sheet.group(1)}, {sheet.group(2)}"
    numbered = _NUMBERED.match(label)
    if numbered:
        kind, number, rest = numbered.groups()
        head = kind.capitalize() + (f" {number}" if number else "")
        return f"{head} — {rest}" if rest else head
    return label


def where(page: int | None, place: str | None) -> str:
    """Where a passage is, for a citation: its place when it has one, else its page, else ''."""
    if place:
        return heading(place)
    return f"page {page}" if page else ""


def cell_range(label: str | None) -> tuple[str, str] | None:
    """(sheet, "A1:D12") of a spreadsheet place, None for any other place."""
    sheet = _RANGE.match(label or "")
    return (sheet.group(1), sheet.group(2)) if sheet else None
