"""A live plot that reads like a system monitor (QPainter): the last five minutes of one or more
measurements, a time axis in "seconds ago", a value axis with units and a fixed or nice range,
a legend with the latest values, and markers where documents started and ended."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

WINDOW_SECONDS = 300.0  # five minutes


@dataclass
class Series:
    name: str
    color: QColor
    points: deque[tuple[float, float | None]] = field(default_factory=lambda: deque(maxlen=900))

    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above `value` (an axis' upper end)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value * 0.999999:
            return step * magnitude
    return 10 * magnitude


def value_ticks(top: float, count: int = 4) -> list[float]:
    """0 … top in `count` equal steps."""
    return [top * i / count for i in range(count + 1)]


def time_ticks(window: float = WINDOW_SECONDS) -> list[tuple[float, str]]:
    """(seconds ago, label) every minute of a five-minute window: "5 min ago" … "now"."""
    step = 60.0 if window > 120 else 30.0 if window > 60 else 10.0
    ticks = []
    ago = math.floor(window / step) * step
    while ago >= 0:
        if ago == 0:
            label = "now"
        elif step >= 60:
            label = f"{ago / 60:.0f} min ago" if ago == math.floor(window / step) * step \
                else f"{ago / 60:.0f} min"
        else:
            label = f"{ago:.0f} s ago"
        ticks.append((ago, label))
        ago -= step
    return ticks


def axis_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value == round(value):
        return f"{value:.0f}"
    if abs(value) < 1:  # 0.25, 0.5, 0.75: not 0.2, 0.5, 0.8
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.1f}"


class LivePlot(QWidget):
    """`add(t, values)` appends one reading per series at monotonic time `t`; `replace` sets a
    whole series (computed curves such as tokens per second)."""

    def __init__(self, title: str, unit: str, series: Sequence[tuple[str, str]], *,
                 maximum: float | None = None, span: float = WINDOW_SECONDS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.unit = unit
        self.fixed_max = maximum
        self.span = span
        self.series = [Series(name, QColor(color)) for name, color in series]
        self.markers: list[tuple[float, str]] = []
        self.now: float | None = None  # the time at the right edge
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(title)

    # -- data ---------------------------------------------------------------------------------
    def add(self, t: float, values: Sequence[float | None]) -> None:
        for series, value in zip(self.series, values, strict=True):
            series.points.append((t, value))
        self.now = t
        self._changed()

    def replace(self, index: int, points: Iterable[tuple[float, float | None]]) -> None:
        self.series[index].points = deque(points, maxlen=900)
        self._changed()

    def set_now(self, t: float) -> None:
        self.now = t
        self._changed()

    def set_maximum(self, maximum: float | None) -> None:
        self.fixed_max = maximum
        self.update()

    def set_markers(self, markers: Iterable[tuple[float, str]]) -> None:
        self.markers = list(markers)
        self.update()

    def latest(self, index: int = 0) -> float | None:
        return self.series[index].latest()

    def top(self) -> float:
        """The value axis' upper end: the fixed maximum, else a nice number above the data."""
        if self.fixed_max:
            return self.fixed_max
        start = (self.now or 0.0) - self.span
        known = [v for s in self.series for t, v in s.points if v is not None and t >= start]
        return nice_top(max(known) * 1.1) if known and max(known) > 0 else 1.0

    def legend(self) -> str:
        parts = []
        for s in self.series:
            value = s.latest()
            parts.append(f"{s.name} {axis_number(value) if value is not None else 'n/a'} "
                         f"{self.unit}".rstrip())
        return " · ".join(parts)

    def _changed(self) -> None:
        self.setToolTip(f"{self.title}: {self.legend()} (last {self.span / 60:.0f} minutes)")
        self.update()

    # -- drawing ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.text().color()
        faint = palette.mid().color()
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        painter.fillRect(self.rect(), palette.base())

        top = self.top()
        ticks = value_ticks(top)
        labels = [f"{axis_number(v)} {self.unit}".strip() for v in ticks]
        left = 8 + max(metrics.horizontalAdvance(label) for label in labels)
        plot = QRectF(left + 6, 2 * line + 6, self.width() - left - 14,
                      self.height() - 3 * line - 12)
        if plot.width() < 20 or plot.height() < 20:
            return

        # Title and legend with the latest values, each series in its colour.
        painter.setPen(text)
        bold = painter.font()
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QPointF(6, line), self.title)
        x = 6 + QFontMetrics(bold).horizontalAdvance(self.title) + 12
        painter.setFont(self.font())
        for s in self.series:
            value = s.latest()
            label = f"{s.name}: {axis_number(value) if value is not None else 'n/a'} " \
                    f"{self.unit}".rstrip()
            painter.fillRect(QRectF(x, line - metrics.ascent() / 2 - 1, 14, 3), s.color)
            painter.setPen(text)
            painter.drawText(QPointF(x + 18, line), label)
            x += 18 + metrics.horizontalAdvance(label) + 14

        # Value axis: grid lines with units.
        grid = QPen(faint)
        grid.setStyle(Qt.PenStyle.DotLine)
        for value, label in zip(ticks, labels, strict=True):
            y = plot.bottom() - plot.height() * value / top
            painter.setPen(grid)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - line / 2, left, line),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             label)
        # Time axis: minutes ago.
        for ago, label in time_ticks(self.span):
            xpos = plot.right() - plot.width() * ago / self.span
            painter.setPen(grid)
            painter.drawLine(QPointF(xpos, plot.top()), QPointF(xpos, plot.bottom()))
            painter.setPen(text)
            width = metrics.horizontalAdvance(label)
            xtext = min(max(xpos - width / 2, plot.left() - left), plot.right() - width)
            painter.drawText(QPointF(xtext, plot.bottom() + line + 2), label)
        painter.setPen(QPen(faint))
        painter.drawRect(plot)

        now = self.now
        if now is None:
            return
        start = now - self.span

        def xy(t: float, value: float) -> QPointF:
            return QPointF(plot.right() - plot.width() * (now - t) / self.span,
                           plot.bottom() - plot.height() * min(max(value, 0.0), top) / top)

        # Document markers: a dashed line where a document started or ended.
        marker_pen = QPen(text)
        marker_pen.setStyle(Qt.PenStyle.DashLine)
        for i, (t, label) in enumerate(self.markers):
            if t < start or t > now:
                continue
            point = xy(t, 0)
            painter.setPen(marker_pen)
            painter.drawLine(QPointF(point.x(), plot.top()), QPointF(point.x(), plot.bottom()))
            shown = metrics.elidedText(label, Qt.TextElideMode.ElideMiddle,
                                       int(max(40.0, plot.width() / 2)))
            wide = metrics.horizontalAdvance(shown)
            # beside its line, on the side where it fits inside the plot
            label_x = (point.x() + 3 if point.x() + 3 + wide <= plot.right()
                       else point.x() - 3 - wide)
            # a start and its end on two rows, so a short document's labels do not overlap
            label_y = plot.top() + line * (1 + i % 2)
            painter.drawText(QPointF(max(plot.left() + 2, label_x), label_y), shown)

        painter.setClipRect(plot)
        for s in self.series:
            path = QPainterPath()
            started = False
            for t, value in s.points:
                if value is None or t < start - 2:
                    started = False
                    continue
                point = xy(t, value)
                if started:
                    path.lineTo(point)
                else:
                    path.moveTo(point)
                    started = True
            painter.setPen(QPen(s.color, 2))
            painter.drawPath(path)
