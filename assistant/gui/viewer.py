"""Open a source inside the app, at the cited place.

* A PDF is shown with QtPdf at the cited page, the passage's lines highlighted (found again in
  PDFium's own text of that page: letters and digits compared, so whitespace and hyphenation
  differences do not matter) and the cited span marked more strongly.
* Any other file is shown as the text the indexer extracted from it (`extract()`, scans and
  images from the OCR cache), so a chunk's [start, end) character offsets land exactly on the
  passage, which is highlighted and scrolled into view. Qt renders no slides, sheets, e-books
  or mail, so each place stands under its heading ("Slide 3 — Quarterly results", "Sheet
  Sales, A1:D12", "Chapter 2 — The Storm") and the top bar names the cited one. A PDF can be
  switched to this text view too.

Both offer "Open in the system's app" and "Show in folder".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPolygonF,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtPdf import QPdfDocument
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QStackedWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.errors import UserError
from assistant.gui import desktop, theme
from assistant.gui.passages import lay_out, locate, word_boxes
from assistant.gui.pdfpassage import ImagePassageView, PassagePdfView
from assistant.gui.tasks import Failure, run_task
from assistant.ingest import places


@dataclass
class Target:
    """Where to go: the page (1-based, None for unpaged files), the passage and the cited span.

    `start`/`end` are character offsets of the passage in the extracted page text; `span` is
    the cited part, as offsets within the passage text.
    """

    page: int | None
    start: int
    end: int
    text: str
    span: tuple[int, int] | None = None
    place: str | None = None  # the stored place label ("slide 3: Results"), when it has one


class ElidedLabel(QLabel):
    """A one-line label that elides its start (a path) to fit, keeping a bold tail whole."""

    def __init__(self, text: str, bold_tail: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full = text
        self.tail = bold_tail
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setMinimumWidth(40)
        from PySide6.QtWidgets import QSizePolicy

        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._update()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._update()

    def _update(self) -> None:
        import html as _html

        metrics = self.fontMetrics()
        bold = self.font()
        bold.setBold(True)
        from PySide6.QtGui import QFontMetrics

        tail_width = QFontMetrics(bold).horizontalAdvance(self.tail)
        room = max(0, self.width() - tail_width - 4)
        head = metrics.elidedText(self.full, Qt.TextElideMode.ElideLeft, room) if room > 20 \
            else ""
        color = theme.css(theme.muted())
        self.setText(f"<span style='color:{color}'>{_html.escape(head)}</span>"
                     f"<b>{_html.escape(self.tail)}</b>")


class TextPassageView(QPlainTextEdit):
    """Extracted text with the passage highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.document().setDocumentMargin(16)
        self.highlight_range: tuple[int, int] | None = None
        self.headings: list[tuple[int, int]] = []

    def show_text(self, text: str, monospace: bool) -> None:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont) if monospace \
            else QGuiApplication.font()
        if not monospace:
            font.setPointSizeF(font.pointSizeF() * 1.05)
        self.setFont(font)
        self.setPlainText(text)

    def set_headings(self, headings: list[tuple[int, int]]) -> None:
        """Set each place's heading in bold, so slides, sheets and chapters stand apart."""
        self.headings = list(headings)
        bold = QTextCharFormat()
        bold.setFontWeight(QFont.Weight.Bold)
        for start, end in headings:
            cursor = QTextCursor(self.document())
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(bold)

    def heading_texts(self) -> list[str]:
        text = self.toPlainText()
        return [text[start:end] for start, end in self.headings]

    def highlight(self, start: int, end: int, span: tuple[int, int] | None) -> None:
        length = self.document().characterCount()
        start = max(0, min(start, length - 1))
        end = max(start, min(end, length - 1))
        self.highlight_range = (start, end)
        selections = []
        fmt = QTextCharFormat()
        soft = theme.mark()
        soft.setAlpha(max(40, soft.alpha() // 2))
        fmt.setBackground(soft)
        sel = QTextEdit.ExtraSelection()
        sel.cursor = self.textCursor()
        sel.cursor.setPosition(start)
        sel.cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        sel.format = fmt
        selections.append(sel)
        if span:
            strong = QTextCharFormat()
            strong.setBackground(theme.mark_solid())
            s2 = QTextEdit.ExtraSelection()
            s2.cursor = self.textCursor()
            s2.cursor.setPosition(min(end, start + span[0]))
            s2.cursor.setPosition(min(end, start + span[1]), QTextCursor.MoveMode.KeepAnchor)
            s2.format = strong
            selections.append(s2)
        self.setExtraSelections(selections)
        cursor = self.textCursor()
        cursor.setPosition(start)
        self.setTextCursor(cursor)
        QTimer.singleShot(0, lambda: self._scroll_to(start))

    def _scroll_to(self, position: int) -> None:
        cursor = self.textCursor()
        cursor.setPosition(position)
        self.setTextCursor(cursor)
        self.centerCursor()


class DocumentViewer(QWidget):
    """One document in a tab: the PDF (or extracted text) at the passage, plus actions."""

    page_changed = Signal(int)
    loaded = Signal()

    def __init__(self, path: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.is_pdf = self.path.suffix.lower() == ".pdf"
        self.is_image = self.path.suffix.lower() in _IMAGE_SUFFIXES
        self.target: Target | None = None
        self.pages_text: list[tuple[int | None, str | None, str]] | None = None
        self.pdf_located = False
        self._text_job: Any = None
        self._hash: str | None = None  # the file's content hash: its key in the OCR cache
        self.place_text = ""  # the cited place in words, as the top bar shows it (text view)
        self.setObjectName("DocumentViewer")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        bar = QFrame()
        bar.setObjectName("ViewerBar")
        rows = QVBoxLayout(bar)
        rows.setContentsMargins(10, 6, 8, 4)
        rows.setSpacing(2)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.title = ElidedLabel(str(self.path.parent) + "/", bold_tail=self.path.name)
        self.title.setToolTip(str(self.path))
        self.page_label = QLabel()
        self.page_label.setObjectName("Muted")
        top.addWidget(self.title, 1)
        top.addWidget(self.page_label)
        rows.addLayout(top)
        row = QHBoxLayout()
        row.setSpacing(2)
        rows.addLayout(row)

        def tool(text: str, tip: str) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            row.addWidget(b)
            return b

        self.mode_group = QButtonGroup(self)
        self.pdf_button = tool("Page", "Show the PDF page")
        self.text_button = tool("Text", "Show the text that was indexed, passage highlighted")
        for b in (self.pdf_button, self.text_button):
            b.setCheckable(True)
            self.mode_group.addButton(b)
        self.zoom_out = tool("−", "Zoom out (Ctrl+wheel)")
        self.zoom_in = tool("+", "Zoom in (Ctrl+wheel)")
        self.fit_button = tool("Fit", "Fit the page width")
        row.addStretch(1)
        self.open_button = tool("Open in the system's app", "Open with the app your system "
                                "uses for this kind of file")
        self.reveal_button = tool("Show in folder", "Show the file in the file manager")
        # In a narrow pane these two move to a row of their own rather than being cut.
        self.tool_row = row
        self.outside_row = QHBoxLayout()
        self.outside_row.setSpacing(2)
        self.outside_row.addStretch(1)
        rows.addLayout(self.outside_row)
        layout.addWidget(bar)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)

        self.notice = QLabel()
        self.notice.setObjectName("Muted")
        self.notice.setWordWrap(True)
        self.notice.setContentsMargins(12, 6, 12, 6)
        self.notice.hide()
        layout.addWidget(self.notice)

        self.stack = QStackedWidget()
        self.text_view = TextPassageView()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setObjectName("Muted")
        self.stack.addWidget(self.text_view)
        self.stack.addWidget(self.message)
        self.pdf_view: PassagePdfView | None = None
        self.pdf_doc: QPdfDocument | None = None
        self.image_view: ImagePassageView | None = None
        if self.is_image:
            self.image_view = ImagePassageView()
            self.stack.addWidget(self.image_view)
            self.pdf_button.setText("Image")
            self.pdf_button.setToolTip("Show the image, the passage marked where OCR read it")
        if self.is_pdf:
            self.pdf_doc = QPdfDocument(self)
            self.pdf_view = PassagePdfView()
            self.pdf_view.setDocument(self.pdf_doc)
            self.stack.addWidget(self.pdf_view)
            self.pdf_view.pageNavigator().currentPageChanged.connect(self._page_shown)
        layout.addWidget(self.stack, 1)

        self.open_button.clicked.connect(lambda: self._desktop(desktop.open_with_system))
        self.reveal_button.clicked.connect(lambda: self._desktop(desktop.show_in_folder))
        self.pdf_button.clicked.connect(
            lambda: self.set_mode("image" if self.is_image else "pdf"))
        self.text_button.clicked.connect(lambda: self.set_mode("text"))
        self.zoom_in.clicked.connect(lambda: self._zoom(1.2))
        self.zoom_out.clicked.connect(lambda: self._zoom(1 / 1.2))
        self.fit_button.clicked.connect(self._fit)
        for b in (self.pdf_button, self.text_button, self.zoom_in, self.zoom_out,
                  self.fit_button):
            b.setVisible(self.is_pdf)
        for b in (self.pdf_button, self.text_button):
            b.setVisible(self.is_pdf or self.is_image)
        self.mode = "pdf" if self.is_pdf else "image" if self.is_image else "text"
        self.pdf_button.setChecked(self.mode != "text")
        self.text_button.setChecked(self.mode == "text")
        self.error: str | None = None
        if self.is_pdf:
            self._load_pdf()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_labels()
        self._fit_place()

    def _fit_place(self) -> None:
        """A long place (a message's subject, sender and date) is cut to half the bar, so
        the file's name stays readable; the whole place is in the tooltip and the heading."""
        if getattr(self, "mode", "") == "text" and self.place_text:
            room = max(80, self.width() // 2)
            self.page_label.setText(self.page_label.fontMetrics().elidedText(
                self.place_text, Qt.TextElideMode.ElideRight, room))

    def _fit_labels(self) -> None:
        """The toolbar on one row where it fits whole, on two where it would be cut."""
        outside = (self.open_button, self.reveal_button)
        margins = self.tool_row.contentsMargins()
        room = self.width() - 18 - margins.left() - margins.right()
        items = [self.tool_row.itemAt(i) for i in range(self.tool_row.count())]
        widgets = [item.widget() for item in items if item is not None]
        shown = [w for w in widgets if w is not None and not w.isHidden()]
        shown += [w for w in outside if w not in shown]
        needed = sum(w.sizeHint().width() for w in shown) + \
            self.tool_row.spacing() * max(0, len(shown) - 1)
        target = self.outside_row if needed > room else self.tool_row
        if target.indexOf(self.open_button) >= 0:
            return
        for button in outside:
            (self.tool_row if target is self.outside_row else self.outside_row).removeWidget(
                button)
            target.addWidget(button)

    # --- public ----------------------------------------------------------------------
    def show_passage(self, target: Target) -> None:
        self.target = target
        if self.is_pdf and self.mode == "pdf" and self.error is None:
            self._pdf_go()
        elif self.mode == "image" and self._image_go():
            return
        else:
            if self.mode == "image":  # no OCR'd words for this image: its text instead
                self.mode = "text"
                self.text_button.setChecked(True)
            self._text_go()

    def current_page(self) -> int | None:
        """The page shown (1-based), or the passage's page in text mode."""
        if self.mode == "pdf" and self.pdf_view is not None and self.error is None:
            return self.pdf_view.pageNavigator().currentPage() + 1
        return self.target.page if self.target else None

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.pdf_button.setChecked(mode != "text")
        self.text_button.setChecked(mode == "text")
        for b in (self.zoom_in, self.zoom_out, self.fit_button):
            b.setEnabled(mode == "pdf")
        if self.target is not None:
            self.show_passage(self.target)
        elif mode == "pdf" and self.pdf_view is not None:
            self.stack.setCurrentWidget(self.pdf_view)

    # --- PDF -------------------------------------------------------------------------
    def _load_pdf(self) -> None:
        assert self.pdf_doc is not None
        error = self.pdf_doc.load(str(self.path))
        if error != QPdfDocument.Error.None_ or self.pdf_doc.status() != \
                QPdfDocument.Status.Ready:
            reasons = {
                QPdfDocument.Error.FileNotFound: "the file is no longer there",
                QPdfDocument.Error.InvalidFileFormat: "it is not a valid PDF",
                QPdfDocument.Error.IncorrectPassword: "it is protected by a password",
                QPdfDocument.Error.UnsupportedSecurityScheme: "its protection is not supported",
            }
            self.error = reasons.get(error, "it could not be opened")
            self.notice.setText(f"The PDF view is not available ({self.error}); showing the "
                                "text that was indexed instead.")
            self.notice.show()
            self.pdf_button.setEnabled(False)
            self.mode = "text"
        self.pdf_button.setChecked(self.mode == "pdf")
        self.text_button.setChecked(self.mode == "text")

    def _page_shown(self, page: int) -> None:
        if self.mode == "pdf" and self.pdf_doc is not None:
            self.page_label.setText(f"page {page + 1} of {self.pdf_doc.pageCount()}")
            self.page_changed.emit(page + 1)

    def _zoom(self, factor: float) -> None:
        if self.pdf_view is not None:
            self.pdf_view.zoom_by(factor)

    def _fit(self) -> None:
        if self.pdf_view is not None:
            self.pdf_view.fit_width = True
            self.pdf_view.fit()

    def _pdf_go(self) -> None:
        assert self.pdf_view is not None and self.pdf_doc is not None and self.target is not None
        view, doc, t = self.pdf_view, self.pdf_doc, self.target
        self.stack.setCurrentWidget(view)
        index = max(0, min((t.page or 1) - 1, doc.pageCount() - 1))
        page_text = doc.getAllText(index).text()
        found = locate(t.text, page_text)
        view.highlights = {}
        y = 0.0
        self.pdf_located = found is not None
        if found is not None:
            start, end = found
            layers = [(self._bounds(index, start, end), theme.mark())]
            if t.span:
                span_text = t.text[t.span[0]:t.span[1]]
                sub = locate(span_text, page_text[start:end])
                if sub is not None:
                    strong = QColor(theme.mark())
                    strong.setAlpha(min(255, strong.alpha() + 90))
                    layers.append((self._bounds(index, start + sub[0], start + sub[1]), strong))
            polygons = layers[0][0]
            if polygons:
                y = min(p.boundingRect().top() for p in polygons)
            view.highlights = {index: layers}
            self.notice.hide()
        elif (scanned := self._scan_highlight(index, t)) is not None:
            view.highlights = {index: scanned}
            y = min((p.boundingRect().top() for p in scanned[0][0]), default=0.0)
            self.pdf_located = True
            self.notice.setText("A scanned page: the passage is marked where OCR read it.")
            self.notice.show()
        else:
            self.notice.setText("The passage could not be pinpointed on this page (the PDF's "
                                "text differs from what was indexed). Switch to Text to see it "
                                "highlighted.")
            self.notice.show()
        view.pageNavigator().jump(index, QPointF(0, y), view.zoomFactor())
        view.scroll_to(index, y)
        view.viewport().update()
        self.page_label.setText(f"page {index + 1} of {doc.pageCount()}")
        self.loaded.emit()

    # --- image -------------------------------------------------------------------------
    def _image_go(self) -> bool:
        """The image with the passage marked where OCR read it; False (the text view is shown
        instead) where the image or its OCR'd words are not at hand."""
        assert self.image_view is not None and self.target is not None
        t = self.target
        page = self._ocr_page(t.page or 1)
        if page is None or not self.image_view.load(str(self.path), (t.page or 1) - 1):
            return False
        words = [(w.text, w.box) for w in page.words]
        size = (page.width, page.height)
        layers = [(word_boxes(t.text, page.text, words, size), theme.mark())]
        if t.span:
            strong = QColor(theme.mark())
            strong.setAlpha(min(255, strong.alpha() + 90))
            layers.append((word_boxes(t.text[t.span[0]:t.span[1]], page.text, words, size),
                           strong))
        self.stack.setCurrentWidget(self.image_view)
        self.image_view.mark(layers)
        self.pdf_located = bool(layers[0][0])
        self.notice.setText("The passage is marked where OCR read it." if self.pdf_located else
                            "The passage could not be pinpointed on this image; switch to "
                            "Text to see it highlighted.")
        self.notice.show()
        self.page_label.setText(f"page {t.page}" if t.page else "")
        self.loaded.emit()
        return True

    def _ocr_page(self, number: int) -> Any:
        """Page `number` as OCR read it for the index (words and boxes), from the cache."""
        from assistant.ingest.ocr import OcrCache, cache_root
        from assistant.ingest.worker import file_hash

        try:
            if self._hash is None:
                self._hash = file_hash(self.path)
        except (OSError, ValueError):
            return None
        return OcrCache(cache_root(), self._hash).get(number)

    def _scan_highlight(self, index: int, t: Target) -> list[tuple[list[QPolygonF], QColor]] \
            | None:
        """On a scanned page, the passage's (and the cited span's) words by their OCR boxes,
        from the cache the indexer filled; None where the page was not read by OCR."""
        assert self.pdf_doc is not None
        page = self._ocr_page(index + 1)
        if page is None:
            return None
        words = [(w.text, w.box) for w in page.words]
        size = self.pdf_doc.pagePointSize(index)

        def polygons(passage: str) -> list[QPolygonF]:
            return [QPolygonF(QRectF(left * size.width(), top * size.height(),
                                     (right - left) * size.width(),
                                     (bottom - top) * size.height()))
                    for left, top, right, bottom in word_boxes(passage, page.text, words,
                                                               (page.width, page.height))]

        layers = [(polygons(t.text), theme.mark())]
        if not layers[0][0]:
            return None
        if t.span:
            strong = QColor(theme.mark())
            strong.setAlpha(min(255, strong.alpha() + 90))
            layers.append((polygons(t.text[t.span[0]:t.span[1]]), strong))
        return layers

    def _bounds(self, page: int, start: int, end: int) -> list[QPolygonF]:
        assert self.pdf_doc is not None
        selection = self.pdf_doc.getSelectionAtIndex(page, start, max(1, end - start))
        return list(selection.bounds())

    # --- text ------------------------------------------------------------------------
    def _text_go(self) -> None:
        if self.pages_text is None:
            self.stack.setCurrentWidget(self.message)
            self.message.setText(f"Reading {self.path.name}…")
            if self._text_job is None:
                path = self.path

                def work(ctx: Any) -> list[tuple[int | None, str | None, str]]:
                    from assistant.ingest.extract import ExtractionError, extract
                    from assistant.ingest.ocr import cached
                    from assistant.ingest.worker import file_hash

                    try:  # scans and images: the text OCR gave the indexer, from its cache
                        extracted = extract(path, ocr=cached(file_hash(path)))
                    except ExtractionError as exc:
                        raise UserError(f"{path.name} cannot be shown: {exc.reason}.") from exc
                    except OSError as exc:
                        raise UserError(f"{path.name} cannot be read: "
                                        f"{exc.strerror or exc}.") from exc
                    return [(p.number, p.label, p.text) for p in extracted.pages]

                self._text_job = run_task(work, success=self._text_ready,
                                          failure=self._text_failed, owner=self)
            return
        self._show_text()

    def _text_ready(self, pages: list[tuple[int | None, str | None, str]]) -> None:
        self.pages_text = pages
        if self.mode == "text":
            self._show_text()

    def _text_failed(self, failure: Failure) -> None:
        self._text_job = None
        self.stack.setCurrentWidget(self.message)
        exc = failure.exception
        self.message.setText(str(exc) if isinstance(exc, UserError) else
                             f"{self.path.name} cannot be shown here; “Open in the system's "
                             "app” may still open it.")

    def _show_text(self) -> None:
        assert self.pages_text is not None
        t = self.target
        layout = lay_out(self.pages_text)
        kind_code = self.path.suffix.lower() in _CODE_SUFFIXES
        self.text_view.show_text(layout.text, monospace=kind_code)
        self.text_view.set_headings(layout.headings)
        self.stack.setCurrentWidget(self.text_view)
        if self.is_image:
            self.notice.setText("The text read from the image by OCR, the passage highlighted; "
                                "Image shows the picture itself.")
            self.notice.show()
        if t is not None:
            base = layout.offset_of.get(t.page, 0)
            self.text_view.highlight(base + t.start, base + t.end, t.span)
            label = t.place or layout.label_of.get(t.page)
            self.place_text = places.where(t.page, label)
            self.page_label.setToolTip(self.place_text)
            self._fit_place()
        self.loaded.emit()

    def _desktop(self, fn: Any) -> None:
        try:
            fn(self.path)
        except UserError as exc:
            from assistant.gui.dialogs import show_message

            show_message(self, str(exc))


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
_CODE_SUFFIXES = {".py", ".js", ".ts", ".c", ".h", ".cpp", ".java", ".go", ".rs", ".rb", ".sh",
                  ".json", ".yaml", ".yml", ".toml", ".xml", ".sql", ".css", ".csv", ".tsv",
                  ".ini", ".cfg", ".log"}
