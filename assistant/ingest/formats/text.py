"""Plain text, Markdown and source code: sniffing bytes, and decoding text of unknown encoding.

Files are often misnamed and encodings are rarely declared, so the kind is checked against
the first bytes and the encoding is found from a BOM, UTF-8, then a careful legacy guess.
"""

from __future__ import annotations

import re
import unicodedata

from assistant.ingest.formats.common import Extracted, ExtractionError, Page, normalise_newlines

SNIFF_BYTES = 8192  # how much of the head decides "binary or text"
PDF_MAGIC_WINDOW = 1024  # Acrobat accepts %PDF anywhere in the first 1 KB


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def strip_bom(data: bytes) -> bytes:
    found = bom_encoding(data)
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


def looks_binary(head: bytes) -> bool:
    """NUL bytes or many control characters mean binary, unless it is wide Unicode text."""
    if not head or bom_encoding(head) is not None or _bomless_utf16(head) is not None:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if (b < 32 and b not in _TEXT_CONTROLS) or b == 127)
    return controls > 0.05 * len(head)


def what_is_it(head: bytes) -> str:
    """A hint for mislabelled files: what the bytes actually look like."""
    if head.startswith(b"%PDF") or b"%PDF" in head[:PDF_MAGIC_WINDOW]:
        return ": content is a PDF"
    if head.startswith(b"PK\x03\x04"):
        return ": content is a zip archive"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return ": content is HTML"
    if not looks_binary(head):
        return ": content is plain text"
    return ""

def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding: BOM, then UTF-8, then a careful legacy guess."""
    found = bom_encoding(data)
    if found is not None:
        encoding, skip = found
        return data[skip:].decode(encoding, errors="replace")
    wide = _bomless_utf16(data[:SNIFF_BYTES])
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


_ATX_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$")


def markdown_title(text: str) -> str | None:
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


def extract_text(data: bytes, kind: str) -> Extracted:
    """Plain text, Markdown or code: one unpaged page; Markdown's first heading is its title."""
    text = normalise_newlines(decode_text(data))
    if text.count("\x00") > len(text) // 100:
        raise ExtractionError("binary file, not text")
    text = text.replace("\x00", "")
    if not text.strip():
        raise ExtractionError("empty file")
    title = markdown_title(text) if kind == "markdown" else None
    return Extracted(kind=kind, pages=[Page(None, text)], warnings=[], title=title)
