"""The short hardware + cost card printed after each summary (and reused by the window)."""

from __future__ import annotations

import math

from lexbrief.costs.compare import CostComparison
from lexbrief.machine.telemetry.run import RunRecord
from lexbrief.machine.telemetry.speed import usage_text
from lexbrief.units import mib_text


def money(amount: float | None, currency: str = "USD") -> str:
    """Three significant digits for tiny amounts (0.00000421 USD), cents for larger ones."""
    if amount is None:
        return "n/a"
    if amount == 0:
        return f"0 {currency}"
    magnitude = math.floor(math.log10(abs(amount)))
    decimals = min(10, max(2, 2 - magnitude))
    return f"{amount:,.{decimals}f} {currency}"


def energy(wh: float | None) -> str:
    if wh is None:
        return "n/a"
    if wh == 0:
        return "0 Wh"
    magnitude = math.floor(math.log10(abs(wh)))
    return f"{wh:.{min(8, max(1, 2 - magnitude))}f} Wh"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def hardware_line(record: RunRecord) -> str:
    rss = mib_text(record.peak_rss_bytes)
    cpu = "n/a" if record.mean_cpu_percent is None else f"{record.mean_cpu_percent:.0f}%"
    own = ("" if record.mean_process_cpu_percent is None
           else f", LexBrief {record.mean_process_cpu_percent:.0f}%")
    cpu_text = f"CPU {cpu} of {record.cpu_count} CPUs{own}"
    if record.gpus:
        gpus = " · ".join(
            f"GPU{g.index} {g.name}"
            + ("" if g.mean_utilization_percent is None
               else f" {g.mean_utilization_percent:.0f}%")
            + ("" if g.peak_vram_bytes is None else f" peak {g.peak_vram_bytes / 2**30:.1f} GiB")
            for g in record.gpus)
    else:
        gpus = "GPU none"
    run = usage_text(record.prompt_tokens, record.completion_tokens, record, record.wall_seconds)
    return (f"hardware: {run} · first token after "
            f"{_seconds(record.time_to_first_token_seconds)} · peak RSS {rss} · {cpu_text} · "
            f"{gpus}")


def energy_line(record: RunRecord) -> str:
    e = record.energy
    return f"energy:   {energy(e.wh)} {e.label.upper()} — {e.method}"


def cost_line(comparison: CostComparison | None, error: str | None = None) -> str:
    if comparison is None:
        return f"cost:     not computed — {error or 'no pricing'}"
    local, cloud = comparison.local, comparison.cloud
    local_text = money(local.total, local.currency)
    if local.total is not None:
        how = "estimated" if local.energy_estimated else "measured"
        hardware = (f" + {money(local.hardware_cost, local.currency)} hardware"
                    if local.hardware_cost else "")
        local_text += (f" = {energy(local.energy_wh)} {how} × "
                       f"{local.electricity_price_per_kwh:g} {local.currency}/kWh{hardware}")
    saved = (money(comparison.savings_usd) if comparison.savings_usd is not None
             else f"n/a ({comparison.note})")
    return (f"cost:     local {local_text} · {cloud.name} would cost {money(cloud.usd)} "
            f"({cloud.input_tokens:,} in + {cloud.output_tokens:,} out tokens at "
            f"${cloud.input_usd_per_mtok:.2f}/${cloud.output_usd_per_mtok:.2f} per 1M, prices of "
            f"{cloud.as_of}; 1 local token = {cloud.tokens_per_local_token:g} cloud token) · "
            f"saved {saved}")


def card(record: RunRecord, comparison: CostComparison | None,
         cost_error: str | None = None) -> list[str]:
    return [hardware_line(record), energy_line(record), cost_line(comparison, cost_error)]
