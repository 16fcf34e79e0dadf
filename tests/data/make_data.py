"""Generate the real test documents in tests/data with real tools (fpdf2, pikepdf, python-docx).

The outputs are committed and are what the tests read; this script only documents how they
were made and lets us remake them. It is deterministic (fixed dates, seeds, PDF ids and zip
timestamps) and only writes files whose bytes changed. The AES-256 PDF is the exception: qpdf
draws its salts at random, so it is only made when missing (delete it to remake it).

    .venv/bin/python tests/data/make_data.py

Layout: docs/ holds good, indexable documents; bad/ holds files that must be refused with a
reason. questions.json lists facts (file, page) phrased the way a user would ask for them.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
from docx import Document
from docx.shared import Pt
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
BAD = HERE / "bad"
FIXED_DATE = datetime(2024, 3, 1, 9, 30, 0, tzinfo=UTC)
ZIP_DATE = (2024, 3, 1, 9, 30, 0)

# --------------------------------------------------------------------------------------------
# handbook.pdf: five pages, several paragraphs each, one distinctive fact per page.
# --------------------------------------------------------------------------------------------

HANDBOOK: list[tuple[str, list[str]]] = [
    (
        "1. Welcome to your Zephyr X200",
        [
            "Thank you for choosing the Zephyr X200 kettle from Brightwater Appliances. This "
            "handbook explains how to set up the kettle, how to keep it in good condition and "
            "where to turn if something goes wrong. Please read it once from start to finish "
            "before the first use and keep it somewhere you can find it again.",
            "The Zephyr X200 consists of a brushed steel body, a removable limescale filter, a "
            "lid with a soft-close hinge and a cordless power base. The power base can be "
            "rotated freely, so the kettle can be lifted and set down from either side of the "
            "worktop. The water window on the handle side shows the level in half-cup steps.",
            "The heating element of the power base is rated at 2150 watts, which brings a full "
            "kettle to the boil in a little under four minutes at sea level. Do not connect the "
            "power base to an extension lead that is shared with other heating appliances.",
            "Before the first use, fill the kettle to the maximum mark, boil the water and pour "
            "it away. Repeat this twice. The slight smell that may appear during the first boil "
            "comes from the protective coating of the element and disappears afterwards.",
        ],
    ),
    (
        "2. Warranty and registration",
        [
            "Brightwater Appliances guarantees that the Zephyr X200 is free from defects in "
            "materials and workmanship. The warranty covers the kettle body, the lid mechanism, "
            "the power base and the temperature sensor, and includes parts and labour.",
            "The warranty period of the Zephyr X200 kettle is 27 months from the date of "
            "purchase shown on your receipt. During this period we will repair or replace a "
            "faulty kettle free of charge. A replacement kettle continues the original warranty "
            "and does not start a new period.",
            "To make a claim, keep the original receipt and register the kettle online with the "
            "serial number printed under the power base. Registration is optional, but it lets "
            "us contact you directly if a safety notice is ever issued for your model.",
            "The warranty does not cover damage caused by limescale, by dropping the kettle, by "
            "heating it empty on a gas hob or by repairs carried out by anyone other than an "
            "authorised Brightwater service partner. Filters and seals are wear parts.",
        ],
    ),
    (
        "3. Cleaning and descaling",
        [
            "Hard water leaves a white layer of limescale on the element and on the inside of "
            "the body. Limescale makes the kettle slower and louder, and flakes of it can end "
            "up in your cup. How often you need to descale depends on the hardness of your tap "
            "water, but regular care keeps the kettle quiet and efficient.",
            "Brightwater recommends descaling the Zephyr X200 every 45 days in hard-water areas. "
            "Use a descaling solu-\ntion made from citric acid and water, fill the kettle to the "
            "middle mark, bring it to the boil and leave it to stand for half an hour.",
            "After descaling, empty the kettle, rinse it three times with fresh water and boil "
            "one full kettle of clean water that you then pour away. Never use vinegar on the "
            "lid seal, because it hardens the rubber and makes the lid leak over time.",
            "The outside of the kettle can be wiped with a damp cloth and a drop of washing-up "
            "liquid. Do not put the kettle or the power base in a dishwasher and never immerse "
            "the power base in water. The limescale filter can be rinsed under the tap.",
        ],
    ),
    (
        "4. Customer support",
        [
            "If the kettle does not switch on, first check that the power base is plugged in "
            "and that the socket works with another appliance. Make sure the kettle sits flat "
            "on the base and that the lid is fully closed, because the lid switch prevents "
            "boiling with an open lid.",
            "Our support hotline opens at 07:45 every weekday morning and is staffed until "
            "early evening. Please have the serial number and the date of purchase ready when "
            "you call, so that our advisers can find your registration quickly.",
            "Many questions can be answered without a call. The troubleshooting pages on our "
            "website describe the most common problems, such as a kettle that switches off too "
            "early, a lid that no longer clicks shut or an indicator light that stays dark.",
            "If a repair is needed, the adviser will send you a prepaid shipping label. Pack "
            "the kettle in its original box if possible, include a short note describing the "
            "fault and remove the limescale filter, which is not needed for the repair.",
        ],
    ),
    (
        "5. Technical data and recycling",
        [
            "The Zephyr X200 holds 1.6 litres of water at the maximum mark and at least half a "
            "litre at the minimum mark. It is designed for 220 to 240 volts alternating current "
            "and must only be used with the power base supplied with it.",
            "The keep-warm function holds the water at 83 degrees Celsius for up to 40 minutes "
            "after boiling, which suits green tea and instant coffee. Press the keep-warm button "
            "twice to switch the function off before the time has run out.",
            "An automatic safety cut-out switches the kettle off when it boils, when it is "
            "lifted from the base and when it is switched on without water. After a dry-boil "
            "cut-out, let the kettle cool down for ten minutes before refilling it.",
            "At the end of its life, do not put the kettle in household waste. Take it to a "
            "collection point for electrical appliances, where the steel body, the copper "
            "windings and the electronic parts are separated and recycled.",
        ],
    ),
]


def _pdf(title: str) -> FPDF:
    """A fresh fpdf2 document with fixed metadata so the bytes are reproducible."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_author("Brightwater Appliances")
    pdf.set_creator("tests/data/make_data.py")
    pdf.set_producer("fpdf2")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(20, 20, 20)
    return pdf


