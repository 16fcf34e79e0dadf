"""The sidebar's conversation titles: the title, cut at its end where it must be, and beside it
what tells two conversations apart (its number where titles repeat, and when it was used),
which is never cut."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

TITLE_ROLE = Qt.ItemDataRole.UserRole + 10
SUFFIX_ROLE = Qt.ItemDataRole.UserRole + 11
GAP = 8


def fit(title: str, suffix: str, width: int, metrics: QFontMetrics) -> tuple[str, str]:
    """The title elided to leave room for the whole suffix within `width` pixels."""
    room = max(0, width - metrics.horizontalAdvance(suffix) - GAP)
    return metrics.elidedText(title, Qt.TextElideMode.ElideRight, room), suffix


class TitleDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        suffix = index.data(SUFFIX_ROLE)
        if not suffix:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget: Any = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        opt.text = ""  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        metrics = QFontMetrics(opt.font)  # type: ignore[attr-defined]
        title, suffix = fit(str(index.data(TITLE_ROLE)), str(suffix), rect.width() - 4,
                            metrics)
        # the style sheet keeps the text colour on a selected row (its background is soft)
        palette = opt.palette  # type: ignore[attr-defined]
        color = palette.color(QPalette.ColorRole.Text)
        painter.save()
        painter.setFont(opt.font)  # type: ignore[attr-defined]
        painter.setPen(color)
        flags = int(Qt.AlignmentFlag.AlignVCenter)
        painter.drawText(rect.adjusted(2, 0, 0, 0), flags | int(Qt.AlignmentFlag.AlignLeft),
                         title)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(rect.adjusted(0, 0, -2, 0), flags | int(Qt.AlignmentFlag.AlignRight),
                         suffix)
        painter.restore()
