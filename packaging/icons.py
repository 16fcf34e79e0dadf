#!/usr/bin/env python3
"""Render resources/knowledge-assistant.svg into the icons the installers want:
PNGs (AppImage, Flatpak), .ico (Windows) and .icns (macOS). Uses Qt's SVG renderer (PySide6
is in the build environment) and Pillow; run with the build environment's Python:
  build/venv/bin/python packaging/icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE.parent / "resources" / "knowledge-assistant.svg"
SIZES = [16, 24, 32, 48, 64, 128, 256, 512]


def render(out_dir: Path) -> dict[int, Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(SVG))
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        pngs[size] = out_dir / f"knowledge-assistant-{size}.png"
        image.save(str(pngs[size]))
    return pngs


def main() -> int:
    from PIL import Image

    pngs = render(HERE.parent / "build" / "icons")
    big = Image.open(pngs[512])
    big.save(HERE / "windows" / "knowledge-assistant.ico",
             sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    big.save(HERE / "macos" / "knowledge-assistant.icns")
    print("\n".join(str(p) for p in pngs.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
