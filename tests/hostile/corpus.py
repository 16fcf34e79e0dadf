"""A deterministic hostile corpus: about 1,000 files a user's folder might really hold.

`build(root, seed)` writes the files and returns a `Corpus` that says, for each one, what the
indexer must do with it:

* ``good``: indexed, and its probe word (a made-up token found in no other file) finds it;
* ``bad``: reported with a reason;
* ``any``: indexed or reported (random bytes, damaged PDFs: either outcome is fine);
* ``skip``: not a regular file (a FIFO, a link to a device): it may be passed over silently.

The same seed always gives the same bytes. Real documents come from tests/data (made by
tests/data/make_data.py); they are cut short, have bytes flipped, or are repacked as zip bombs.
Files in `volatile` are meant to be changed while an index run is going (`mutate`).
"""

from __future__ import annotations

import functools
import io
import os
import random
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
ZIP_DATE = (2024, 3, 1, 9, 30, 0)

WORDS = ["harbour", "ledger", "crate", "captain", "weather", "signal", "orchard", "lantern",
         "copper", "valley", "meadow", "river", "bridge", "quarry", "engine", "beacon", "market",
         "letter", "station", "garden", "canvas", "tower", "compass", "pilot", "anchor", "timber",
         "granite", "furnace", "saddle"]


@dataclass
class Entry:
    path: str  # as created; may hold surrogate escapes (names that are not UTF-8)
    category: str
    expect: str  # good | bad | any | skip
    probe: str | None = None
    note: str = ""


@dataclass
class Corpus:
    root: Path
    seed: int
    entries: list[Entry] = field(default_factory=list)
    volatile: list[Entry] = field(default_factory=list)
    # paths that must never appear in the store's text (XXE targets)
    secrets: list[str] = field(default_factory=list)
    # places a path-traversal member name would land if anything extracted it
    traversal_targets: list[Path] = field(default_factory=list)

    def by_expect(self, expect: str) -> list[Entry]:
        return [e for e in self.entries if e.expect == expect]


class _Builder:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.corpus = Corpus(root, seed)
        self.n = 0

    def probe(self, tag: str) -> str:
        self.n += 1
        letters = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(5))
        return f"qx{tag[:4]}{letters}{self.n:04d}"

    def sentence_text(self, probe: str, sentences: int = 3) -> str:
        rng = self.rng
        out = []
        for i in range(sentences):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
            out.append(f"The {words} was noted on day {rng.randint(1, 400)}.")
            if i == 0:
                out.append(f"The archive code of this record is {probe}.")
        return " ".join(out)

    def add(self, rel: str | bytes, data: bytes, category: str, expect: str,
            probe: str | None = None, note: str = "", mode: int | None = None) -> Entry:
        path = self._path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(path, mode)
        entry = Entry(os.fsdecode(path), category, expect, probe, note)
        self.corpus.entries.append(entry)
        return entry

    def _path(self, rel: str | bytes) -> bytes:
        base = os.fsencode(self.root)
        return base + b"/" + (rel if isinstance(rel, bytes) else os.fsencode(rel))

    def entry(self, rel: str | bytes, category: str, expect: str, note: str = "") -> Entry:
        entry = Entry(os.fsdecode(self._path(rel)), category, expect, None, note)
        self.corpus.entries.append(entry)
        return entry


# --------------------------------------------------------------------------------------------
# helpers for zips
# --------------------------------------------------------------------------------------------


