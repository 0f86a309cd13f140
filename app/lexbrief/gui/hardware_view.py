"""Live hardware panel (last five minutes at 1 Hz) and the cost of each run, local vs cloud."""

from __future__ import annotations

import html
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from lexbrief.gui.plot import LivePlot
from lexbrief.gui.tasks import run_in_background

log = logging.getLogger(__name__)


class _SampleRelay(QObject):
    sample = Signal(object)


class HardwareView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cpu = LivePlot("CPU (whole machine)", "%", maximum=100)
        self.ram = LivePlot("RAM used", "GB", color="#34a853")
        self.rss = LivePlot("LexBrief memory", "MB", color="#fbbc05")
        self.speed = LivePlot("Generation speed", "tok/s", color="#ea4335")
        self.gpu = LivePlot("GPU", "%", maximum=100, color="#a142f4")
        self.vram = LivePlot("GPU memory", "GB", color="#24c1e0")
        self.power = LivePlot("Power", "W", color="#ff6d01")
        grid = QGridLayout()
        for i, plot in enumerate((self.cpu, self.ram, self.rss, self.speed, self.gpu, self.vram,
                                  self.power)):
            grid.addWidget(plot, i // 2, i % 2)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.costs = QTextBrowser()
        self.costs.setPlaceholderText("The cost of each summary, here against the cloud, "
                                      "appears when a run finishes.")
        layout = QVBoxLayout(self)
        layout.addLayout(grid, 3)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("<b>Cost of the last summary</b>"))
        layout.addWidget(self.costs, 1)
        self._relay = _SampleRelay()
        self._relay.sample.connect(self._on_sample)
        self._sampler: Any = None
        self._unsubscribe: Any = None
        self._tokens_per_second: float | None = None
        self._card = ""

    def start(self) -> None:
        try:
            from lexbrief.telemetry.sampler import Sampler

            self._sampler = Sampler(interval=1.0).start()
        except Exception as exc:
            log.exception("telemetry unavailable")
            self.status.setText(f"Hardware readings are unavailable: {exc}")
            return
        self._unsubscribe = self._sampler.subscribe(self._relay.sample.emit)

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._sampler:
            self._sampler.stop()

    def set_speed(self, tokens_per_second: float | None) -> None:
        self._tokens_per_second = tokens_per_second

    def _on_sample(self, sample: Any) -> None:
        self.cpu.add(sample.cpu_percent)
        self.ram.add(sample.ram_used_bytes / 1e9)
        self.rss.add(sample.process_rss_bytes / 1e6 if sample.process_rss_bytes else None)
        self.speed.add(self._tokens_per_second)
        gpu = sample.gpus[0] if sample.gpus else None
        self.gpu.add(gpu.utilization_percent if gpu else None)
        self.vram.add(gpu.vram_used_bytes / 1e9 if gpu and gpu.vram_used_bytes else None)
        watts = sample.cpu_power_watts
        if gpu and gpu.power_watts is not None:
            watts = (watts or 0.0) + gpu.power_watts
        self.power.add(watts)
        missing = dict(sample.unavailable)
        # A plot of nothing helps nobody: hide what this computer cannot measure (the reasons
        # are listed below the plots).
        self.gpu.setVisible(gpu is not None)
        self.vram.setVisible(gpu is not None and gpu.vram_used_bytes is not None)
        self.power.setVisible(watts is not None or any(v is not None
                                                       for v in self.power.values))
        if missing:
            self.status.setText("Not measured on this computer: " + "; ".join(
                f"{name} ({why})" for name, why in sorted(missing.items())))

    @property
    def sampler(self) -> Any:
        return self._sampler

    def show_run(self, outcome: Any) -> None:
        """The run's hardware + cost card, then the ledger's running totals."""
        if getattr(outcome, "run", None) is None:
            return
        from lexbrief.costs.card import card

        lines = card(outcome.run, outcome.cost, outcome.cost_error)
        self._card = f"{outcome.summary.document.name}\n" + "\n".join(lines)
        self.costs.setHtml("<pre style='white-space:pre-wrap'>" + html.escape(self._card)
                           + "</pre>")
        run_in_background(_ledger_totals, self._show_totals)

    def _show_totals(self, text: str) -> None:
        self.costs.setHtml("<pre style='white-space:pre-wrap'>" + html.escape(
            f"{self._card}\n\n{text}") + "</pre>")


def _ledger_totals() -> str:
    from lexbrief.costs.ledger import entries, overall, totals
    from lexbrief.costs.pricing import load_pricing
    from lexbrief.settings import load_settings
    from lexbrief.store import Store

    pricing = load_pricing()
    price = pricing.model(load_settings().cloud_model or None)
    store = Store()
    try:
        grand = overall(totals(entries(store.db), "all", price, pricing), pricing)
    finally:
        store.close()
    local = ", ".join(f"{amount:.5f} {currency}" for currency, amount in
                      grand.local_cost.items()) or "n/a"
    saved = f"{grand.savings_usd:.4f} USD" if grand.savings_usd is not None else "n/a"
    estimated = f" ({grand.estimated_runs} estimated)" if grand.estimated_runs else ""
    return (f"All summaries so far: {grand.runs} runs, {grand.energy_wh:.3f} Wh{estimated}, "
            f"local cost {local}; the same tokens on {price.provider} {price.name} would cost "
            f"{grand.cloud_usd:.4f} USD · saved {saved}")
