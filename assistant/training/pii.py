"""Personal data scrubbing for training examples: e-mail addresses, phone numbers, IBANs, cards.

A fine-tuned adapter can memorise and later repeat what it was trained on, so personal data is
replaced by a placeholder before training (on by default). Each detector is conservative:

* e-mail: the usual `local@domain.tld` shape;
* IBAN: country code, check digits and 11-30 alphanumerics, accepted only when the ISO 13616
  mod-97 check passes (so random letter/digit runs are left alone);
* card number: 13-19 digits (optionally grouped by spaces or dashes), accepted only when the
  Luhn check passes and the first digit is that of a card network (2-6);
* phone number: 7-15 digits that look like a phone number: an international `+` prefix, an
  area code in parentheses, a national trunk `0` with grouping, the North-American 3-3-4 shape,
  or any 7+ digit run right after a word such as "phone", "tel." or "mobile".

Ordinary numbers are never touched: years (2023), prices (1499, 1,499.00), page numbers,
dates (2023-05-01, 01.05.2023, 05/01/2023), times, version numbers and ISBN-like codes.

The report says how many of each kind were removed and where (example and field); it never
contains the removed values themselves.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "card": "[CARD]",
    "phone": "[PHONE]",
}
KINDS: tuple[str, ...] = tuple(PLACEHOLDERS)

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])")
# Country code, two check digits, then 11-30 alphanumerics optionally grouped by single spaces.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_CARD = re.compile(r"(?<![\w.,/+-])\d(?:[ -]?\d){12,18}(?![\w]|[.,/-]\d)")
# A phone candidate: optional +country, optional (area), then digits in groups separated by a
# single space, dot, dash or slash. Dates and other shapes are rejected in _is_phone.
_PHONE = re.compile(
    r"(?<![\w.,/+-])(?:\+\s?\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d+(?:[ .\-/]\d+)*"
    r"(?![\w]|[.,/-]\d)")
_PHONE_WORDS = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|fax|call|ring|whatsapp|telefon|handy|tél|"
    r"téléphone|portable|móvil|teléfono|cellulare)\b[^\w\n]{0,6}(?:\w+[^\w\n]{1,3}){0,2}$",
    re.IGNORECASE)
_DATE = re.compile(
    r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_NANP = re.compile(r"^\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}$")
_TIME = re.compile(r"^\d{1,2}[:.]\d{2}$")


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text: its kind and character span."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Removal:
    """What was removed from one field of one example (counts only, never the values)."""

    example: int  # index of the example in the data set as loaded
    line: int | None  # 1-based line in the file, where the example came from a file
    field: str  # "prompt", "response", "sources[0]", ...
    counts: dict[str, int]


@dataclass
class PiiReport:
    """Everything that scrubbing removed from a data set."""

    removals: list[Removal] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for removal in self.removals:
            total.update(removal.counts)
        return {kind: total[kind] for kind in KINDS if total[kind]}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def examples(self) -> list[int]:
        """Indices of the examples that had something removed, in order."""
        return sorted({removal.example for removal in self.removals})

    def summary(self) -> str:
        if not self.removals:
            return "No personal data (e-mail addresses, phone numbers, IBANs, card numbers) found."
        names = {"email": "e-mail address", "phone": "phone number", "iban": "IBAN",
                 "card": "card number"}
        parts = [f"{n} {names[k]}{'es' if k == 'email' and n != 1 else 's' if n != 1 else ''}"
                 for k, n in self.counts.items()]
        n_ex = len(self.examples)
        return (f"Removed {', '.join(parts)} from {n_ex} example{'s' if n_ex != 1 else ''} "
                "and replaced them with placeholders such as [EMAIL].")

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "examples": self.examples,
            "removals": [{"example": r.example, "line": r.line, "field": r.field,
                          "counts": r.counts} for r in self.removals],
        }


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum used by payment card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _iban_spans(text: str) -> list[Finding]:
    found: list[Finding] = []
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # The pattern may run on into following capitals or digits ("... 00 AND"): try the
        # longest prefix, ending at a character, that passes the check.
        positions = [i for i, ch in enumerate(candidate) if ch != " "]
        for n in range(len(positions), 14, -1):
            end = positions[n - 1] + 1
            if iban_valid(candidate[:end]):
                found.append(Finding("iban", match.start(), match.start() + end))
                break
    return found


def _card_spans(text: str) -> list[Finding]:
    found: list[Finding] = []
    for match in _CARD.finditer(text):
        candidate = match.group()
        digits = re.sub(r"[ -]", "", candidate)
        separators = set(re.findall(r"[ -]", candidate))
        if len(separators) > 1 or digits[0] not in "23456":
            continue
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(Finding("card", match.start(), match.end()))
    return found


def _is_phone(candidate: str, before: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15:
        return False
    body = candidate.strip()
    if _DATE.match(body) or _TIME.match(body):
        return False
    if body.startswith("+"):
        return len(digits) >= 8
    if _PHONE_WORDS.search(before):
        return True
    if body.startswith("("):
        return len(digits) >= 9
    if _NANP.match(body):
        return True
    groups = re.split(r"[ .\-/]", body)
    # National numbers with a trunk prefix: "030 1234567", "0171-1234567", "06 12 34 56 78".
    return body.startswith("0") and len(groups) >= 2 and 9 <= len(digits) <= 12


def _phone_spans(text: str) -> list[Finding]:
    found: list[Finding] = []
    for match in _PHONE.finditer(text):
        before = text[max(0, match.start() - 40):match.start()]
        if _is_phone(match.group(), before):
            start, end = match.start(), match.end()
            found.append(Finding("phone", start, end))
    return found


def find_pii(text: str) -> list[Finding]:
    """All personal data in `text`, as non-overlapping spans sorted by position."""
    candidates: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def free(span: Finding) -> bool:
        return all(span.end <= a or span.start >= b for a, b in taken)

    # Order matters: an e-mail or IBAN contains digits a card or phone detector would see.
    for detector in (_email_spans, _iban_spans, _card_spans, _phone_spans):
        for span in detector(text):
            if free(span):
                candidates.append(span)
                taken.append((span.start, span.end))
    return sorted(candidates, key=lambda f: f.start)


def _email_spans(text: str) -> list[Finding]:
    return [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def scrub(text: str) -> tuple[str, dict[str, int]]:
    """Replace personal data in `text` by placeholders; return the new text and counts per kind."""
    findings = find_pii(text)
    if not findings:
        return text, {}
    out: list[str] = []
    pos = 0
    counts: Counter[str] = Counter()
    for f in findings:
        out.append(text[pos:f.start])
        out.append(PLACEHOLDERS[f.kind])
        counts[f.kind] += 1
        pos = f.end
    out.append(text[pos:])
    return "".join(out), dict(counts)
