"""The source document at a cited page, so a lawyer can check a citation in one click."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lexbrief.core.citations import content_words
from lexbrief.core.document import Document


class SourceView(QDialog):
    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.highlight: set[str] = set()
        self.setWindowTitle(f"{document.name} — source")
        self.resize(760, 820)
        self.page = QSpinBox()
        self.page.setRange(1, document.page_count)
        self.page.setPrefix("Page ")
        self.page.setSuffix(f" of {document.page_count}")
        self.page.valueChanged.connect(self._show)
        self.text = QTextBrowser()
        self.info = QLabel()
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        top = QHBoxLayout()
        top.addWidget(self.page)
        top.addWidget(self.info, 1)
        top.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text)

    def show_page(self, number: int, point: str = "") -> None:
        self.highlight = content_words(point)
        self.page.setValue(max(1, min(number, self.document.page_count)))
        self._show(self.page.value())

    def _show(self, number: int) -> None:
        text = self.document.page(number).text
        words = []
        for token in text.split():
            escaped = html.escape(token)
            bare = token.lower().strip(".,;:()[]\"'")
            words.append(f"<span style='background:#ffe58a;color:black'>{escaped}</span>"
                         if bare in self.highlight else escaped)
        self.text.setHtml("<p style='white-space:pre-wrap'>" + " ".join(words) + "</p>")
        pagination = {"printed": "printed page", "breaks": "page as saved in the file",
                      "none": "whole text (this format has no pages)"}
        self.info.setText(pagination.get(self.document.pagination, ""))