def _zip(members: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = compress
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()


def _docx_members() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(DATA / "docs" / "contract.docx") as zf:
        return [(info.filename, zf.read(info.filename)) for info in zf.infolist()]


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _document_xml(body: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
            f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>').encode()


def _para(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def _with_document(document: bytes, extra: list[tuple[str, bytes]] | None = None,
                   drop: tuple[str, ...] = ()) -> bytes:
    members = [(n, document if n == "word/document.xml" else d) for n, d in _docx_members()
               if n not in drop]
    return _zip(members + (extra or []))


def _deflate_stream(prefix: bytes, filler: bytes, total: int) -> tuple[bytes, int, int]:
    """Raw deflate of prefix + filler repeated up to `total` bytes: (data, crc, size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [comp.compress(prefix)]
    crc = zlib.crc32(prefix)
    size = len(prefix)
    block = filler * (1 << 20 // max(1, len(filler)))
    while size < total:
        piece = block[:min(len(block), total - size)]
        parts.append(comp.compress(piece))
        crc = zlib.crc32(piece, crc)
        size += len(piece)
    parts.append(comp.flush())
    return b"".join(parts), crc & 0xFFFFFFFF, size


def _raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from pre-deflated members: (name, deflated, crc, declared size, method)."""
    out = io.BytesIO()
    central = []
    for name, data, crc, size, method in members:
        raw_name = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x5861, crc,
                              len(data), size, len(raw_name), 0))
        out.write(raw_name)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                   0x5861, crc, len(data), size, len(raw_name), 0, 0, 0, 0,
                                   0o644 << 16, offset) + raw_name)
    start = out.tell()
    for record in central:
        out.write(record)
    end = out.tell()
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                          end - start, start, 0))
    return out.getvalue()


def _stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = comp.compress(data) + comp.flush()
    return name, deflated, zlib.crc32(data) & 0xFFFFFFFF, len(data), 8


# --------------------------------------------------------------------------------------------
# the categories
# --------------------------------------------------------------------------------------------


def _random_bytes(b: _Builder) -> None:
    from assistant.ingest.extract import SUPPORTED_EXTENSIONS

    rng = b.rng
    magic = {".pdf": b"%PDF-1.7\n", ".docx": b"PK\x03\x04", ".html": b"<html><body>",
             ".htm": b"<!DOCTYPE html>", ".xhtml": b"<?xml version='1.0'?><html>"}
    for ext in sorted(SUPPORTED_EXTENSIONS):
        stem = ext.lstrip(".")
        b.add(f"random/{stem}/noise{ext}", rng.randbytes(rng.randint(1, 16384)), "random",
              "any")
        b.add(f"random/{stem}/magic{ext}",
              magic.get(ext, b"#!") + rng.randbytes(rng.randint(16, 8192)), "random", "any")
        b.add(f"random/{stem}/tiny{ext}", rng.randbytes(rng.randint(0, 48)), "random", "any")


def _damaged_documents(b: _Builder) -> None:
    rng = b.rng
    pdfs = [DATA / "docs" / "handbook.pdf", DATA / "docs" / "mixed_scan.pdf",
            DATA / "docs" / "encrypted_empty_pw.pdf", DATA / "bad" / "scanned.pdf",
            DATA / "bad" / "encrypted.pdf"]
    weights = [1, 3, 2, 2, 2]  # the text-rich handbook costs the most to embed: fewer of it
    sources = {p: p.read_bytes() for p in pdfs}
    for i in range(60):
        src = rng.choices(pdfs, weights)[0]
        data = sources[src]
        b.add(f"pdf_cut/{i:03d}_{src.stem}.pdf", data[:rng.randint(1, len(data) - 1)],
              "pdf-truncated", "any")
    for i in range(60):
        src = rng.choices(pdfs, weights)[0]
        data = bytearray(sources[src])
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        b.add(f"pdf_flip/{i:03d}_{src.stem}.pdf", bytes(data), "pdf-flipped", "any")
    docx = (DATA / "docs" / "contract.docx").read_bytes()
    for i in range(40):
        b.add(f"docx_cut/{i:03d}.docx", docx[:rng.randint(1, len(docx) - 1)],
              "docx-truncated", "any")
    for i in range(40):
        data = bytearray(docx)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        b.add(f"docx_flip/{i:03d}.docx", bytes(data), "docx-flipped", "any")


