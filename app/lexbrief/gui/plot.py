"""A small live line plot (QPainter): the last minutes of one measurement."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class LivePlot(QWidget):
    def __init__(self, title: str, unit: str, *, maximum: float | None = None,
                 color: str = "#4285f4", points: int = 300,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.unit = unit
        self.fixed_max = maximum
        self.color = QColor(color)
        self.values: deque[float | None] = deque(maxlen=points)
        self.note = ""
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def add(self, value: float | None) -> None:
        self.values.append(value)
        self.update()

    def set_unavailable(self, reason: str) -> None:
        self.note = reason
        self.update()

    def latest(self) -> float | None:
        return self.values[-1] if self.values else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        rect = QRectF(self.rect()).adjusted(4, 18, -4, -4)
        painter.fillRect(self.rect(), palette.base())
        painter.setPen(palette.text().color())
        latest = self.latest()
        label = (f"{self.title}: {latest:.1f} {self.unit}" if latest is not None
                 else f"{self.title}: {self.note or 'unavailable'}")
        painter.drawText(QPointF(6, 14), label)
        known = [v for v in self.values if v is not None]
        if not known:
            return
        top = self.fixed_max or max(max(known) * 1.15, 1e-9)
        step = rect.width() / max(1, (self.values.maxlen or 1) - 1)
        offset = (self.values.maxlen or 0) - len(self.values)
        path = QPainterPath()
        started = False
        for i, value in enumerate(self.values):
            if value is None:
                started = False
                continue
            point = QPointF(rect.left() + (offset + i) * step,
                            rect.bottom() - rect.height() * min(value, top) / top)
            if started:
                path.lineTo(point)
            else:
                path.moveTo(point)
                started = True
        grid = QPen(palette.mid().color())
        grid.setStyle(Qt.PenStyle.DotLine)
        painter.setPen(grid)
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.setPen(QPen(self.color, 2))
        painter.drawPath(path)
