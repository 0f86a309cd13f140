"""The cost chart in the window: one horizontal bar per cost (this computer first, then the cloud
models cheapest first, the chosen one highlighted), the amount beside each bar, and each bar's
assumptions one hover away."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from lexbrief.costs.card import money
from lexbrief.costs.chart import CostChart, bar_color


class CostChartView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart: CostChart | None = None
        self.placeholder = "The cost of a summary against cloud models appears when one finishes."
        self._rows: list[QRectF] = []  # each bar's row, for the hover text
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)
        self.setAccessibleName("Cost chart")

    def set_chart(self, chart: CostChart | None) -> None:
        self.chart = chart
        if chart is not None:
            self.setAccessibleDescription(f"{chart.saving} " + "; ".join(
                f"{b.label} {money(b.usd) if b.usd is not None else 'unknown'}"
                for b in chart.bars))
            self.setToolTip(chart.assumptions)
        # every bar and the saving line stay visible (the pane scrolls rather than cut them)
        self.setMinimumHeight(max(120, self.sizeHint().height()))
        self.updateGeometry()
        self.update()

    def row_height(self) -> int:
        return QFontMetrics(self.font()).height() + 10

    def sizeHint(self) -> QSize:
        size = super().sizeHint()
        rows = len(self.chart.bars) if self.chart else 2
        size.setHeight(self.row_height() * (rows + 1) + 16)  # the saving line's descenders
        return size

    def detail_at(self, point: QPointF) -> str:
        """The hover text of the bar under `point` (the chart's assumptions elsewhere)."""
        if self.chart is None:
            return ""
        for rect, bar in zip(self._rows, self.chart.bars, strict=False):
            if rect.contains(point):
                return bar.detail
        return self.chart.assumptions

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QHelpEvent) and self.chart is not None:
            QToolTip.showText(event.globalPos(), self.detail_at(QPointF(event.pos())), self)
            return True
        return super().event(event)

    def save_png(self, path: Path) -> bool:
        return self.grab().save(str(path), "PNG")

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        text = palette.text().color()
        painter.setPen(text)
        metrics = QFontMetrics(self.font())
        chart = self.chart
        if chart is None:
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), self.placeholder)
            return
        row = self.row_height()
        labels = [b.label + ("  ◀ chosen" if b.chosen else "") for b in chart.bars]
        bold_font = QFont(self.font())
        bold_font.setBold(True)  # the chosen and local rows are drawn bold: measure them so
        bold_metrics = QFontMetrics(bold_font)
        label_width = max((bold_metrics if b.chosen or b.local else metrics)
                          .horizontalAdvance(label)
                          for b, label in zip(chart.bars, labels, strict=True)) + 12
        amounts = [money(b.usd) if b.usd is not None else "unknown" for b in chart.bars]
        amount_width = max(metrics.horizontalAdvance(a) for a in amounts) + 12
        left = 8 + label_width
        width = max(10.0, self.width() - left - amount_width - 8)
        top_value = max((b.usd or 0.0) for b in chart.bars) or 1.0
        self._rows = []
        for i, (bar, label, amount) in enumerate(zip(chart.bars, labels, amounts, strict=True)):
            y = 4 + i * row
            rect = QRectF(0, y, self.width(), row)
            self._rows.append(rect)
            bold = painter.font()
            bold.setBold(bar.chosen or bar.local)
            painter.setFont(bold)
            painter.setPen(text)
            painter.drawText(QRectF(8, y, label_width, row),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             label)
            length = 0.0 if bar.usd is None else max(2.0, width * bar.usd / top_value)
            painter.fillRect(QRectF(left, y + 4, length, row - 8), QColor(bar_color(bar)))
            painter.drawText(QRectF(left + length + 6, y, amount_width + 40, row),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             amount)
        painter.setFont(self.font())
        painter.setPen(text)
        y = 4 + len(chart.bars) * row
        painter.drawText(QRectF(8, y, self.width() - 16, row),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         chart.saving + "  (hover a bar for its assumptions)")
