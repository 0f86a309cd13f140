"""One run's accounting, for the service: watch the hardware, then price what it did.

    accountant = Accountant()              # reads pricing.toml and the settings once
    with (monitor := accountant.monitor()):
        summary = Pipeline(monitor.wrap(engine)).run(...)
    account = accountant.settle(monitor, summary.usage)
    store.save_summary(..., run_record=account.ledger_row(document_name, model_name))

A broken pricing file never stops a summary: the run is recorded without a cost comparison and
`cost_error` says why (`lexbrief costs` reports the same problem as an error).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lexbrief.costs.compare import CostComparison, compare
from lexbrief.costs.ledger import ledger_row
from lexbrief.costs.pricing import Pricing, PricingError, load_pricing
from lexbrief.engine.contract import Usage
from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.run import EnergyRecord, RunMonitor, RunRecord
from lexbrief.machine.telemetry.sampler import Sampler
from lexbrief.settings import Settings, load_settings


@dataclass(frozen=True)
class RunAccount:
    record: RunRecord
    cost: CostComparison | None
    cost_error: str | None
    currency: str

    def ledger_row(self, document_name: str, model_name: str,
                   matter: str | None = None) -> dict[str, Any]:
        return ledger_row(self.record, self.cost, document_name=document_name,
                          model_name=model_name, currency=self.currency, matter=matter)


class Accountant:
    def __init__(self, *, sampler: Sampler | None = None, settings: Settings | None = None,
                 pricing: Pricing | None = None) -> None:
        self.sampler = sampler
        self.error: str | None = None
        try:
            self.settings = settings or load_settings()
        except UserFacingError as exc:
            self.settings, self.error = Settings(), exc.message
        self.pricing = pricing
        if pricing is None:
            try:
                self.pricing = load_pricing()
            except PricingError as exc:
                self.error = exc.message

    def monitor(self) -> RunMonitor:
        power_model = self.pricing.power_model if self.pricing else None
        return RunMonitor(self.sampler, power_model=power_model)

    def settle(self, monitor: RunMonitor, usage: Usage, *,
               remote: str | None = None) -> RunAccount:
        """`remote`: the server the model ran on. Its energy cannot be measured from here, so
        it is unknown (never this computer's idle watts, never 0), and so is the local cost;
        the cloud price of the same tokens is still given."""
        record = monitor.record(usage)
        if remote:
            record = dataclasses.replace(record, energy=EnergyRecord(
                wh=None, estimated=False,
                method=f"the model ran on the server at {remote}, whose energy LexBrief "
                       "cannot measure from this computer"))
        cost, error = None, self.error
        if self.pricing is not None and error is None:
            try:
                cost = compare(record, self.pricing,
                               price_per_kwh=self.settings.electricity_price_per_kwh,
                               currency=self.settings.currency,
                               cloud_model=self.settings.cloud_model or None)
            except PricingError as exc:  # e.g. settings name a model the file lacks
                error = exc.message
        return RunAccount(record=record, cost=cost, cost_error=error,
                          currency=self.settings.currency)
