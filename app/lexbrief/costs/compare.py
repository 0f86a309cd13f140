"""Cost arithmetic: what a run cost here, and what the same work would cost on a cloud model.

local  = energy (kWh) × electricity price (settings) + hours × hardware price / lifetime hours
cloud  = converted prompt tokens × input price + converted generated tokens × output price,
         prices per 1M tokens, converted tokens = round(local tokens × conversion factor)
saved  = cloud (USD) − local (converted to USD with pricing.toml's exchange rate)
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from lexbrief.costs.pricing import CloudPrice, Hardware, Pricing
from lexbrief.machine.telemetry.run import RunRecord


@dataclass(frozen=True)
class CloudCost:
    model: str
    provider: str
    name: str
    input_tokens: int  # in the cloud tokenizer (converted)
    output_tokens: int
    tokens_per_local_token: float
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    as_of: str  # ISO date of the prices
    source: str
    usd: float


@dataclass(frozen=True)
class LocalCost:
    currency: str
    electricity_price_per_kwh: float
    energy_wh: float | None
    energy_estimated: bool
    energy_cost: float | None  # None: the energy is unknown
    hardware_cost: float  # 0 when amortisation is off
    total: float | None


@dataclass(frozen=True)
class CostComparison:
    local: LocalCost
    cloud: CloudCost
    savings_usd: float | None  # cloud − local; None with `note` saying why
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostComparison:
        return cls(local=LocalCost(**data["local"]), cloud=CloudCost(**data["cloud"]),
                   savings_usd=data.get("savings_usd"), note=data.get("note", ""))


def cloud_cost(prompt_tokens: int, completion_tokens: int, price: CloudPrice) -> CloudCost:
    factor = price.cloud_tokens_per_local_token
    input_tokens = round(prompt_tokens * factor)
    output_tokens = round(completion_tokens * factor)
    usd = (input_tokens * price.input_usd_per_mtok
           + output_tokens * price.output_usd_per_mtok) / 1_000_000
    return CloudCost(model=price.key, provider=price.provider, name=price.name,
                     input_tokens=input_tokens, output_tokens=output_tokens,
                     tokens_per_local_token=factor,
                     input_usd_per_mtok=price.input_usd_per_mtok,
                     output_usd_per_mtok=price.output_usd_per_mtok,
                     as_of=price.as_of.isoformat(), source=price.source, usd=usd)


def local_cost(energy_wh: float | None, *, estimated: bool, wall_seconds: float,
               price_per_kwh: float, currency: str, hardware: Hardware) -> LocalCost:
    energy_cost = None if energy_wh is None else energy_wh / 1000 * price_per_kwh
    hardware_cost = hardware.per_hour * wall_seconds / 3600
    return LocalCost(currency=currency, electricity_price_per_kwh=price_per_kwh,
                     energy_wh=energy_wh, energy_estimated=estimated, energy_cost=energy_cost,
                     hardware_cost=hardware_cost,
                     total=None if energy_cost is None else energy_cost + hardware_cost)


def savings_usd(local: LocalCost, cloud_usd: float,
                pricing: Pricing) -> tuple[float | None, str]:
    if local.total is None:
        return None, "the local energy could not be measured or estimated"
    rate = pricing.usd_per_unit(local.currency)
    if rate is None:
        return None, (f"no exchange rate for {local.currency} in [exchange_rates] of "
                      f"{pricing.path}")
    return cloud_usd - local.total * rate, ""


def compare_numbers(*, prompt_tokens: int, completion_tokens: int, energy_wh: float | None,
                    energy_estimated: bool, wall_seconds: float, pricing: Pricing,
                    price_per_kwh: float, currency: str,
                    cloud_model: str | None = None) -> CostComparison:
    local = local_cost(energy_wh, estimated=energy_estimated, wall_seconds=wall_seconds,
                       price_per_kwh=price_per_kwh, currency=currency,
                       hardware=pricing.hardware)
    cloud = cloud_cost(prompt_tokens, completion_tokens, pricing.model(cloud_model))
    saved, note = savings_usd(local, cloud.usd, pricing)
    return CostComparison(local=local, cloud=cloud, savings_usd=saved, note=note)


def compare(record: RunRecord, pricing: Pricing, *, price_per_kwh: float, currency: str,
            cloud_model: str | None = None) -> CostComparison:
    comparison = compare_numbers(
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        energy_wh=record.energy.wh, energy_estimated=record.energy.estimated,
        wall_seconds=record.wall_seconds, pricing=pricing, price_per_kwh=price_per_kwh,
        currency=currency, cloud_model=cloud_model)
    if record.energy.wh is None and record.energy.method:  # say why (e.g. it ran on a server)
        comparison = dataclasses.replace(comparison,
                                         note=f"energy unknown: {record.energy.method}")
    return comparison
