"""Images (PNG, JPEG, TIFF, WebP, BMP): their text by OCR, one page per TIFF frame.

The size is read from the header before any pixel is decoded, so a 30,000 x 30,000 image
(or a decompression bomb) is refused in a sentence instead of taking gigabytes of memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from assistant.ingest.formats.common import Extracted, ExtractionError, Page, clean_line, noted
from assistant.ingest.ocr import MAX_PIXELS, NOT_INSTALLED, OcrOptions, missing, ocr_pages

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})
MAX_FRAMES = 500  # pages of one multi-page TIFF
MAX_SIDE = 5000  # larger images are scaled down before OCR (text stays far above 20 px)

IMAGE_OCR_OFF = "an image: reading text in images (OCR) is turned off in Settings"
IMAGE_NOT_READ = f"an image, and its text cannot be read: {NOT_INSTALLED}"

_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM")


def looks_like_image(head: bytes) -> bool:
    return head.startswith(_MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def extract_image(path: Path, ocr: OcrOptions | None) -> Extracted:
    if ocr is None:
        raise ExtractionError(IMAGE_OCR_OFF)
    from PIL import Image

    # Pillow's own guard raises on open, before the size can be put in a sentence; ours
    # checks every frame's header (MAX_PIXELS, far below Pillow's) before decoding it.
    guard, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        try:
            picture = Image.open(path)
            width, height = picture.size
            frames = int(getattr(picture, "n_frames", 1))
        except Exception as err:  # OSError, struct errors, bad TIFF directories, ...
            noted(err, "image")
            raise ExtractionError("corrupt image: it cannot be decoded") from err
        with picture:
            _check_size(width, height)
            count = min(frames, MAX_FRAMES)
            if missing(ocr, list(range(1, count + 1))):
                raise ExtractionError(IMAGE_NOT_READ)
            texts, notes = ocr_pages(_frames(picture, count), ocr)
    finally:
        Image.MAX_IMAGE_PIXELS = guard
    if frames > MAX_FRAMES:
        notes.append(f"only the first {MAX_FRAMES} of its {frames} pages were read")
    numbered = count > 1
    pages = [Page(n if numbered else None, clean_line(texts.get(n, "")))
             for n in range(1, count + 1)]
    if not any(page.text for page in pages):
        failure = next((n.split(": ", 1)[1] for n in notes if n.startswith("page ")), None)
        if failure is not None and "into an image" in failure:
            raise ExtractionError("corrupt image: it cannot be decoded")
        if failure is not None and count == 1:
            raise ExtractionError(failure)
        raise ExtractionError("no text found in this image by OCR")
    return Extracted(kind="image", pages=pages, warnings=["text read by OCR", *notes],
                     title=None)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ExtractionError(f"image too large to read ({width:,} x {height:,} pixels; the "
                              f"limit is {MAX_PIXELS // 1_000_000} megapixels)")


def _frames(picture: Any, count: int) -> Iterator[tuple[int, Callable[[], Any]]]:
    for index in range(count):
        def load(index: int = index) -> Any:
            picture.seek(index)
            _check_size(*picture.size)
            frame = picture.convert("L")
            longest = max(frame.size)
            if longest > MAX_SIDE:
                scale = MAX_SIDE / longest
                frame = frame.resize((max(1, int(frame.width * scale)),
                                      max(1, int(frame.height * scale))))
            return frame
        yield index + 1, load
