"""Offline OCR for scanned PDF pages and images, with Tesseract run as a separate program.

Tesseract was chosen over rapidocr-onnxruntime by measurement on the same 200-dpi pages
(tests/bench/bench_ocr.py, figures in the README): it was about ten times faster on these
CPUs, kept the spaces between English words (PP-OCRv4's recognition model, trained mostly on
Chinese, drops many) and missed no lines, and it adds about 20 MB where rapidocr's OpenCV
adds about 200 MB. Running it as its own process gives a real per-page time limit: a page
over it is killed, reported, and the rest carries on.

Results are cached per file content and page (word boxes included, for highlighting on the
scan), written atomically, so a kill during OCR loses at most the page being read and the
next run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant import paths

OCR_DPI = 200
PAGE_TIME_LIMIT_S = 60.0
# OCR of one file stops here, below the indexer's per-file limit (120 s; the indexer passes
# its own share of a different limit), so a long scan is indexed with the pages read so far
# instead of failing whole; a re-index continues it.
FILE_BUDGET_S = 90.0
MAX_PIXELS = 40_000_000  # an image larger than this (about 6300 x 6300) is not decoded
CACHE_VERSION = "tesseract-1"


def cache_root() -> Path:
    """Where finished pages are kept: the app's own folder, never indexed itself."""
    return paths.home() / "ocr-cache"


def cached(file_key: str) -> OcrOptions:
    """Options that read a file's OCR'd pages from the cache: for showing a scan's text (the
    viewer) without reading it again; pages not cached yet are read as usual."""
    return OcrOptions(cache_dir=cache_root(), file_key=file_key)


class OcrError(Exception):
    """A page could not be read by OCR; `reason` is a short sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Word:
    """One recognised word and its box in the image's pixels (left, top, right, bottom)."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float


@dataclass
class OcrPage:
    text: str
    words: list[Word] = field(default_factory=list)
    width: int = 0
    height: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class OcrOptions:
    """How the indexing worker wants OCR done for one file."""

    page_time_limit: float = PAGE_TIME_LIMIT_S
    file_budget: float = FILE_BUDGET_S
    cache_dir: Path | None = None
    file_key: str | None = None  # the file's content hash: cache entries follow the content
    language: str = "eng"
    # told (page index from 1, pages to read) before each page: the indexer's progress
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)


def tesseract_command() -> tuple[str, dict[str, str]] | None:
    """The Tesseract program to run and the environment to run it with, or None.

    A frozen app runs the copy it carries in `<app folder>/tesseract` (the installers ship it,
    so reading scans needs no system package and no network): on Linux `bin/tesseract` with
    its libraries in `lib/`, on Windows `tesseract.exe`; the English data is in `tessdata/`.
    Only the child's environment points at them, never the app's own process. PyInstaller's
    loader put the app's `_internal` first on LD_LIBRARY_PATH (the user's value is kept in
    LD_LIBRARY_PATH_ORIG): a child must not inherit that, or the app's copies of libz, libssl
    and others would shadow those Tesseract was built with. Otherwise `tesseract` on PATH.
    """
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # its OpenMP threads only slow the embedder
    program = shutil.which("tesseract")
    if getattr(sys, "frozen", False):
        env.pop("LD_LIBRARY_PATH", None)
        if "LD_LIBRARY_PATH_ORIG" in env:
            env["LD_LIBRARY_PATH"] = env.pop("LD_LIBRARY_PATH_ORIG")
        home = Path(sys.executable).resolve().parent / "tesseract"
        for bundled in (home / "bin" / "tesseract", home / "tesseract.exe"):
            if bundled.is_file():
                program = str(bundled)
                env["TESSDATA_PREFIX"] = str(home / "tessdata")
                if (home / "lib").is_dir():
                    env["LD_LIBRARY_PATH"] = os.pathsep.join(
                        filter(None, [str(home / "lib"), env.get("LD_LIBRARY_PATH")]))
                break
    return (program, env) if program else None


def tesseract() -> str | None:
    """The Tesseract program that OCR runs (tesseract_command), or None when there is none."""
    found = tesseract_command()
    return found[0] if found else None


NOT_INSTALLED = "Tesseract, the OCR program, is not installed"


def missing(options: OcrOptions, pages: list[int]) -> bool:
    """Whether some of `pages` would need Tesseract and it is not there: they are then
    reported with NOT_INSTALLED at once, rather than rendered for a program that is missing.
    Pages in the cache need no program (the viewer shows them anyway)."""
    if tesseract() is not None:
        return False
    cache = OcrCache(options.cache_dir, options.file_key)
    return any(cache.get(page) is None for page in pages)