def _crafted_docx(b: _Builder) -> None:
    probe = b.probe("docx")
    b.add("docx_crafted/rebuilt.docx", _with_document(_document_xml(_para(
        b.sentence_text(probe)))), "docx-crafted", "good", probe)
    nested = "<w:sdt><w:sdtContent>" * 5000 + _para("deep") + "</w:sdtContent></w:sdt>" * 5000
    b.add("docx_crafted/nested_5000.docx", _with_document(_document_xml(nested)),
          "docx-crafted", "any")
    probe = b.probe("docx")
    nested = "<w:sdt><w:sdtContent>" * 200 + _para(b.sentence_text(probe)) + \
        "</w:sdtContent></w:sdt>" * 200
    b.add("docx_crafted/nested_200.docx", _with_document(_document_xml(nested)),
          "docx-crafted", "any")
    laughs = '<!DOCTYPE w:document [<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi",
                                                                  strict=True)) + "]>"
    b.add("docx_crafted/billion_laughs.docx",
          _with_document(_document_xml(_para("&i;"), laughs)), "docx-crafted", "any")
    secret = "/etc/passwd" if Path("/etc/passwd").exists() else str(DATA / "docs" / "guide.md")
    b.corpus.secrets.append(Path(secret).read_text(encoding="utf-8", errors="replace")
                            .strip().splitlines()[0][:40])
    xxe = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    b.add("docx_crafted/xxe_file.docx", _with_document(_document_xml(_para("x&xxe;x"), xxe)),
          "docx-crafted", "any")
    xxe_net = '<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "http://192.0.2.1/secret">]>'
    b.add("docx_crafted/xxe_net.docx",
          _with_document(_document_xml(_para("y&xxe;y"), xxe_net)), "docx-crafted", "any")
    b.add("docx_crafted/many_paragraphs.docx",
          _with_document(_document_xml("<w:p/>" * 20000 + _para("end of the empty pages"))),
          "docx-crafted", "any")
    b.add("docx_crafted/not_xml.docx", _with_document(b"\x89PNG\r\n\x1a\n" + b.rng.randbytes(900)),
          "docx-crafted", "bad")
    b.add("docx_crafted/no_document.docx", _with_document(b"", drop=("word/document.xml",)),
          "docx-crafted", "bad")
    inner = _zip([("a.txt", b"inner")])
    b.add("docx_crafted/zip_in_zip.docx", _with_document(inner), "docx-crafted", "bad")


def _zip_bombs(b: _Builder) -> None:
    members = _docx_members()
    others = [_stored(n, d) for n, d in members if n not in ("word/document.xml",
                                                             "[Content_Types].xml")]
    ctypes = next(d for n, d in members if n == "[Content_Types].xml")
    document = next(d for n, d in members if n == "word/document.xml")
    big = 300 * 1024 * 1024
    head = document[:document.index(b"<w:body>") + len(b"<w:body>")]
    deflated, crc, size = _deflate_stream(head, b" ", big)
    b.add("zipbomb/document_300mb.docx", _raw_zip(
        [_stored("[Content_Types].xml", ctypes), ("word/document.xml", deflated, crc, size, 8),
         *others]), "zip-bomb", "bad")
    deflated, crc, size = _deflate_stream(b"", b"\x00", big)
    b.add("zipbomb/content_types_300mb.docx", _raw_zip(
        [("[Content_Types].xml", deflated, crc, size, 8), _stored("word/document.xml", document),
         *others]), "zip-bomb", "bad")
    # The central directory claims 4 KB; the deflate stream holds 64 MB.
    deflated, crc, _ = _deflate_stream(head, b" ", 64 * 1024 * 1024)
    b.add("zipbomb/lying_size.docx", _raw_zip(
        [_stored("[Content_Types].xml", ctypes), ("word/document.xml", deflated, crc, 4096, 8),
         *others]), "zip-bomb", "bad")
    many = [(n, d) for n, d in members] + [(f"word/media/x{i}.bin", b"") for i in range(12000)]
    b.add("zipbomb/12000_members.docx", _zip(many, compress=zipfile.ZIP_STORED), "zip-bomb",
          "bad")
    # 1,200 copies of one 1 MB part: 1.2 GB in total, each member small enough alone.
    deflated, crc, size = _deflate_stream(b"", b"A", 1024 * 1024)
    copies = [(f"customXml/item{i}.xml", deflated, crc, size, 8) for i in range(1200)]
    b.add("zipbomb/1200_parts.docx", _raw_zip(
        [_stored(n, d) for n, d in members] + copies), "zip-bomb", "bad")