def _write_page(pdf: FPDF, heading: str, paragraphs: list[str]) -> None:
    """One page: a bold heading and justified paragraphs with a gap between them."""
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 9, heading, align="L")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    for para in paragraphs:
        pdf.multi_cell(0, 5.5, para, align="J")
        pdf.ln(4)


def handbook_bytes() -> bytes:
    pdf = _pdf("Zephyr X200 Kettle - Owner's Handbook")
    for heading, paragraphs in HANDBOOK:
        _write_page(pdf, heading, paragraphs)
    return bytes(pdf.output())


def _scan_image(lines: list[str]) -> Image.Image:
    """A greyscale 'scan': text drawn into pixels, so the PDF page has no text layer."""
    img = Image.new("L", (620, 300), color=245)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    rng = random.Random(7)
    for _ in range(400):  # a little speckle noise, like a real scanner
        x, y = rng.randrange(620), rng.randrange(300)
        draw.point((x, y), fill=rng.randrange(120, 200))
    for i, line in enumerate(lines):
        draw.text((30, 30 + 40 * i), line, fill=20, font=font)
    return img


def _add_scan_page(pdf: FPDF, lines: list[str]) -> None:
    pdf.add_page()
    buf = io.BytesIO()
    _scan_image(lines).save(buf, format="PNG", optimize=True)
    buf.seek(0)
    pdf.image(buf, x=20, y=20, w=170)


def scanned_bytes() -> bytes:
    pdf = _pdf("Scanned delivery note")
    _add_scan_page(
        pdf,
        ["DELIVERY NOTE 5531", "Pallets: 12", "Received by: J. Okafor", "Signature: ________"],
    )
    return bytes(pdf.output())