def recognise(image: Any, *, time_limit: float = PAGE_TIME_LIMIT_S,
              language: str = "eng") -> OcrPage:
    """OCR one PIL image: text with paragraphs, and word boxes. Raises OcrError."""
    found = tesseract_command()
    if found is None:
        raise OcrError(NOT_INSTALLED)
    program, env = found
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="assistant-ocr-") as tmp:
        source = Path(tmp) / "page.png"
        image.save(source, format="PNG")
        try:
            done = subprocess.run(
                [program, str(source), "stdout", "-l", language, "--psm", "3", "tsv"],
                capture_output=True, timeout=time_limit, env=env, check=False)
        except subprocess.TimeoutExpired as err:
            raise OcrError(f"OCR took longer than {time_limit:g} s") from err
        except OSError as err:
            raise OcrError(f"the OCR program could not be started ({err.strerror})") from err
    if done.returncode != 0:
        raise OcrError("the OCR program failed on this image")
    text, words = parse_tsv(done.stdout.decode("utf-8", errors="replace"))
    return OcrPage(text, words, image.width, image.height, time.monotonic() - started)


def parse_tsv(tsv: str) -> tuple[str, list[Word]]:
    """Tesseract's TSV (one row per word with block, paragraph and line numbers) as text:
    words of a line joined by spaces, lines by newlines, paragraphs by a blank line."""
    words: list[Word] = []
    paragraphs: list[list[list[str]]] = []
    last_par: tuple[str, str] | None = None
    last_line: tuple[str, str, str] | None = None
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        block, par, line = cols[2], cols[3], cols[4]
        if (block, par) != last_par:
            paragraphs.append([])
            last_par, last_line = (block, par), None
        if (block, par, line) != last_line:
            paragraphs[-1].append([])
            last_line = (block, par, line)
        paragraphs[-1][-1].append(text)
        left, top, width, height = (int(c) for c in cols[6:10])
        words.append(Word(text, (left, top, left + width, top + height), float(cols[10])))
    text = "\n\n".join("\n".join(" ".join(line) for line in par) for par in paragraphs)
    return text, words


class OcrCache:
    """Finished pages of one file's content, one JSON file each, written atomically."""

    def __init__(self, root: Path | None, key: str | None) -> None:
        self.folder = root / CACHE_VERSION / key[:2] / key if root and key else None

    def get(self, page: int) -> OcrPage | None:
        if self.folder is None:
            return None
        try:
            data = json.loads((self.folder / f"{page}.json").read_text(encoding="utf-8"))
            words = [Word(w["text"], tuple(w["box"]), w["confidence"]) for w in data["words"]]
            return OcrPage(data["text"], words, data["width"], data["height"], 0.0)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, page: int, result: OcrPage) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(result), fh)
            os.replace(tmp, self.folder / f"{page}.json")
        except OSError:
            pass  # a cache that cannot be written only costs time on the next run


def page_list(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7': page numbers as people write them."""
    runs: list[str] = []
    start = prev = None
    for n in [*sorted(numbers), None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
        start = prev = n
    return ", ".join(runs)


def ocr_pages(jobs: Any, options: OcrOptions) -> tuple[dict[int, str], list[str]]:
    """OCR (number, load_image) jobs in order, from the cache where it has them.

    Images are loaded only for pages not cached. Pages past the file's time budget are left
    for the next run and named in one note; a page that fails is named with its reason.
    Returns {page number: text} and the notes.
    """
    cache = OcrCache(options.cache_dir, options.file_key)
    started = time.monotonic()
    texts: dict[int, str] = {}
    notes: list[str] = []
    left: list[int] = []
    attempted = 0
    slowest = 0.0  # the longest a page has taken so far (rendering included)
    jobs = list(jobs)  # (number, loader): the images themselves are made one at a time
    for index, (number, load) in enumerate(jobs, 1):
        if options.progress is not None:
            options.progress(index, len(jobs))
        hit = cache.get(number)
        if hit is not None:
            texts[number] = hit.text
            continue
        # The budget holds for the page under way too: a page that would likely end past it
        # is left for the next run (the first page read always gets its chance), and a later
        # page's time limit is what is left of the budget, so one file never outlasts it by a
        # whole page (the indexer kills a file at its own, slightly longer, limit).
        remaining = options.file_budget - (time.monotonic() - started)
        if left or (attempted and remaining < slowest):
            left.append(number)
            continue
        limit = options.page_time_limit if not attempted else \
            min(options.page_time_limit, remaining)
        attempted += 1
        page_started = time.monotonic()
        try:
            image = load()
        except Exception:  # pdfium or Pillow on a damaged page: that page only
            notes.append(f"page {number}: could not be turned into an image for OCR")
            continue
        try:
            result = recognise(image, time_limit=limit, language=options.language)
        except OcrError as err:
            if limit < options.page_time_limit and err.reason.startswith("OCR took longer"):
                left.append(number)  # cut by the file's budget, not its own slowness
            else:
                notes.append(f"page {number}: not read by OCR: {err.reason}")
            continue
        slowest = max(slowest, time.monotonic() - page_started)
        cache.put(number, result)
        texts[number] = result.text
    if left:
        notes.append(f"pages {page_list(left)} are not read by OCR yet: the time for one file "
                     "ran out; re-index the file to continue where it stopped")
    return texts, notes
