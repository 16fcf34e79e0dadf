"""Cells that wrap their text instead of cutting it (a failure's reason, a status), and paths
cut at their start rather than their end."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTreeView


class WrapDelegate(QStyledItemDelegate):
    """Tells the view how tall a cell is once its text wraps to the column's width.

    Qt's tree views ask a delegate for a size without saying the column's width, so a long
    text is measured on one line and then cut; this measures it at the width it will get.
    """

    PADDING = 10  # the style's text margins on both sides, and a little more

    def __init__(self, view: QTreeView) -> None:
        super().__init__(view)
        self.view = view
        view.setWordWrap(True)
        view.setUniformRowHeights(False)
        view.header().sectionResized.connect(lambda *_: view.doItemsLayout())

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        width = max(20, self.view.columnWidth(index.column()) - self.PADDING)
        text: Any = opt.text
        box = opt.fontMetrics.boundingRect(QRect(0, 0, width, 100_000),
                                           int(Qt.TextFlag.TextWordWrap), str(text or ""))
        return QSize(base.width(), max(base.height(), box.height() + 6))


class PathDelegate(QStyledItemDelegate):
    """A folder on one line, cut at its start: the part that tells folders apart stays."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft  # type: ignore[attr-defined]
        option.features &= ~QStyleOptionViewItem.ViewItemFeature.WrapText  # type: ignore[attr-defined]