def mixed_scan_bytes() -> bytes:
    pdf = _pdf("Greenhouse inspection memo")
    _write_page(
        pdf,
        "Greenhouse inspection memo",
        [
            "This memo summarises the spring inspection of the Eastfield greenhouses. The "
            "heating, ventilation and shading systems were checked in all four bays, and the "
            "staff were asked about problems they had noticed over the winter.",
            "The irrigation valve in bay 3 leaks at the coupling and must be replaced by "
            "14 March, before the tomato seedlings are moved in. The other valves are in good "
            "order and only need their filters cleaned.",
            "The attached page is a scan of the handwritten checklist from the inspection. It "
            "is kept for the record and repeats the points above.",
        ],
    )
    _add_scan_page(pdf, ["CHECKLIST bay 1-4", "heating ok", "vents ok", "valve bay 3: LEAK"])
    return bytes(pdf.output())


def audit_pdf() -> pikepdf.Pdf:
    """A small one-page memo, used as the plaintext of the encrypted PDFs."""
    pdf = _pdf("Quarterly safety audit")
    _write_page(
        pdf,
        "Quarterly safety audit",
        [
            "The quarterly safety audit of the Riverside office took place on a Tuesday "
            "morning. Fire extinguishers, first-aid kits and emergency lighting were checked "
            "on every floor and found to be in order.",
            "Because of the building work, the fire assembly point "
            "has moved to car park C behind the canteen. New signs will be put up next week; "
            "until then, wardens will guide everyone to the new assembly point.",
        ],
    )
    return pikepdf.open(io.BytesIO(bytes(pdf.output())))


def _save_encrypted(path: Path, encryption: pikepdf.Encryption) -> None:
    with audit_pdf() as pdf:
        pdf.save(path, encryption=encryption, static_id=True)


# --------------------------------------------------------------------------------------------
# contract.docx
# --------------------------------------------------------------------------------------------


def _deterministic_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so python-docx output is byte-stable."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(item.filename))
    return out.getvalue()


def contract_bytes() -> bytes:
    doc = Document()
    props = doc.core_properties
    props.title = "Service Agreement - Northwind Logistics and Harbor Analytics"
    props.author = "Legal Department"
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    doc.styles["Normal"].font.size = Pt(11)

    doc.add_heading("Service Agreement", level=1)
    doc.add_paragraph(
        "This agreement is made between Northwind Logistics GmbH (the customer) and Harbor "
        "Analytics Ltd (the provider). It describes the data analysis services the provider "
        "delivers and the conditions under which the customer pays for them."
    )
    doc.add_heading("Key terms", level=2)
    doc.add_paragraph("The commercial terms of the agreement are summarised in this table:")
    table = doc.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    header = table.rows[0].cells
    header[0].text = "Term"
    header[1].text = "Value"
    for key, value in [
        ("Start date", "1 April 2024"),
        ("Minimum term", "24 months"),
        ("Notice period", "93 days"),
        ("Monthly fee", "EUR 4,250"),
        ("Governing law", "Hamburg, Germany"),
    ]:
        cells = table.add_row().cells
        cells[0].text = key
        cells[1].text = value
    doc.add_paragraph(
        "Either party may terminate the agreement in writing at the end of the minimum term, "
        "observing the notice period stated above. Invoices are due within thirty days."
    )
    doc.add_heading("Confidentiality", level=2)
    doc.add_paragraph(
        "Both parties keep confidential all information they receive from the other party "
        "during the agreement, and for three years after it ends."
    )
    buf = io.BytesIO()
    doc.save(buf)
    return _deterministic_zip(buf.getvalue())


# --------------------------------------------------------------------------------------------
# Text-like files
# --------------------------------------------------------------------------------------------

NOTES_UTF16 = """Team offsite – planning notes

Venue: Café Lumière, Lindenstraße 12, Köln.
The offsite at Café Lumière is booked for 38 people, including the two guests from the Zürich office.

Agenda
– Morning: roadmap review (Jürgen, Zoë)
– Afternoon: workshop “Naïve assumptions in our forecasts”
– Evening: dinner on the terrace; vegetarian and vegan menus confirmed.

Open points: projector rental, name badges, the crème brûlée question.
"""

