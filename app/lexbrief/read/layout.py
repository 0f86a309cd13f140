"""Reading order of OCR'd text: the recognized lines of one page, put back into paragraphs.

The OCR engine returns boxes of text in no reliable order, and one printed line can come back
as several boxes (justified text, tab stops, a header with three parts). This module

- finds a column gutter (a vertical strip that body lines do not cross), so a two-column page is
  read left column first, then right, with anything spanning both columns (a title) in place;
- joins the boxes of one printed line, left to right;
- keeps running headers, footers and page numbers apart from the body: each is its own
  paragraph, so a page number never lands inside a sentence;
- starts a new paragraph at a wider gap between lines or at an indented first line, and mends
  words hyphenated at a line end ("Okla-" + "homa's").

Pure Python on boxes, so the rules can be tested on known layouts as well as on real scans.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Rows within this share of the page height from the top or bottom edge are page furniture
# candidates (headers, footers, page numbers).
MARGIN_BAND = 0.08
_PAGE_NUMBER = re.compile(
    r"^[\[(<\-–—\s]*(?:page|p\.|pg\.?)?\s*(?:\d{1,4}|[ivxlc]{1,6})(?:\s*(?:of|/)\s*\d{1,4})?"
    r"[\])>\-–—\s.]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Box:
    """One recognized piece of text, in image pixels (y grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float

    @property
    def height(self) -> float:
        return max(1.0, self.y1 - self.y0)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class _Row:
    boxes: list[Box]

    @property
    def x0(self) -> float:
        return min(b.x0 for b in self.boxes)

    @property
    def x1(self) -> float:
        return max(b.x1 for b in self.boxes)

    @property
    def y0(self) -> float:
        return min(b.y0 for b in self.boxes)

    @property
    def y1(self) -> float:
        return max(b.y1 for b in self.boxes)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return statistics.median(b.height for b in self.boxes)

    @property
    def text(self) -> str:
        return " ".join(b.text.strip() for b in sorted(self.boxes, key=lambda b: b.x0)
                        if b.text.strip())


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text.strip())) and any(c.isalnum() for c in text)


