"""The page views of the document viewer: QtPdf's view with the cited passage drawn over the
page (zoom that keeps the passage in place, scrolling to a point of a page), and a scanned
image with the passage drawn over the words OCR found.

Kept apart from `viewer` (which decides what to show) because it is all page geometry.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMargins, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QImage,
    QImageReader,
    QPainter,
    QPainterPath,
    QPixmap,
    QPolygonF,
)
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QLabel, QScrollArea, QWidget


class PassagePdfView(QPdfView):
    """A QPdfView that draws the passage's highlight over the page.

    The zoom is kept in Custom mode (fit-to-width is computed here), because QPdfView maps
    page points to pixels by `screen resolution × zoomFactor`; page positions follow the same
    layout QPdfView uses (centred pages, document margins, page spacing).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]  # (the stub wants a parent)
        self.setPageMode(QPdfView.PageMode.MultiPage)
        self.setZoomMode(QPdfView.ZoomMode.Custom)
        self.setDocumentMargins(QMargins(12, 12, 12, 12))
        self.setPageSpacing(12)
        self.fit_width = True
        self.highlights: dict[int, list[tuple[list[QPolygonF], QColor]]] = {}
        self._pending_scroll: tuple[int, float] | None = None

    def _resolution(self) -> float:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.logicalDotsPerInch() / 72.0

    def scale(self) -> float:
        return self._resolution() * self.zoomFactor()

    def _page_width_px(self, page: int) -> int:
        doc = self.document()
        return int(doc.pagePointSize(page).width() * self.scale())

    def page_rect(self, page: int) -> QRectF:
        """The page's rectangle in document (scrolled-area) pixels, as QPdfView lays it out."""
        doc = self.document()
        if doc is None or doc.status() != QPdfDocument.Status.Ready:
            return QRectF()
        m = self.documentMargins()
        s = self.scale()
        sizes = [(int(doc.pagePointSize(p).width() * s), int(doc.pagePointSize(p).height() * s))
                 for p in range(doc.pageCount())]
        total_width = max((w for w, _ in sizes), default=0) + m.left() + m.right()
        y = m.top()
        for p in range(page):
            y += sizes[p][1] + self.pageSpacing()
        w, h = sizes[page]
        x = (max(total_width, self.viewport().width()) - w) // 2
        return QRectF(x, y, w, h)

    def fit(self) -> None:
        doc = self.document()
        if not self.fit_width or doc is None or doc.status() != QPdfDocument.Status.Ready \
                or doc.pageCount() == 0:
            return
        widest = max(doc.pagePointSize(p).width() for p in range(doc.pageCount()))
        m = self.documentMargins()
        available = self.viewport().width() - m.left() - m.right()
        if widest > 0 and available > 50:
            zoom = available / (widest * self._resolution())
            if abs(zoom - self.zoomFactor()) > 1e-3:
                self.setZoomFactor(zoom)

    def zoom_by(self, factor: float) -> None:
        """Zoom, keeping the highlighted passage where it is on screen (or, when it is not
        in view, the point at the middle of the view)."""
        anchor = self._zoom_anchor()
        self.fit_width = False
        self.setZoomFactor(max(0.2, min(6.0, self.zoomFactor() * factor)))
        if anchor is not None:
            self._keep_anchor(*anchor)

    def highlight_rect(self) -> QRectF | None:
        """The passage's highlight in viewport pixels (None when nothing is highlighted)."""
        for page, layers in self.highlights.items():
            if not layers or not layers[0][0]:
                continue
            box = QRectF()
            for poly in layers[0][0]:
                box = box.united(poly.boundingRect())
            rect, s = self.page_rect(page), self.scale()
            return QRectF(rect.left() + box.left() * s - self.horizontalScrollBar().value(),
                          rect.top() + box.top() * s - self.verticalScrollBar().value(),
                          box.width() * s, box.height() * s)
        return None

    def _zoom_anchor(self) -> tuple[int, QPointF, QPointF] | None:
        """(page, a point on it in page points, where that point is in the viewport)."""
        doc = self.document()
        if doc is None or doc.status() != QPdfDocument.Status.Ready or doc.pageCount() == 0:
            return None
        s = self.scale()
        shown = self.highlight_rect()
        if shown is not None and shown.intersects(QRectF(self.viewport().rect())):
            page = next(iter(self.highlights))
            rect = self.page_rect(page)
            at = shown.topLeft()
            return page, QPointF((at.x() + self.horizontalScrollBar().value() - rect.left()) / s,
                                 (at.y() + self.verticalScrollBar().value() - rect.top()) / s), at
        middle = QPointF(self.viewport().width() / 2, self.viewport().height() / 2)
        y = middle.y() + self.verticalScrollBar().value()
        page = next((p for p in range(doc.pageCount()) if self.page_rect(p).bottom() >= y),
                    doc.pageCount() - 1)
        rect = self.page_rect(page)
        return page, QPointF((middle.x() + self.horizontalScrollBar().value() - rect.left()) / s,
                             (y - rect.top()) / s), middle

    def _keep_anchor(self, page: int, point: QPointF, at: QPointF) -> None:
        rect, s = self.page_rect(page), self.scale()
        self._pending_scroll = None
        self.horizontalScrollBar().setValue(max(0, int(rect.left() + point.x() * s - at.x())))
        self.verticalScrollBar().setValue(max(0, int(rect.top() + point.y() * s - at.y())))

    def scroll_to(self, page: int, y_points: float) -> None:
        """Bring `y_points` of `page` to about a third of the way down the view."""
        self._pending_scroll = (page, y_points)
        self._apply_scroll()

    def _apply_scroll(self) -> None:
        if self._pending_scroll is None or not self.isVisible() or self.viewport().height() < 20:
            return
        page, y = self._pending_scroll
        rect = self.page_rect(page)
        passage = rect.top() + y * self.scale()
        # show the passage a quarter of the way down, but never the previous page for nothing
        target = max(rect.top() - self.documentMargins().top(),
                     passage - self.viewport().height() / 4)
        self.verticalScrollBar().setValue(max(0, int(target)))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit()
        self._apply_scroll()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.fit()
        QTimer.singleShot(0, self._apply_scroll)

    def wheelEvent(self, event: Any) -> None:
        self._pending_scroll = None
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.1 if event.angleDelta().y() > 0 else 1 / 1.1)
            return
        super().wheelEvent(event)

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if not self.highlights:
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(-self.horizontalScrollBar().value(), -self.verticalScrollBar().value())
        s = self.scale()
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for page, layers in self.highlights.items():
            rect = self.page_rect(page)
            for polygons, color in layers:
                path = QPainterPath()
                for poly in polygons:
                    box = poly.boundingRect()
                    path.addRect(QRectF(rect.left() + box.left() * s, rect.top() + box.top() * s,
                                        box.width() * s, box.height() * s)
                                 .adjusted(-1.5, -1.5, 1.5, 1.5))
                painter.fillPath(path.simplified(), color)
        painter.end()


Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the image


