"""Words the window uses for the library: why a file could not be read, what was skipped, and
one definition of each count, so the toolbar, the sidebar, the Library page and a finished run
never disagree.

A "document" is a file in the library that can be searched (indexed). A file that failed is
"could not be read" (with its reason), one not read yet is "waiting", and a file of a type the
app does not read is "skipped". Passages are the indexed pieces questions are answered from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assistant.ingest.formats.images import IMAGE_NOT_READ
from assistant.ingest.formats.pdf import SCAN_NOT_READ
from assistant.settings import BY_NAME

_PAGE_WITHOUT_TEXT = re.compile(r"^page (\d+): no extractable text; scanned\?$")
_UNSUPPORTED = re.compile(r"^unsupported file type '(.+)'$")


def _ocr_hint() -> str:
    """Where to turn text recognition on (when this version of the app has it)."""
    option = BY_NAME.get("ocr")
    return f" Turn on “{option.label}” in Settings to read it." if option is not None else ""


def reason_text(reason: str) -> str:
    """A failure reason as a sentence that says what happened and what to do."""
    reason = reason.strip()
    if reason == "no extractable text; scanned?":  # (said only when recognition did not run)
        return ("This PDF has no text layer (probably a scan), and text recognition did not "
                "run on it." + _ocr_hint())
    if reason in (SCAN_NOT_READ, IMAGE_NOT_READ):
        what = "This PDF has no text layer (it is a scan)" if reason == SCAN_NOT_READ else \
            "This is an image"
        return (f"{what}, and it cannot be read because Tesseract, the OCR program, is not "
                "installed. Install Tesseract (package tesseract-ocr) and add the folder again.")
    page = _PAGE_WITHOUT_TEXT.match(reason)
    if page:
        return (f"page {page.group(1)} has no text layer (probably scanned), so it is not "
                "searchable; the other pages are")
    unsupported = _UNSUPPORTED.match(reason)
    if unsupported:
        kind = unsupported.group(1)
        return skipped_text(kind if kind.startswith(".") else "no extension")
    return reason


def skipped_text(kind: str) -> str:
    """Why a file in an added folder was skipped: its type, which the app does not read."""
    what = "a file without an extension" if kind == "no extension" else f"“{kind}” file"
    return f"{what[0].upper()}{what[1:]}: this type is not supported"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class Counts:
    """What one collection (or the whole library) holds."""

    documents: int = 0  # indexed, searchable
    passages: int = 0
    unreadable: int = 0  # failed
    waiting: int = 0

    @classmethod
    def of(cls, documents: Iterable[Any]) -> Counts:
        counts = cls()
        for doc in documents:
            if doc.status == "indexed":
                counts.documents += 1
                counts.passages += doc.chunks
            elif doc.status == "failed":
                counts.unreadable += 1
            else:
                counts.waiting += 1
        return counts

    @property
    def empty(self) -> bool:
        return not (self.documents or self.unreadable or self.waiting)

    def text(self) -> str:
        """"6 documents · 11 passages · 1 could not be read · 2 waiting"."""
        parts = [plural(self.documents, "document"), plural(self.passages, "passage")]
        if self.unreadable:
            parts.append(f"{self.unreadable} could not be read")
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        return " · ".join(parts)
