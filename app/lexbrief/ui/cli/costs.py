"""`lexbrief costs`: the cost ledger's totals per period, and savings against a cloud model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lexbrief.costs.ledger import PERIODS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "costs", help="energy and cost of the summaries so far, compared with a cloud model",
        description="Totals of the cost ledger (one entry per summary) per period, with what "
                    "the same tokens would cost on a cloud model. Prices: pricing.toml.")
    p.add_argument("-p", "--period", choices=PERIODS, default="month",
                   help="group by day, week or month (local time), by client matter, or all "
                        "(default: month)")
    p.add_argument("--matter", metavar="NAME",
                   help="only the summaries of this client matter (`lexbrief summarize "
                        "--matter NAME` files them); with --plot, its chart")
    p.add_argument("-c", "--cloud", metavar="MODEL",
                   help="cloud model to compare with (default: settings' cloud_model, else the "
                        "pricing file's default); see --prices")
    p.add_argument("--prices", action="store_true",
                   help="list the cloud models and prices instead, and where the file is")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also draw the latest period (or everything, with --period all) as a "
                        "bar chart: this computer vs 3-5 cloud models, the chosen one "
                        "highlighted (needs matplotlib: extra 'bench')")
    p.set_defaults(func=run)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                      for i, cell in enumerate(row)).rstrip() for row in rows]


def run_prices(args: argparse.Namespace) -> int:
    from lexbrief.costs.pricing import load_pricing
    from lexbrief.paths import data_dir

    pricing = load_pricing()
    if args.json:
        print(json.dumps({
            "file": str(pricing.path), "default_cloud_model": pricing.default_cloud_model,
            "cloud_tokens_per_local_token": pricing.cloud_tokens_per_local_token,
            "models": {k: {"provider": m.provider, "name": m.name,
                           "input_usd_per_mtok": m.input_usd_per_mtok,
                           "output_usd_per_mtok": m.output_usd_per_mtok,
                           "as_of": m.as_of.isoformat(), "source": m.source}
                       for k, m in pricing.models.items()}}, indent=2))
        return 0
    rows = [["model", "provider", "in $/1M", "out $/1M", "as of", "source"]]
    rows += [[k + (" *" if k == pricing.default_cloud_model else ""), m.provider,
              f"{m.input_usd_per_mtok:.2f}", f"{m.output_usd_per_mtok:.2f}",
              m.as_of.isoformat(), m.source] for k, m in pricing.models.items()]
    print("\n".join(_table(rows, {2, 3})))
    print(f"\n* default. Prices from {pricing.path}; to change them copy it to "
          f"{data_dir() / 'pricing.toml'} and edit the copy.")
    return 0


def run(args: argparse.Namespace) -> int:
    from lexbrief.costs.card import energy, money
    from lexbrief.costs.ledger import NO_MATTER, matter_entries, overall, totals
    from lexbrief.costs.pricing import load_pricing
    from lexbrief.errors import UserFacingError
    from lexbrief.settings import load_settings
    from lexbrief.store import Store

    if args.prices:
        return run_prices(args)
    settings = load_settings()
    pricing = load_pricing()
    price = pricing.model(args.cloud or settings.cloud_model or None)
    store = Store()
    try:
        items = store.ledger_entries()
    finally:
        store.close()
    if args.matter is not None:
        items = matter_entries(items, args.matter)
        if not items:
            raise UserFacingError(f"no summary in the cost ledger is filed under the matter "
                                  f"'{args.matter}' (`lexbrief costs --period matter` lists "
                                  "the matters).")
    per_period = totals(items, args.period, price, pricing)
    grand = overall(per_period, pricing)
    plotted = ""
    if args.plot is not None:
        if not per_period:
            raise UserFacingError("nothing to plot: the cost ledger is empty "
                                  "(`lexbrief summarize FILE` adds a summary).")
        from lexbrief.costs.chart import chart_for_period, plot_png

        if args.matter is not None:  # that matter, all its summaries
            latest, label = grand, f"the matter {items[0].matter}"
        elif args.period == "matter":  # the matter of the latest summary
            key = items[-1].matter or NO_MATTER
            latest = next(t for t in per_period if t.period == key)
            label = f"the matter {key}" if items[-1].matter else "the summaries of no matter"
        else:
            latest = per_period[-1]
            label = ("all summaries" if args.period == "all"
                     else f"the {args.period} {latest.period}")
        plotted = latest.period if args.matter is None else str(items[0].matter)
        plot_png(chart_for_period(latest, pricing,
                                  price_per_kwh=settings.electricity_price_per_kwh,
                                  currency=settings.currency, chosen=price.key, label=label),
                 args.plot)
    if args.json:
        print(json.dumps({
            "period": args.period, "matter": args.matter, "cloud_model": price.key,
            "cloud_prices": {"input_usd_per_mtok": price.input_usd_per_mtok,
                             "output_usd_per_mtok": price.output_usd_per_mtok,
                             "as_of": price.as_of.isoformat(), "source": price.source,
                             "cloud_tokens_per_local_token": price.cloud_tokens_per_local_token},
            "periods": [t.as_dict() for t in per_period], "total": grand.as_dict(),
        }, indent=2))
        return 0
    if not items:
        print("No summaries in the cost ledger yet: `lexbrief summarize FILE` adds one.")
        return 0

    def local_text(amounts: dict[str, float]) -> str:
        return " + ".join(money(v, c) for c, v in sorted(amounts.items())) or "n/a"

    rows = [["matter" if args.period == "matter" else "period", "runs", "prompt tok",
             "output tok", "energy", "local cost", f"{price.name} cost", "saved"]]
    shown = per_period if args.period == "all" else [*per_period, grand]
    for t in shown:
        estimated = " (est.)" if t.estimated_runs else ""
        rows.append([t.period, str(t.runs), f"{t.prompt_tokens:,}", f"{t.completion_tokens:,}",
                     energy(t.energy_wh if t.runs > t.unknown_energy_runs else None) + estimated,
                     local_text(t.local_cost), money(t.cloud_usd),
                     money(t.savings_usd) if t.savings_usd is not None else "n/a"])
    lines = _table(rows, {1, 2, 3, 4, 5, 6, 7})
    width = max(len(line) for line in lines)
    lines.insert(1, "-" * width)
    if args.period != "all":
        lines.insert(len(lines) - 1, "-" * width)
    by = ("since the first run" if args.period == "all" else "by client matter"
          if args.period == "matter" else f"by {args.period} (local time)")
    of = f" of the matter {items[0].matter}" if args.matter is not None else ""
    print(f"Cost ledger{of} {by}, against {price.name} ({price.provider})\n")
    print("\n".join(lines))
    notes = [
        f"Energy: measured in {grand.runs - grand.estimated_runs - grand.unknown_energy_runs} "
        f"run(s), estimated from the power model in {grand.estimated_runs}"
        + (f", unknown in {grand.unknown_energy_runs} (not counted)"
           if grand.unknown_energy_runs else "") + ".",
        f"Local cost: energy × the electricity price of the day of each run (now "
        f"{settings.electricity_price_per_kwh:g} {settings.currency}/kWh in settings)"
        + (" + hardware amortisation" if pricing.hardware.enabled else "") + ".",
        f"Cloud cost: the same calls' tokens at ${price.input_usd_per_mtok:.2f} in / "
        f"${price.output_usd_per_mtok:.2f} out per 1M tokens (prices of "
        f"{price.as_of.isoformat()}, {price.source}); 1 local token counted as "
        f"{price.cloud_tokens_per_local_token:g} cloud token (see {pricing.path.name}).",
    ]
    if grand.uncosted_runs:
        notes.append(f"{grand.uncosted_runs} run(s) have no local cost and are left out of "
                     "'saved'.")
    if grand.savings_usd is None:
        notes.append(f"'saved' needs an exchange rate to USD in [exchange_rates] of "
                     f"{pricing.path}.")
    if args.plot is not None:
        notes.append(f"Chart of {plotted}: {args.plot}")
    print("\n" + "\n".join(notes))
    return 0