class ImagePassageView(QScrollArea):
    """A scanned image (one frame of a TIFF) fitted to the width, the passage's words marked
    by their OCR boxes and the cited span more strongly."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(False)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.canvas = QLabel()
        self.setWidget(self.canvas)
        self.image = QImage()
        self.layers: list[tuple[list[Box], QColor]] = []

    def load(self, path: str, frame: int) -> bool:
        """Read frame `frame` (0-based) of the image; False when Qt cannot decode it."""
        reader = QImageReader(path)
        if frame and not reader.jumpToImage(frame):
            return False
        self.image = reader.read()
        return not self.image.isNull()

    def mark(self, layers: list[tuple[list[Box], QColor]]) -> None:
        self.layers = layers
        self._paint()
        boxes = layers[0][0] if layers else []
        if boxes and self.canvas.height():
            top = min(b[1] for b in boxes) * self.canvas.height()
            QTimer.singleShot(0, lambda: self.verticalScrollBar().setValue(
                max(0, int(top - self.viewport().height() / 4))))

    def marked_rects(self) -> list[QRectF]:
        """The passage's boxes on screen (the canvas's pixels), for tests and the eye."""
        width, height = self.canvas.width(), self.canvas.height()
        boxes = self.layers[0][0] if self.layers else []
        return [QRectF(b[0] * width, b[1] * height, (b[2] - b[0]) * width, (b[3] - b[1]) * height)
                for b in boxes]

    def _paint(self) -> None:
        if self.image.isNull():
            return
        width = max(50, self.viewport().width() - 24)
        scaled = self.image.convertToFormat(QImage.Format.Format_RGB32).scaledToWidth(
            width, Qt.TransformationMode.SmoothTransformation)
        painter = QPainter(scaled)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for boxes, color in self.layers:
            for left, top, right, bottom in boxes:
                painter.fillRect(QRectF(left * scaled.width() - 2, top * scaled.height() - 2,
                                        (right - left) * scaled.width() + 4,
                                        (bottom - top) * scaled.height() + 4), color)
        painter.end()
        self.canvas.setPixmap(QPixmap.fromImage(scaled))
        self.canvas.resize(scaled.size())

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._paint()
