"""Hardware & cost: live plots of the last five minutes (1 Hz) and the cost of the summaries
against cloud models, as a bar chart.

Plots: CPU (LexBrief and the other programs, 0–100 % of all cores), memory (all programs and
LexBrief, 0–the computer's RAM), model speed (reading and writing tokens per second, from the
runs' SpeedMeters), and GPU and power only where this computer can measure them. What it cannot
measure is one line of text, not an empty plot.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lexbrief.costs.chart import CostChart
from lexbrief.machine.telemetry.samples import Sample
from lexbrief.machine.telemetry.speed import SpeedMeter
from lexbrief.store import Store
from lexbrief.ui.gui.cost_chart import CostChartView
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.plot import WINDOW_SECONDS, LivePlot
from lexbrief.ui.gui.tasks import on_gui, run_in_background

log = logging.getLogger(__name__)

GIB = 2**30
PERIODS = (("last", "Last summary"), ("day", "Today"), ("week", "This week"),
           ("month", "This month"), ("matter", "Latest matter"), ("all", "All summaries"))


def missing_note(unavailable: dict[str, str], *, has_gpu: bool, has_power: bool) -> str:
    """What this computer cannot measure, in one line: "No GPU; power not readable on this
    computer — energy is estimated." Empty when everything is measured."""
    parts = []
    if not has_gpu:
        parts.append("No GPU")
    if not has_power:
        parts.append("power not readable on this computer — energy is estimated")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


class HardwareView(QWidget):
    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.cpu = LivePlot("CPU", "%", [("LexBrief", "#1a73e8"),
                                         ("others", "#9aa0a6")], maximum=100)
        self.ram = LivePlot("Memory", "GiB", [("all", "#34a853"),
                                              ("LexBrief", "#fbbc05")])
        self.speed = LivePlot("Model speed", "tok/s", [("reading", "#a142f4"),
                                                       ("writing", "#ea4335")])
        self.gpu: LivePlot | None = None  # created when a GPU reports
        self.power: LivePlot | None = None  # created when power can be read
        self.grid = QGridLayout()
        self.grid.addWidget(self.cpu, 0, 0)
        self.grid.addWidget(self.ram, 0, 1)
        self.grid.addWidget(self.speed, 1, 0)
        self.note = QLabel("")
        self.note.setObjectName("sensorNote")
        self.note.setWordWrap(True)

        self.period = QComboBox()
        for key, label in PERIODS:
            self.period.addItem(label, key)
        self.period.setAccessibleName("Cost period")
        self.period.currentIndexChanged.connect(lambda _i: self.refresh_costs())
        self.save_chart = QPushButton("Save chart as PNG…")
        self.save_chart.clicked.connect(self._save_chart)
        self.chart = CostChartView()
        self.assumptions = QLabel("")
        self.assumptions.setWordWrap(True)
        self.assumptions.setObjectName("costAssumptions")
        cost_bar = QHBoxLayout()
        title = QLabel("<b>Cost: this computer vs the same tokens on cloud models</b>")
        cost_bar.addWidget(title, 1)
        period_label = QLabel("&Period:")
        period_label.setBuddy(self.period)
        cost_bar.addWidget(period_label)
        cost_bar.addWidget(self.period)
        cost_bar.addWidget(self.save_chart)

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(self.grid, 3)
        layout.addWidget(self.note)
        layout.addLayout(cost_bar)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.assumptions)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self._sampler: Any = None
        self._unsubscribe: Any = None
        self._meters: list[SpeedMeter] = []
        self._markers: list[tuple[float, str]] = []
        self._last_outcome: Any = None

    # -- telemetry ----------------------------------------------------------------------------
    def start(self) -> None:
        try:
            from lexbrief.machine.telemetry.sampler import Sampler

            self._sampler = Sampler(interval=1.0).start()
        except Exception as exc:
            log.exception("telemetry unavailable")
            self.note.setText(f"Hardware readings are unavailable: {exc}")
            return
        # the sampler's thread reads; the plots are drawn on the GUI thread
        self._unsubscribe = self._sampler.subscribe(
            lambda sample: on_gui(lambda: self._on_sample(sample)))

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._sampler:
            self._sampler.stop()

    @property
    def sampler(self) -> Any:
        return self._sampler

    def track(self, meter: SpeedMeter) -> None:
        """Plot this run's reading and writing speed (a run's SpeedMeter, from the worker)."""
        if all(m is not meter for m in self._meters):
            self._meters.append(meter)

    def mark(self, label: str, at: float | None = None) -> None:
        """A marker on every plot (a document started or ended), at monotonic time `at`."""
        self._markers.append((time.monotonic() if at is None else at, label))
        self._markers = self._markers[-40:]
        for plot in self.plots():
            plot.set_markers(self._markers)

    def plots(self) -> list[LivePlot]:
        return [p for p in (self.cpu, self.ram, self.speed, self.gpu, self.power)
                if p is not None]

    def _add_plot(self, plot: LivePlot) -> LivePlot:
        count = len(self.plots())
        self.grid.addWidget(plot, count // 2, count % 2)
        plot.set_markers(self._markers)
        return plot

    def _on_sample(self, sample: Sample) -> None:
        t = sample.monotonic
        own = sample.process_cpu_percent
        machine = sample.cpu_percent
        others = None if machine is None else max(0.0, machine - (own or 0.0))
        self.cpu.add(t, [own, others])
        self.cpu.title = f"CPU, % of {sample.cpu_count} cores"
        self.ram.set_maximum(sample.ram_total_bytes / GIB)
        self.ram.title = f"Memory, {sample.ram_total_bytes / GIB:.1f} GiB"
        self.ram.add(t, [sample.ram_used_bytes / GIB,
                         sample.process_rss_bytes / GIB if sample.process_rss_bytes else None])
        self._update_speed(t)

        gpu = sample.gpus[0] if sample.gpus else None
        if gpu is not None:
            if self.gpu is None:
                self.gpu = self._add_plot(LivePlot(
                    f"GPU: {gpu.name}", "%", [("busy", "#a142f4"), ("memory", "#24c1e0")],
                    maximum=100))
            vram = (gpu.vram_used_bytes / gpu.vram_total_bytes * 100
                    if gpu.vram_used_bytes is not None and gpu.vram_total_bytes else None)
            self.gpu.add(t, [gpu.utilization_percent, vram])
        gpu_watts = gpu.power_watts if gpu is not None else None
        if sample.cpu_power_watts is not None or gpu_watts is not None:
            if self.power is None:
                self.power = self._add_plot(LivePlot(
                    "Power", "W", [("CPU package", "#ff6d01"), ("GPU", "#24c1e0")]))
            self.power.add(t, [sample.cpu_power_watts, gpu_watts])
        unavailable = dict(sample.unavailable)
        note = missing_note(unavailable, has_gpu=self.gpu is not None,
                            has_power=self.power is not None)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.note.setToolTip("\n".join(f"{name}: {why}" for name, why in
                                       sorted(unavailable.items())))

    def _update_speed(self, now: float) -> None:
        start = now - WINDOW_SECONDS
        self._meters = [m for m in self._meters if _recent(m, start)]
        reading = [0.0] * int(WINDOW_SECONDS)
        writing = [0.0] * int(WINDOW_SECONDS)
        for meter in self._meters:
            r, w = meter.series(start, now, 1.0)
            reading = [a + b for a, b in zip(reading, r, strict=False)]
            writing = [a + b for a, b in zip(writing, w, strict=False)]
        times = [start + i + 1.0 for i in range(len(reading))]  # each bin at its end
        self.speed.replace(0, zip(times, reading, strict=True))
        self.speed.replace(1, zip(times, writing, strict=True))
        self.speed.set_now(now)

    # -- costs --------------------------------------------------------------------------------
    def show_run(self, outcome: Any) -> None:
        """A summary finished: chart its cost (or refresh the period shown)."""
        if getattr(outcome, "run", None) is None:
            return
        self._last_outcome = outcome
        self.refresh_costs()

    def refresh_costs(self) -> None:
        key = self.period.currentData()
        outcome = self._last_outcome
        if key == "last":
            if outcome is None:
                self.chart.set_chart(None)
                self.assumptions.setText("")
                return
            run_in_background(lambda: run_chart(outcome), self._show_chart, self._chart_failed,
                              what="charting the summary's cost")
        else:
            self.db.run(lambda store: period_chart(store, key), self._show_chart,
                        self._chart_failed, what="charting the period's cost")

    def _show_chart(self, chart: CostChart | None) -> None:
        key = self.period.currentData()
        self.chart.placeholder = (
            "No cost for this summary (see the log)." if key == "last"
            else "No summary has a client matter yet: type one in the toolbar's Matter box "
                 "before adding documents." if key == "matter"
            else "No summaries in this period yet.")
        self.chart.set_chart(chart)
        self.assumptions.setText(chart.assumptions if chart else "")

    def _chart_failed(self, message: str) -> None:
        self.chart.set_chart(None)
        self.chart.placeholder = f"No cost chart: {message}"
        self.assumptions.setText("")

    def _save_chart(self) -> None:
        if self.chart.chart is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Save the cost chart",
                                              str(Path.home() / "lexbrief-costs.png"),
                                              "PNG images (*.png)")
        if name:
            self.chart.save_png(Path(name))