# Issue 21's formats: the part a reader parses first, named as each format names it.
BOMB_PARTS = {".pptx": "ppt/slides/slide1.xml", ".xlsx": "xl/worksheets/sheet1.xml",
              ".epub": "OEBPS/chapter1.xhtml", ".odt": "content.xml"}


@functools.lru_cache(maxsize=2)
def _xml_bomb(size: int) -> tuple[bytes, int, int]:
    return _deflate_stream(b"<?xml version='1.0'?><a>", b" ", size)


def disguised_bomb(suffix: str, size: int = 300 * 1024 * 1024) -> bytes:
    """A zip bomb dressed as a .pptx/.xlsx/.epub/.odt: one XML part that unpacks to `size`."""
    deflated, crc, total = _xml_bomb(size)
    first = [_stored("mimetype", b"application/epub+zip")] if suffix == ".epub" else []
    return _raw_zip([*first, _stored("[Content_Types].xml", b"<Types/>"),
                     (BOMB_PARTS[suffix], deflated, crc, total, 8)])


def locked_xlsx() -> bytes:
    """A real workbook, encrypted with a password the way Excel does it (msoffcrypto-tool)."""
    from msoffcrypto.format.ooxml import OOXMLFile
    from openpyxl import Workbook

    book = Workbook()
    book.active["A1"] = "salary"
    plain = io.BytesIO()
    book.save(plain)
    plain.seek(0)
    out = io.BytesIO()
    OOXMLFile(plain).encrypt("secret", out)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + \
        struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG that declares width x height grey pixels; only its first row is stored."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\xff" * width)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", row)
            + _png_chunk(b"IEND", b""))


def corrupt_tiff() -> bytes:
    """A TIFF whose header is fine but whose strip lies past the end of the file."""
    entries = [(256, 3, 1, 640), (257, 3, 1, 480), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 10_000_000), (277, 3, 1, 1), (278, 3, 1, 480),
               (279, 4, 1, 640 * 480)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 64