def find_gutter(boxes: Sequence[Box], width: float) -> float | None:
    """The x of a gap between two columns of text, or None for a single column.

    Only narrow boxes (under 60% of the page width) vote: a title across both columns must not
    hide the gutter. The gap must lie in the middle half of the page and have enough lines on
    both sides, and only a few lines may cross it.
    """
    if len(boxes) < 8 or width <= 0:
        return None
    narrow = [b for b in boxes if b.x1 - b.x0 < 0.6 * width]
    if len(narrow) < 8:
        return None
    bins = 200
    cover = [0] * bins
    for b in narrow:
        start = max(0, int(b.x0 / width * bins))
        end = min(bins - 1, int(b.x1 / width * bins))
        for i in range(start, end + 1):
            cover[i] += 1
    # A short title across the columns may still cross the gutter: allow a few crossings.
    allowed = max(1, len(narrow) // 20)
    best: tuple[int, int] | None = None  # (length, start) of the longest empty run
    run_start = None
    for i in range(bins // 4, 3 * bins // 4 + 1):
        empty = i < 3 * bins // 4 and cover[i] <= allowed
        if empty and run_start is None:
            run_start = i
        elif not empty and run_start is not None:
            if best is None or i - run_start > best[0]:
                best = (i - run_start, run_start)
            run_start = None
    if best is None:
        return None
    gutter = (best[1] + best[0] / 2) / bins * width
    left = sum(1 for b in boxes if b.x1 <= gutter)
    right = sum(1 for b in boxes if b.x0 >= gutter)
    crossing = len(boxes) - left - right
    if min(left, right) < 4 or min(left, right) < 0.15 * len(boxes):
        return None
    if crossing > 0.3 * len(boxes):
        return None
    return gutter


def _rows(boxes: list[Box]) -> list[_Row]:
    """Boxes of the same printed line (overlapping vertically by half a line) become one row."""
    rows: list[_Row] = []
    for box in sorted(boxes, key=lambda b: (b.cy, b.x0)):
        for row in reversed(rows[-3:]):
            overlap = min(row.y1, box.y1) - max(row.y0, box.y0)
            if overlap >= 0.5 * min(row.height, box.height):
                row.boxes.append(box)
                break
        else:
            rows.append(_Row([box]))
    return sorted(rows, key=lambda r: r.cy)


def _mend(lines: list[str]) -> list[str]:
    """Join a word split by a hyphen at a line end when the next line goes on in lower case."""
    out: list[str] = []
    for line in lines:
        if out and re.search(r"[a-z]-$", out[-1]) and re.match(r"[a-z]", line):
            head, _, rest = line.partition(" ")
            out[-1] = out[-1][:-1] + head
            if rest.strip():
                out.append(rest.strip())
            continue
        out.append(line)
    return out


def _paragraphs(rows: list[_Row]) -> list[list[_Row]]:
    """Split one column's rows into paragraphs: at a gap clearly wider than the usual line
    spacing, or at an indented line after a line that stopped short."""
    if not rows:
        return []
    pitches = [b.cy - a.cy for a, b in itertools.pairwise(rows)]
    heights = [r.height for r in rows]
    pitch = statistics.median(pitches) if pitches else 0.0
    height = statistics.median(heights)
    # Double-spaced text has a pitch near 2 line heights; a paragraph gap is clearly more.
    pitch = max(pitch, 1.1 * height)
    left = statistics.median(r.x0 for r in rows)
    right = statistics.median(r.x1 for r in rows)
    width = max(1.0, right - left)
    groups: list[list[_Row]] = [[rows[0]]]
    for prev, row in itertools.pairwise(rows):
        gap = row.cy - prev.cy
        indented = row.x0 - left > 0.02 * width and prev.x1 < right - 0.1 * width
        if gap > 1.45 * pitch or indented:
            groups.append([row])
        else:
            groups[-1].append(row)
    return groups


def _column_text(rows: list[_Row]) -> list[str]:
    return ["\n".join(_mend([r.text for r in group if r.text]))
            for group in _paragraphs(rows)]


def page_text(boxes: Sequence[Box], width: float, height: float) -> str:
    """The page's text in reading order: paragraphs separated by blank lines."""
    boxes = [b for b in boxes if b.text.strip()]
    if not boxes:
        return ""
    rows = _rows(list(boxes))
    # Page furniture: a page number anywhere in the margin bands, and the rows of the outermost
    # band that are separated from the body.
    top, bottom = MARGIN_BAND * height, (1 - MARGIN_BAND) * height
    header = [r for r in rows if r.y1 <= top or (r.cy <= top and is_page_number(r.text))]
    footer = [r for r in rows if r not in header and
              (r.y0 >= bottom or (r.cy >= bottom and is_page_number(r.text)))]
    furniture = {id(r) for r in header + footer}
    body_boxes = [b for r in rows if id(r) not in furniture for b in r.boxes]
    paragraphs = [r.text for r in header if r.text]
    gutter = find_gutter(body_boxes, width)
    if gutter is None:
        paragraphs += _column_text(_rows(body_boxes))
    else:
        # Runs of column lines, broken by lines spanning both columns (a title): each run's
        # left column, then its right column.
        segments: list[tuple[bool, list[Box]]] = []
        for box in sorted(body_boxes, key=lambda b: b.cy):
            spans = box.x0 < gutter < box.x1
            if segments and segments[-1][0] == spans:
                segments[-1][1].append(box)
            else:
                segments.append((spans, [box]))
        for spans, group in segments:
            if spans:
                paragraphs += _column_text(_rows(group))
                continue
            paragraphs += _column_text(_rows([b for b in group if b.x1 <= gutter]))
            paragraphs += _column_text(_rows([b for b in group if b.x0 >= gutter]))
    paragraphs += [r.text for r in footer if r.text]
    return "\n\n".join(p for p in paragraphs if p.strip())
