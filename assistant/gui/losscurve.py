"""The Teach page's live loss curve: training loss per step, validation loss per epoch."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from assistant.gui import theme


class LossCurve(QWidget):
    """A small live plot of the training loss per step (and validation loss per epoch)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LossCurve")
        self.points: list[tuple[int, float]] = []
        self.val_points: list[tuple[int, float]] = []
        self.total = 0
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 170)

    def clear(self, total: int = 0) -> None:
        self.points, self.val_points, self.total = [], [], total
        self.update()

    def add(self, step: int, loss: float | None, val_loss: float | None = None,
            total: int | None = None) -> None:
        if total:
            self.total = total
        if loss is not None and (not self.points or step > self.points[-1][0]):
            self.points.append((step, float(loss)))
        if val_loss is not None:
            self.val_points.append((step, float(val_loss)))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = theme.role(QPalette.ColorRole.Text)
        p.fillRect(self.rect(), theme.role(QPalette.ColorRole.Base))
        p.setPen(QPen(theme.border(), 1))
        p.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = p.fontMetrics()
        left, right, top, bottom = fm.horizontalAdvance("00.00") + 12, 10, 10, fm.height() + 8
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        values = [v for _, v in self.points] + [v for _, v in self.val_points]
        p.setPen(theme.muted())
        if not values or plot.width() < 10 or plot.height() < 10:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "The loss curve appears here while training.")
            p.end()
            return
        lo, hi = min(values), max(values)
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.08
        lo, hi = max(0.0, lo - pad), hi + pad
        last = max([s for s, _ in self.points] + [s for s, _ in self.val_points] + [1])
        x_max = max(self.total, last, 1)

        def at(step: float, value: float) -> QPointF:
            return QPointF(plot.left() + plot.width() * step / x_max,
                           plot.bottom() - plot.height() * (value - lo) / (hi - lo))

        grid = theme.blend(theme.border(), theme.role(QPalette.ColorRole.Base), 0.4)
        for i in range(3):
            v = lo + (hi - lo) * i / 2
            y = at(0, v).y()
            p.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(theme.muted())
            p.drawText(QRectF(0, y - fm.height() / 2, left - 6, fm.height()),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                       f"{v:.2f}")
        p.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), fm.height()),
                   int(Qt.AlignmentFlag.AlignLeft), "step 0")
        p.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), fm.height()),
                   int(Qt.AlignmentFlag.AlignRight), f"step {x_max}")
        accent = theme.accent()
        if self.points:
            path = QPainterPath(at(*self.points[0]))
            for s, v in self.points[1:]:
                path.lineTo(at(s, v))
            p.setPen(QPen(accent, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            p.setBrush(accent)
            for s, v in self.points if len(self.points) <= 40 else self.points[-1:]:
                p.drawEllipse(at(s, v), 2.5, 2.5)
        if self.val_points:
            p.setPen(QPen(theme.good(), 2))
            p.setBrush(theme.good())
            for s, v in self.val_points:
                p.drawEllipse(at(s, v), 3.5, 3.5)
        # legend
        p.setPen(accent)
        legend = "— training loss"
        x = plot.right() - fm.horizontalAdvance(legend + "   ● validation") - 4
        p.drawText(QPointF(x, plot.top() + fm.ascent()), legend)
        p.setPen(theme.good() if self.val_points else theme.muted())
        p.drawText(QPointF(x + fm.horizontalAdvance(legend + "   "),
                           plot.top() + fm.ascent()), "● validation")
        p.setPen(text)
        p.end()
