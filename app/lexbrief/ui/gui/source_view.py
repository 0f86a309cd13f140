"""The source beside the summary: the cited page, with the quote that backs the point marked.

A PDF page is shown as the printed page (rendered by pypdfium2) with the quote's words boxed in
yellow; the page text, with the same words highlighted, is one click away and is what DOCX, TXT
and HTML documents show (they have no printed pages). The panel sits beside the summary in the
window, so it never covers what it proves.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lexbrief.errors import UserFacingError
from lexbrief.read.document import Document
from lexbrief.summarize.source_text import Span


class SourceView(QWidget):
    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.spans: list[Span] = []
        self.boxes: list[tuple[float, float, float, float]] = []  # the quote's boxes shown
        self.page_image: QImage | None = None  # the rendered page, before fitting to the pane
        self.password: str | None = None
        self.page = QSpinBox()
        self.page.setRange(1, max(1, document.page_count))
        self.page.setPrefix("Page ")
        self.page.setSuffix(f" of {document.page_count}")
        self.page.setAccessibleName("Page shown")
        self.page.valueChanged.connect(self._show)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.mode = QPushButton("Show text")
        self.mode.setCheckable(True)
        self.mode.setToolTip("Switch between the printed page and its text")
        self.mode.toggled.connect(lambda _on: self._show(self.page.value()))
        self.mode.setVisible(self.has_image)
        close = QPushButton("Close")
        close.setToolTip("Hide the source (Esc)")
        close.clicked.connect(self.hide)
        self.text = QTextBrowser()
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(True)
        self.image_area = scroll
        self.stack = QStackedWidget()
        self.stack.addWidget(self.text)
        self.stack.addWidget(scroll)
        top = QHBoxLayout()
        top.addWidget(QLabel(f"<b>{html.escape(document.name)}</b>"))
        top.addWidget(self.page)
        top.addWidget(self.mode)
        top.addStretch(1)
        top.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.stack, 1)

    @property
    def has_image(self) -> bool:
        return self.document.kind == "pdf" and self.document.path.is_file()

    @property
    def showing_image(self) -> bool:
        return self.stack.currentIndex() == 1

    def show_page(self, number: int, spans: list[Span] | tuple[Span, ...] = ()) -> None:
        """Page `number`, with `spans` (the quote's place on its pages) highlighted."""
        self.spans = list(spans)
        self.page.blockSignals(True)
        self.page.setValue(max(1, min(number, self.document.page_count)))
        self.page.blockSignals(False)
        self._show(self.page.value())

    def _page_spans(self, number: int) -> list[Span]:
        return sorted((s for s in self.spans if s.page == number), key=lambda s: s.start)

    def _show(self, number: int) -> None:
        spans = self._page_spans(number)
        self._show_text(number, spans)
        note = {"printed": "printed page", "breaks": "page as saved in the file",
                "none": "whole text (this format has no pages)"}.get(self.document.pagination, "")
        if spans:
            note += " · the quote that backs the point is marked"
        if self.has_image and not self.mode.isChecked():
            try:
                self._show_image(number, spans)
            except UserFacingError as exc:
                note += f" · the printed page cannot be shown ({exc.message}); its text is"
                self.stack.setCurrentIndex(0)
        else:
            self.stack.setCurrentIndex(0)
        self.info.setText(note)

    def _show_text(self, number: int, spans: list[Span]) -> None:
        text = self.document.page(number).text
        parts: list[str] = []
        at = 0
        for span in spans:
            parts.append(html.escape(text[at:span.start]))
            parts.append("<span style='background:#ffe58a;color:black'>"
                         f"{html.escape(text[span.start:span.end])}</span>")
            at = span.end
        parts.append(html.escape(text[at:]))
        self.text.setHtml("<p style='white-space:pre-wrap'>" + "".join(parts) + "</p>")
        if spans:
            cursor = self.text.textCursor()
            cursor.setPosition(min(spans[0].start, max(0, len(text) - 1)))
            self.text.setTextCursor(cursor)
            self.text.ensureCursorVisible()

    def _show_image(self, number: int, spans: list[Span]) -> None:
        from lexbrief.read.page_image import render_pdf_page

        page_text = self.document.page(number).text
        fragments = [line for s in spans for line in page_text[s.start:s.end].splitlines()]
        picture = render_pdf_page(self.document.path, number, fragments,
                                  password=self.password)
        image = QImage(picture.rgb, picture.width, picture.height, picture.width * 3,
                       QImage.Format.Format_RGB888).copy()
        painter = QPainter(image)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 214, 0, 90))
        for x0, y0, x1, y1 in picture.boxes:
            painter.drawRect(int(x0) - 1, int(y0) - 1, int(x1 - x0) + 2, int(y1 - y0) + 2)
        painter.end()
        self.page_image = image
        self.boxes = picture.boxes
        self.stack.setCurrentIndex(1)
        self._fit_page(scroll_to_quote=True)

    def _fit_page(self, *, scroll_to_quote: bool = False) -> None:
        """The page scaled to the pane's width (a whole line of the page readable without
        scrolling sideways), drawn at the screen's pixel density."""
        image = self.page_image
        if image is None or image.width() == 0:
            return
        width = max(200, self.image_area.viewport().width() - 4)
        ratio = self.devicePixelRatioF()
        scaled = image.scaledToWidth(max(1, int(width * ratio)),
                                     Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(ratio)
        self.image.setPixmap(QPixmap.fromImage(scaled))
        if scroll_to_quote and self.boxes:
            top = max(0, int(self.boxes[0][1] * width / image.width()) - 80)
            bar = self.image_area.verticalScrollBar()
            bar.setValue(top)
            # the scroll range follows the new pixmap once the layout has run
            QTimer.singleShot(0, lambda: bar.setValue(top))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.showing_image:
            self._fit_page()