def scanned_pages_pdf(pages: int) -> bytes:
    """A PDF of `pages` scanned pages (one image, drawn on every page: a small file)."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1240, 400), color=245)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=40)
    draw.text((60, 60), "Warehouse count sheet", fill=20, font=font)
    draw.text((60, 140), "Shelf 14: 220 crates", fill=20, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        buf.seek(0)
        pdf.image(buf, x=15, y=20, w=180)
    return bytes(pdf.output())


def _issue21_formats(b: _Builder) -> None:
    for suffix in BOMB_PARTS:
        b.add(f"issue21/zip_bomb{suffix}", disguised_bomb(suffix), "zip-bomb", "bad")
    b.add("issue21/locked.xlsx", locked_xlsx(), "locked", "bad")
    b.add("issue21/huge_30000x30000.png", huge_png(), "image", "bad")
    b.add("issue21/corrupt.tiff", corrupt_tiff(), "image", "bad")
    mbox = b.add("issue21/mail_2gb.mbox", b"From a@example.org Mon Jan  1 00:00:00 2024\n",
                 "huge", "bad")
    os.truncate(mbox.path, 2 * 1024 ** 3)  # sparse: 2 GB on paper, nothing on the disk
    # OCR is on by default: read for the file's time budget, indexed with the rest named
    b.add("issue21/scanned_500_pages.pdf", scanned_pages_pdf(500), "scan", "good")


def _path_traversal(b: _Builder) -> None:
    members = _docx_members()
    tag = f"ka_hostile_{b.corpus.seed}"
    targets = [Path("/tmp") / f"{tag}_evil.txt", Path("/tmp") / f"{tag}_abs.txt"]
    b.corpus.traversal_targets.extend(targets)
    probe = b.probe("trav")
    doc = _document_xml(_para(b.sentence_text(probe)))
    cases = {
        "dotdot": [("../../../../../../tmp/" + targets[0].name, b"escaped")],
        "absolute": [(str(targets[1]), b"escaped")],
        "backslash": [("word\\..\\..\\..\\evil.txt", b"escaped")],
        "unicode": [("word/\u2024\u2024/evil.txt", b"escaped")],
    }
    for name, extra in cases.items():
        b.add(f"traversal/{name}.docx", _with_document(doc, extra), "zip-traversal", "any",
              probe)
    rels = next(d for n, d in members if n == "word/_rels/document.xml.rels")
    evil_rels = rels.replace(b'Target="styles.xml"', b'Target="../../../../../etc/passwd"')
    b.add("traversal/rels_target.docx", _zip(
        [(n, evil_rels if n == "word/_rels/document.xml.rels" else
          (doc if n == "word/document.xml" else d)) for n, d in members]),
        "zip-traversal", "any")


def _html_and_markdown(b: _Builder) -> None:
    probe = b.probe("html")
    text = b.sentence_text(probe)
    b.add("html/divs_200000.html", ("<html><body>" + "<div>" * 200_000 + text +
                                    "</div>" * 200_000 + "</body></html>").encode(),
          "html-nested", "good", probe)
    probe = b.probe("html")
    b.add("html/unclosed_b_100000.html",
          ("<html><body><p>" + "<b>" * 100_000 + b.sentence_text(probe)).encode(),
          "html-nested", "good", probe)
    probe = b.probe("html")
    b.add("html/tables_3000.html",
          ("<table><tr><td>" * 3000 + b.sentence_text(probe) + "</td></tr></table>" * 3000)
          .encode(), "html-nested", "good", probe)
    probe = b.probe("html")
    b.add("html/formatting_soup.html",
          ("<p>" + "<a><b><i><u><s><em>" * 20_000 + b.sentence_text(probe)).encode(),
          "html-nested", "good", probe)
    probe = b.probe("html")
    b.add("html/nested_400.html", ("<div>" * 400 + b.sentence_text(probe) + "</div>" * 400)
          .encode(), "html-nested", "good", probe)
    probe = b.probe("html")
    b.add("html/long_attribute.html", (f'<div title="{"A" * 1_000_000}">'
                                       f"{b.sentence_text(probe)}</div>").encode(),
          "html-odd", "good", probe)
    probe = b.probe("html")
    b.add("html/100000_empty_paragraphs.html",
          ("<p></p>" * 100_000 + f"<p>{b.sentence_text(probe)}</p>").encode(), "html-odd",
          "good", probe)
    b.add("html/unclosed_comment.html", b"<html><body><p>visible</p><!-- " + b"x" * 500_000,
          "html-odd", "any")
    b.add("html/unclosed_script.html", b"<html><script>" + b"var a = 1;\n" * 50_000,
          "html-odd", "any")
    probe = b.probe("html")
    b.add("html/entities.html", ("<p>" + "&amp;&#x1F600;&#0;&#xD800;&bogus;" * 300 +
                                 b.sentence_text(probe) + "</p>").encode(), "html-odd", "good",
          probe)
    probe = b.probe("html")
    b.add("html/charset_lie.html", (f'<meta charset="utf-16"><p>{b.sentence_text(probe)}</p>')
          .encode(), "html-odd", "good", probe)
    probe = b.probe("html")
    b.add("html/charset_unknown.html",
          (f'<meta charset="x-no-such-charset"><p>{b.sentence_text(probe)}</p>').encode(),
          "html-odd", "good", probe)

    probe = b.probe("md")
    b.add("markdown/blockquote_2000.md", ("> " * 2000 + b.sentence_text(probe) + "\n").encode(),
          "markdown-nested", "good", probe)
    probe = b.probe("md")
    lists = "".join("  " * i + f"- item {i}\n" for i in range(1000))
    b.add("markdown/list_1000.md", (b.sentence_text(probe) + "\n\n" + lists).encode(),
          "markdown-nested", "good", probe)
    probe = b.probe("md")
    b.add("markdown/brackets.md", ("[" * 1000 + b.sentence_text(probe) + "](" * 1000).encode(),
          "markdown-nested", "good", probe)
    probe = b.probe("md")
    b.add("markdown/unclosed_fence.md", ("# Title\n\n```\n" + b.sentence_text(probe) + "\n")
          .encode(), "markdown-odd", "good", probe)
    probe = b.probe("md")
    b.add("markdown/long_heading.md", ("# " + " ".join(WORDS) * 60 + "\n\n" +
                                       b.sentence_text(probe)).encode(), "markdown-odd", "good",
          probe)
    probe = b.probe("md")
    b.add("markdown/html_inside.md", ("<div>" * 1000 + "\n\n" + b.sentence_text(probe))
          .encode(), "markdown-odd", "good", probe)


def _huge_and_long(b: _Builder) -> None:
    rng = b.rng
    block = " ".join(rng.choice(WORDS) for _ in range(180_000)).encode()[: 1 << 20]
    path = b._path("huge/one_line_50mb.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        for _ in range(50):
            fh.write(block)
    b.corpus.entries.append(Entry(os.fsdecode(path), "huge", "bad", note="50 MB on one line"))
    probe = b.probe("line")
    line = " ".join(rng.choice(WORDS) for _ in range(6_000)) + f" {probe}"
    b.add("huge/one_line_40kb.json", f'{{"text": "{line}"}}'.encode(), "huge", "good", probe)
    probe = b.probe("word")
    b.add("huge/one_word_64kb.txt", b"a" * 65536 + f" then {b.sentence_text(probe)}".encode(),
          "huge", "good", probe)
    for name, size in (("sparse_300mb.txt", 300 << 20), ("sparse_201mb.pdf", 201 << 20)):
        path = b._path(f"huge/{name}")
        with open(path, "wb") as fh:
            fh.truncate(size)
        b.corpus.entries.append(Entry(os.fsdecode(path), "huge", "bad", note="sparse"))


def _encodings(b: _Builder) -> None:
    rng = b.rng

    def good(name: str, encode: Callable[[str], bytes], expect: str = "good",
             category: str = "encoding") -> None:
        probe = b.probe("enc")
        b.add(f"encoding/{name}", encode(b.sentence_text(probe, 4) + "\n"), category, expect,
              probe)

    for i in range(8):
        def invalid(text: str) -> bytes:
            raw = bytearray(text.encode())
            for _ in range(rng.randint(1, 12)):
                raw.insert(rng.randrange(len(raw)), rng.randint(0x80, 0xFF))
            return bytes(raw)
        good(f"invalid_utf8_{i}.txt", invalid, "any")
    for i in range(4):
        good(f"utf16le_nobom_{i}.txt", lambda t: t.encode("utf-16-le"))
        good(f"utf16be_nobom_{i}.md", lambda t: t.encode("utf-16-be"))
    good("utf16le_odd_length.txt", lambda t: t.encode("utf-16-le")[:-1])
    good("utf8_bom.txt", lambda t: b"\xef\xbb\xbf" + t.encode())
    good("utf32_bom.txt", lambda t: t.encode("utf-32"))
    good("utf32_nobom.txt", lambda t: t.encode("utf-32-le"), "any")
    good("bom_only_then_binary.txt", lambda t: b"\xff\xfe" + rng.randbytes(500), "any")
    for i in range(4):
        good(f"nul_in_head_{i}.txt", lambda t: t.replace(" ", "\x00", 1).encode(), "any")
    good("nul_after_head.txt", lambda t: (t + "\n" + "padding line\n" * 900).encode() +
         b"\x00" * 20 + b"tail\n")
    good("nul_mostly.txt", lambda t: t.encode() + b"\x00" * 20000, "any")
    for i in range(4):
        good(f"mixed_endings_{i}.txt", lambda t: t.replace(". ", ".\r\n", 1)
             .replace(". ", ".\r", 1).replace(". ", ".\n", 1).encode())
    good("only_cr.csv", lambda t: t.replace(" ", "\r").encode())
    good("cp1252.txt", lambda t: (t + " Caf\u00e9 na\u00efve \u20ac").encode("cp1252"))
    good("koi8r.txt", lambda t: (t + " Привет, мир").encode("koi8-r"), "any")
    good("shift_jis.txt", lambda t: (t + " 日本語のテキスト").encode("shift_jis"), "any")
    good("cesu_surrogates.txt", lambda t: t.encode() + b" \xed\xa0\x80\xed\xb0\x80", "any")
    good("overlong.txt", lambda t: t.encode() + b" \xc0\xaf\xe0\x80\xaf", "any")
    good("bidi_and_zero_width.txt", lambda t: ("\u202e" + t + "\u200b\u200d\u2066").encode())
    good("zalgo.txt", lambda t: (t + " Z" + "\u0301" * 10000).encode(), "any")
    good("control_chars.txt", lambda t: (t + "\x1b[31m\x07\x08").encode())
    probe = b.probe("enc")
    b.add("encoding/nul_every_500.txt",
          "\x00".join(b.sentence_text(probe, 40)[i:i + 500]
                      for i in range(0, 4000, 500)).encode(), "encoding", "any", probe)


def _names(b: _Builder) -> None:
    def good(rel: str | bytes, category: str = "name", expect: str = "good") -> None:
        probe = b.probe("name")
        b.add(rel, (b.sentence_text(probe) + "\n").encode(), category, expect, probe)

    for raw in (b"caf\xe9.txt", b"\xff\xfe.md", b"\x80abc.txt", b"na\xefve.html",
                b"bad\xc3\x28.py"):
        good(b"names/undecodable/" + raw, "name-undecodable", "any")
    good("names/" + "n" * 251 + ".txt")
    good("names/" + "é" * 125 + ".txt")
    deep = "/".join(["d" * 200] * 17)
    good(f"names/long/{deep}/" + "f" * 200 + ".txt", "name-long-path")
    for name in ("line\nbreak.txt", "tab\there.md", "-rf --no-preserve-root.txt",
                 "  spaces  .txt", "quote'; DROP TABLE documents;--.txt", "emoji 🗂️.md",
                 "percent %s%n%d.txt", "CON.txt", "back\\slash.txt", "star*?.txt",
                 "colon:name.txt", "\u202eexe.txt.md", "COMBINING é.txt"):
        good(f"names/odd/{name}")


def _links_and_specials(b: _Builder) -> None:
    base = b.root / "links"
    base.mkdir(parents=True, exist_ok=True)
    os.symlink("loop_b.txt", base / "loop_a.txt")
    os.symlink("loop_a.txt", base / "loop_b.txt")
    os.symlink("self.md", base / "self.md")
    os.symlink("nowhere.pdf", base / "dangling.pdf")
    for name in ("loop_a.txt", "loop_b.txt", "self.md", "dangling.pdf"):
        b.entry(f"links/{name}", "symlink-broken", "bad")
    os.symlink("/dev/zero", base / "zero.txt")
    os.symlink("/dev/urandom", base / "urandom.md")
    b.entry("links/zero.txt", "special", "skip")
    b.entry("links/urandom.md", "special", "skip")
    os.symlink(".", base / "dirloop")
    os.symlink("..", base / "uploop")
    os.mkfifo(base / "pipe.txt")
    b.entry("links/pipe.txt", "special", "skip")
    probe = b.probe("link")
    b.add("links/target.txt", (b.sentence_text(probe) + "\n").encode(), "symlink", "good",
          probe)
    os.symlink("target.txt", base / "alias.txt")
    b.entry("links/alias.txt", "symlink", "good")
    for i in range(5):
        probe = b.probe("perm")
        b.add(f"unreadable/locked_{i}.txt", (b.sentence_text(probe) + "\n").encode(),
              "unreadable", "any" if os.geteuid() == 0 else "bad", probe, mode=0)
    locked = b.root / "unreadable" / "locked_dir"
    locked.mkdir()
    probe = b.probe("perm")
    b.add("unreadable/locked_dir/inside.txt", (b.sentence_text(probe) + "\n").encode(),
          "unreadable", "any", probe)
    os.chmod(locked, 0)


def _good(b: _Builder, count: int) -> None:
    rng = b.rng
    for i in range(count):
        probe = b.probe("good")
        text = b.sentence_text(probe, rng.randint(2, 5))
        kind = i % 8
        if kind == 0:
            b.add(f"good/note_{i:03d}.txt", (text + "\n").encode(), "good", "good", probe)
        elif kind == 1:
            b.add(f"good/page_{i:03d}.md", f"# Note {i}\n\n{text}\n".encode(), "good", "good",
                  probe)
        elif kind == 2:
            b.add(f"good/page_{i:03d}.html", f"<html><head><title>Note {i}</title></head>"
                  f"<body><h1>Note {i}</h1><p>{text}</p></body></html>".encode(), "good",
                  "good", probe)
        elif kind == 3:
            b.add(f"good/code_{i:03d}.py", f'"""{text}"""\n\n\ndef f():\n    return {i}\n'
                  .encode(), "good", "good", probe)
        elif kind == 4:
            b.add(f"good/data_{i:03d}.json", f'{{"note": "{text}", "n": {i}}}\n'.encode(),
                  "good", "good", probe)
        elif kind == 5:
            b.add(f"good/table_{i:03d}.csv", f"id,text\n{i},\"{text}\"\n".encode(), "good",
                  "good", probe)
        elif kind == 6:
            b.add(f"good/doc_{i:03d}.rst", f"Note {i}\n=====\n\n{text}\n".encode(), "good",
                  "good", probe)
        else:
            b.add(f"good/feed_{i:03d}.xml", f"<feed><entry>{text}</entry></feed>\n".encode(),
                  "good", "good", probe)
    for name in ("handbook.pdf", "contract.docx", "guide.md", "page.html", "notes_utf16.txt",
                 "latin1.txt", "mixed_scan.pdf"):
        b.add(f"good/real/{name}", (DATA / "docs" / name).read_bytes(), "good-real", "good")


VOLATILE_ACTIONS = ("delete", "rewrite", "truncate", "fifo", "directory", "garbage", "append",
                    "rename", "loop", "grow")


def _volatile(b: _Builder, count: int) -> None:
    for i in range(count):
        probe = b.probe("vol")
        action = VOLATILE_ACTIONS[i % len(VOLATILE_ACTIONS)]
        entry = b.add(f"zz_volatile/{action}_{i:03d}.txt",
                      ("\n\n".join(b.sentence_text(probe, 3) for _ in range(3)) + "\n").encode(),
                      "volatile", "any", probe, note=action)
        b.corpus.volatile.append(entry)


def mutate(entry: Entry, rng: random.Random) -> str | None:
    """Change a volatile file the way its note says; return its new probe word, if any."""
    path = entry.path
    action = entry.note
    try:
        if action == "delete":
            os.unlink(path)
        elif action == "rewrite":
            probe = f"qxnew{rng.randrange(10**8):08d}"
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f"Rewritten while indexing: the new archive code is {probe}.\n")
            return probe
        elif action == "truncate":
            os.truncate(path, 0)
        elif action == "fifo":
            os.unlink(path)
            os.mkfifo(path)
        elif action == "directory":
            os.unlink(path)
            os.mkdir(path)
        elif action == "garbage":
            with open(path, "wb") as fh:
                fh.write(rng.randbytes(5000))
        elif action == "append":
            with open(path, "a", encoding="utf-8") as fh:
                for _ in range(200):
                    fh.write("appended line about the harbour ledger\n")
                    fh.flush()
        elif action == "rename":
            os.rename(path, path + ".moved")
        elif action == "loop":
            os.unlink(path)
            os.symlink(os.path.basename(path), path)
        elif action == "grow":
            with open(path, "ab") as fh:
                fh.truncate(os.path.getsize(path) + (1 << 20))
    except OSError:
        pass
    return None


def build(root: Path, seed: int = 11, *, good: int = 300, volatile: int = 40) -> Corpus:
    """Write the corpus under `root` (created) and describe it."""
    root.mkdir(parents=True, exist_ok=True)
    b = _Builder(root, seed)
    _random_bytes(b)
    _damaged_documents(b)
    _crafted_docx(b)
    _zip_bombs(b)
    _issue21_formats(b)
    _path_traversal(b)
    _html_and_markdown(b)
    _huge_and_long(b)
    _encodings(b)
    _names(b)
    _links_and_specials(b)
    _good(b, good)
    _volatile(b, volatile)
    return b.corpus


def unlock(root: Path) -> None:
    """Give back the permissions `build` took away, so the folder can be deleted."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                if not os.path.islink(path):
                    mode = os.lstat(path).st_mode
                    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                        os.chmod(path, 0o755 if stat.S_ISDIR(mode) else 0o644)
            except OSError:
                pass
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, 0o755)
                except OSError:
                    pass
