"""Reading order of OCR'd lines (lexbrief.read.layout) on known layouts; tests/test_ocr.py
runs the same rules on real scans through the real engine."""

from __future__ import annotations

from lexbrief.read.layout import Box, find_gutter, is_page_number, page_text


def _line(y: float, x0: float, x1: float, text: str) -> Box:
    return Box(x0, y, x1, y + 30, text, 0.99)


def test_layout_two_columns_title_header_and_page_number() -> None:
    boxes = [_line(40, 100, 900, "CASE 1:20-cv-1 DOCUMENT 5"),
             _line(200, 300, 1700, "A TITLE ACROSS BOTH COLUMNS")]
    boxes += [_line(300 + 45 * i, 100, 900, f"left {i}") for i in range(8)]
    boxes += [_line(300 + 45 * i, 1000, 1800, f"right {i}") for i in range(8)]
    boxes.append(_line(2400, 880, 920, "- 7 -"))
    assert find_gutter(boxes[2:-1], 1900) is not None
    text = page_text(boxes, 1900, 2500)
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "CASE 1:20-cv-1 DOCUMENT 5"
    assert paragraphs[1] == "A TITLE ACROSS BOTH COLUMNS"
    assert paragraphs[-1] == "- 7 -"
    assert text.index("left 7") < text.index("right 0")


def test_layout_single_column_paragraphs_and_hyphens() -> None:
    rows = [(400, 100, "The parties agree that the Supplier shall de-"),
            (445, 100, "liver the goods within thirty days of the order."),
            (490, 100, "Payment is due on delivery."),
            (580, 140, "The second paragraph starts after a wider gap"),
            (625, 100, "and goes on here.")]
    boxes = [_line(y, x, 1800, t) for y, x, t in rows]
    boxes.append(Box(1810, 400, 1900, 430, "de-", 0.3))  # noise below the kept threshold
    text = page_text([b for b in boxes if b.score > 0.5], 2000, 2600)
    assert text.split("\n\n") == [
        "The parties agree that the Supplier shall deliver\nthe goods within thirty days of "
        "the order.\nPayment is due on delivery.",
        "The second paragraph starts after a wider gap\nand goes on here."]
    assert find_gutter(boxes, 2000) is None


def test_page_numbers() -> None:
    for text in ("7", "- 7 -", "Page 3 of 12", "(iv)", "p. 12"):
        assert is_page_number(text), text
    for text in ("7 days", "Section 7", "—"):
        assert not is_page_number(text), text