LATIN1_TEXT = """Notes from the greenhouse visit in Jönköping – “Växthus Söder”

The head gardener, Måns Åström, showed us the new irrigation system. Each mist irrigation cycle lasts 11 minutes and runs four times a day during the summer months.
The façade was renewed last year; the old glass panes were replaced by double glazing, which cut the heating bill by roughly a third (about 1 800 € per season).
Plants we saw: crème-coloured orchids, jalapeño peppers, piña (pineapple) seedlings and a very old café-au-lait dahlia.
Måns said the déjà-vu moment of the year was the frost in May — “never again without a back-up heater”.
Contact: Måns Åström, Söder Växthus AB, Jönköping. Preferred language: Swedish or Français.
"""

GUIDE_MD = """# Field Guide to the Oakridge Trail

The Oakridge Trail is a three-day hut-to-hut walk through mixed forest and open ridges.
This guide lists the stages, the huts and what to pack.

## Stages

1. **Day 1:** Millbrook car park to Fernhollow hut, 14 km, mostly forest tracks.
2. **Day 2:** Fernhollow to the Marten Ridge summit shelter, 18 km, with a steep final climb.
3. **Day 3:** Marten Ridge down to Lakeside station, 12 km.

## Huts and shelters

Fernhollow hut is staffed from May to October and serves breakfast and dinner.
The summit shelter at Marten Ridge is unstaffed and has 14 bunks; they cannot be booked, so
arrive early in the high season. There is a rain-water tank but no stove.

## Packing list

- Sleeping bag liner (required in both huts)
- Water filter or tablets
- Head torch, map and compass

```text
Emergency number on the trail: 112
```
"""

PAGE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Riverside Library – Opening Hours</title>
<style>
  body { font-family: sans-serif; }
  .STYLE_MARKER_SHOULD_NOT_APPEAR { color: red; }
</style>
<script>
  var token = "SCRIPT_MARKER_SHOULD_NOT_APPEAR";
  document.addEventListener("DOMContentLoaded", function () { console.log(token); });
</script>
</head>
<body>
<nav><a href="/">Home</a> | <a href="/events">Events</a></nav>
<h1>Opening hours</h1>
<p>The Riverside Library is open to everyone. You need a library card only to borrow
books, not to read in the building.</p>
<p>The reading room on the <b>third floor</b> closes at 21:30 on Thursdays, later than on
any other day, so that evening students can work there.</p>
<ul>
  <li>Monday to Wednesday: 09:00–19:00</li>
  <li>Friday: 09:00–17:00</li>
  <li>Saturday: 10:00–14:00</li>
</ul>
<noscript>NOSCRIPT_MARKER_SHOULD_NOT_APPEAR</noscript>
<template><p>TEMPLATE_MARKER_SHOULD_NOT_APPEAR</p></template>
<table>
  <tr><th>Service</th><th>Where</th></tr>
  <tr><td>Printing</td><td>Ground floor, near the café in Zürich wing</td></tr>
</table>
<script>window.analytics = "SCRIPT_MARKER_SHOULD_NOT_APPEAR";</script>
</body>
</html>
"""

EXAMPLE_PY = '''"""Upload files to the archive server with retries."""

from __future__ import annotations

import time

MAX_ATTEMPTS = 6
INITIAL_BACKOFF_MS = 250


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt`.

    The backoff doubles after every failed attempt, starting at 250 milliseconds.
    """
    return INITIAL_BACKOFF_MS * (2 ** attempt) / 1000.0


def upload_with_retries(send, payload: bytes) -> bool:
    """Call send(payload) until it succeeds or MAX_ATTEMPTS is reached."""
    for attempt in range(MAX_ATTEMPTS):
        if send(payload):
            return True
        time.sleep(backoff_delay(attempt))
    return False