def _recent(meter: SpeedMeter, start: float) -> bool:
    """Still worth plotting: nothing measured yet (just started), or active in the window."""
    last = meter.last_activity()
    return last is None or last >= start


def run_chart(outcome: Any) -> CostChart | None:
    from lexbrief.costs.chart import chart_for_run
    from lexbrief.costs.pricing import load_pricing

    if outcome.cost is None:
        return None
    return chart_for_run(outcome.cost, load_pricing(), prompt_tokens=outcome.run.prompt_tokens,
                         completion_tokens=outcome.run.completion_tokens,
                         document=outcome.summary.document.name,
                         energy_method=outcome.run.energy.method)


def period_chart(store: Store, period: str) -> CostChart | None:
    """The chart of the current day, week or month (local time), of the matter of the latest
    summary filed under one, or of everything (a database operation: it reads the ledger)."""
    import datetime as dt

    from lexbrief.costs.chart import chart_for_period
    from lexbrief.costs.ledger import matter_entries, overall, period_key, totals
    from lexbrief.costs.pricing import load_pricing
    from lexbrief.settings import load_settings

    pricing = load_pricing()
    settings = load_settings()
    price = pricing.model(settings.cloud_model or None)
    items = store.ledger_entries()
    if period == "matter":
        named = [e.matter for e in items if e.matter]
        if not named:
            return None
        ours = matter_entries(items, named[-1])
        return chart_for_period(overall(totals(ours, "all", price, pricing), pricing), pricing,
                                price_per_kwh=settings.electricity_price_per_kwh,
                                currency=settings.currency, chosen=price.key,
                                label=f"the matter {named[-1]}")
    current = period_key(dt.datetime.now(dt.UTC), period)
    chosen = [t for t in totals(items, period, price, pricing) if t.period == current]
    if not chosen:
        return None
    label = dict(PERIODS)[period].lower() if period != "all" else "all summaries"
    return chart_for_period(chosen[0], pricing, price_per_kwh=settings.electricity_price_per_kwh,
                            currency=settings.currency, chosen=price.key,
                            label=f"{label} ({current})" if period != "all" else label)