'''

QUESTIONS = [
    {
        "question": "How long is the guarantee on the Zephyr X200 kettle?",
        "file": "docs/handbook.pdf",
        "page": 2,
        "answer_contains": "27 months",
    },
    {
        "question": "What time can I start calling Brightwater customer support?",
        "file": "docs/handbook.pdf",
        "page": 4,
        "answer_contains": "07:45",
    },
    {
        "question": "How often should I remove limescale from the kettle?",
        "file": "docs/handbook.pdf",
        "page": 3,
        "answer_contains": "45 days",
    },
    {
        "question": "At what temperature does the kettle keep water warm?",
        "file": "docs/handbook.pdf",
        "page": 5,
        "answer_contains": "83",
    },
    {
        "question": "How much notice do we have to give to end the Harbor Analytics contract?",
        "file": "docs/contract.docx",
        "page": None,
        "answer_contains": "93 days",
    },
    {
        "question": "How many people is the café reservation for the team offsite?",
        "file": "docs/notes_utf16.txt",
        "page": None,
        "answer_contains": "38",
    },
    {
        "question": "How long does one watering cycle of the misting system in Jönköping run?",
        "file": "docs/latin1.txt",
        "page": None,
        "answer_contains": "11 minutes",
    },
    {
        "question": "How many beds are there in the Marten Ridge hut?",
        "file": "docs/guide.md",
        "page": None,
        "answer_contains": "14 bunks",
    },
    {
        "question": "Until when can I study in the library reading room on a Thursday evening?",
        "file": "docs/page.html",
        "page": None,
        "answer_contains": "21:30",
    },
    {
        "question": "What is the first retry delay of the archive uploader?",
        "file": "docs/example.py",
        "page": None,
        "answer_contains": "250 milliseconds",
    },
    {
        "question": "By what date must the leaking greenhouse valve be swapped out?",
        "file": "docs/mixed_scan.pdf",
        "page": 1,
        "answer_contains": "14 March",
    },
    {
        "question": "Where do we gather now when the fire alarm goes off at Riverside?",
        "file": "docs/encrypted_empty_pw.pdf",
        "page": 1,
        "answer_contains": "car park C",
    },
]


def _write(path: Path, data: bytes) -> None:
    """Write only when the bytes changed, so a rerun leaves timestamps and git alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    path.write_bytes(data)
    print(f"wrote {path.relative_to(HERE)} ({len(data)} bytes)")


def main() -> None:
    # Good documents.
    handbook = handbook_bytes()
    _write(DOCS / "handbook.pdf", handbook)
    _write(DOCS / "mixed_scan.pdf", mixed_scan_bytes())
    _write(DOCS / "contract.docx", contract_bytes())
    _write(DOCS / "notes_utf16.txt", NOTES_UTF16.encode("utf-16"))  # BOM + native (LE)
    _write(DOCS / "latin1.txt", LATIN1_TEXT.replace("\n", "\r\n").encode("cp1252"))
    _write(DOCS / "guide.md", GUIDE_MD.encode("utf-8"))
    _write(DOCS / "page.html", PAGE_HTML.encode("utf-8"))
    _write(DOCS / "example.py", EXAMPLE_PY.encode("utf-8"))

    # Owner password only (empty user password, RC4-128 so pypdf needs no crypto library).
    tmp = HERE / ".tmp.pdf"
    _save_encrypted(
        tmp, pikepdf.Encryption(owner="owner-pw", user="", R=4, aes=False, metadata=False)
    )
    _write(DOCS / "encrypted_empty_pw.pdf", tmp.read_bytes())

    # Files that must be refused with a reason.
    _save_encrypted(
        tmp, pikepdf.Encryption(owner="owner-pw", user="secret", R=4, aes=False, metadata=False)
    )
    _write(BAD / "encrypted.pdf", tmp.read_bytes())
    aes_path = BAD / "encrypted_aes256.pdf"
    if not aes_path.exists():  # AES salts are random: only make it once to avoid churn
        _save_encrypted(tmp, pikepdf.Encryption(owner="owner-pw", user="secret", R=6))
        _write(aes_path, tmp.read_bytes())
    tmp.unlink()

    _write(BAD / "truncated.pdf", handbook[: len(handbook) // 2])
    _write(BAD / "scanned.pdf", scanned_bytes())
    _write(
        BAD / "mislabelled.pdf",
        b"Minutes of the board meeting\r\n\r\nThis file was saved as text but named .pdf.\r\n",
    )
    _write(BAD / "mislabelled.docx", b"Just some notes that someone renamed to .docx.\n")
    _write(BAD / "empty.txt", b"")
    rng = random.Random(1234)
    garbage = bytes(rng.randrange(256) for _ in range(3000))
    _write(BAD / "garbage.bin.txt", b"\x00\x01\x02GARB" + garbage)

    _write(
        HERE / "questions.json",
        (json.dumps(QUESTIONS, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )


if __name__ == "__main__":
    main()
