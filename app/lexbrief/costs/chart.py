"""Cost at a glance: the bars of "this computer vs the same tokens on 3–5 cloud models", for one
summary or a period of the ledger, with the saving and every assumption in words. No Qt here: the
window draws these bars (lexbrief.ui.gui.cost_chart), `lexbrief costs --plot FILE.png` draws them
with matplotlib (`plot_png`), and the reports (Word, PDF) embed the PNG that `render_png` draws
with Pillow, a dependency of every install (matplotlib is only the "bench" extra's).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexbrief.costs.card import energy, money
from lexbrief.costs.compare import CostComparison, cloud_cost
from lexbrief.costs.ledger import PeriodTotal, RunCost
from lexbrief.costs.pricing import CloudPrice, Pricing, PricingError
from lexbrief.errors import StorageError, UserFacingError

MODELS_SHOWN = 5
LOCAL_LABEL = "This computer (electricity)"


@dataclass(frozen=True)
class Bar:
    label: str
    usd: float | None  # None: unknown (shown as such, not as 0)
    local: bool = False
    chosen: bool = False  # the cloud model the settings compare with
    detail: str = ""  # the assumptions behind this one bar (the hover text)


@dataclass(frozen=True)
class CostChart:
    title: str
    bars: list[Bar]
    saving: str  # one line: what the chosen cloud model would have cost more (or less)
    assumptions: str  # token ratio, electricity price, estimated or measured energy

    @property
    def chosen(self) -> Bar | None:
        return next((b for b in self.bars if b.chosen), None)

    @property
    def local(self) -> Bar | None:
        return next((b for b in self.bars if b.local), None)


def pick_models(pricing: Pricing, chosen: str | None, prompt_tokens: int,
                completion_tokens: int, count: int = MODELS_SHOWN) -> list[CloudPrice]:
    """The chosen model, the cheapest and the dearest for these tokens, and models spread
    evenly between them; cheapest first."""
    ranked = sorted(pricing.models.values(),
                    key=lambda m: (cloud_cost(prompt_tokens, completion_tokens, m).usd, m.key))
    picked = {pricing.model(chosen).key}
    if ranked:
        picked |= {ranked[0].key, ranked[-1].key}
    slots = max(2, count)
    for i in range(slots):
        if len(picked) >= count:
            break
        picked.add(ranked[round(i * (len(ranked) - 1) / (slots - 1))].key)
    return [m for m in ranked if m.key in picked][:max(count, 1)]


def _cloud_bars(pricing: Pricing, chosen: str | None, prompt_tokens: int,
                completion_tokens: int, local_usd: float | None) -> tuple[list[Bar], Bar]:
    chosen_key = pricing.model(chosen).key
    bars = []
    for price in pick_models(pricing, chosen, prompt_tokens, completion_tokens):
        cost = cloud_cost(prompt_tokens, completion_tokens, price)
        versus = ("" if local_usd is None
                  else f" That is {money(cost.usd - local_usd)} more than here.")
        bars.append(Bar(
            label=f"{price.name} ({price.provider})", usd=cost.usd,
            chosen=price.key == chosen_key,
            detail=(f"{price.name}: {cost.input_tokens:,} tokens in × "
                    f"${price.input_usd_per_mtok:.2f} + {cost.output_tokens:,} tokens out × "
                    f"${price.output_usd_per_mtok:.2f} per million = {money(cost.usd)} (list "
                    f"prices of {price.as_of.isoformat()}, {price.source}; 1 local token counted "
                    f"as {price.cloud_tokens_per_local_token:g} {price.provider} token).{versus}")))
    chosen_bar = next(b for b in bars if b.chosen)
    return bars, chosen_bar


def _saving_line(chosen: Bar, local_usd: float | None, why_unknown: str) -> str:
    name = chosen.label
    if local_usd is None or chosen.usd is None:
        return f"Saving against {name}: unknown — {why_unknown}."
    saved = chosen.usd - local_usd
    if saved >= 0:
        ratio = f", {chosen.usd / local_usd:,.0f}× what it cost here" if local_usd > 0 else ""
        return f"Saved {money(saved)} against {name}{ratio}."
    return f"{name} would have cost {money(-saved)} less than this computer."


def chart_for_run(comparison: CostComparison, pricing: Pricing, *, prompt_tokens: int,
                  completion_tokens: int, document: str, energy_method: str = "",
                  chosen: str | None = None) -> CostChart:
    """One summary: its local cost against the same calls' tokens on cloud models."""
    local = comparison.local
    rate = pricing.usd_per_unit(local.currency)
    local_usd = None if local.total is None or rate is None else local.total * rate
    how = "estimated" if local.energy_estimated else "measured"
    local_detail = (f"{energy(local.energy_wh)} {how} × {local.electricity_price_per_kwh:g} "
                    f"{local.currency}/kWh = {money(local.energy_cost, local.currency)}"
                    + (f" + {money(local.hardware_cost, local.currency)} hardware amortisation"
                       if local.hardware_cost else "")
                    + (f". {energy_method}" if energy_method else "."))
    cloud_bars, chosen_bar = _cloud_bars(pricing, chosen or comparison.cloud.model,
                                         prompt_tokens, completion_tokens, local_usd)
    why = comparison.note or f"no exchange rate for {local.currency} in {pricing.path.name}"
    bars = [Bar(LOCAL_LABEL, local_usd, local=True, detail=local_detail), *cloud_bars]
    assumptions = (f"Tokens: {prompt_tokens:,} read + {completion_tokens:,} written, the same "
                   f"calls sent to each cloud model. Electricity "
                   f"{local.electricity_price_per_kwh:g} {local.currency}/kWh; energy {how}"
                   + ("" if local.energy_estimated
                      else " by the CPU's (and GPU's) own counters")
                   + (" from the power model in pricing.toml" if local.energy_estimated else "")
                   + ".")
    return CostChart(title=f"Cost of the summary of {document}", bars=bars,
                     saving=_saving_line(chosen_bar, local_usd, why), assumptions=assumptions)


def chart_for_stored(run: RunCost, pricing: Pricing) -> CostChart | None:
    """A stored summary's chart, from its ledger row (None: the run was not costed), against
    the cloud model it was compared with when it ran (the pricing file's default if that model
    has left the file)."""
    if run.comparison is None:
        return None
    chosen: str | None = run.comparison.cloud.model
    try:
        pricing.model(chosen)
    except PricingError:
        chosen = None
    return chart_for_run(run.comparison, pricing, prompt_tokens=run.prompt_tokens,
                         completion_tokens=run.completion_tokens, document=run.document_name,
                         energy_method=run.energy_method, chosen=chosen)


def chart_for_period(total: PeriodTotal, pricing: Pricing, *, price_per_kwh: float,
                     currency: str, chosen: str | None = None,
                     label: str | None = None) -> CostChart:
    """A period of the ledger (a day, week, month or everything)."""
    local_usd: float | None = 0.0
    for unit, amount in total.local_cost.items():
        rate = pricing.usd_per_unit(unit)
        if rate is None or local_usd is None:
            local_usd = None
            continue
        local_usd += amount * rate
    if not total.local_cost:
        local_usd = None
    local_text = " + ".join(money(v, c) for c, v in sorted(total.local_cost.items())) or "n/a"
    measured = total.runs - total.estimated_runs - total.unknown_energy_runs
    energy_words = (f"{energy(total.energy_wh)} over {total.runs} summar"
                    f"{'y' if total.runs == 1 else 'ies'}: measured in {measured}, estimated "
                    f"from the power model in {total.estimated_runs}"
                    + (f", unknown in {total.unknown_energy_runs}"
                       if total.unknown_energy_runs else ""))
    cloud_bars, chosen_bar = _cloud_bars(pricing, chosen, total.prompt_tokens,
                                         total.completion_tokens, local_usd)
    bars = [Bar(LOCAL_LABEL, local_usd, local=True,
                detail=f"{energy_words}; local cost {local_text} at each day's electricity "
                       f"price."), *cloud_bars]
    uncosted = (f" {total.uncosted_runs} summar{'y' if total.uncosted_runs == 1 else 'ies'} "
                "without a local cost are left out of the local bar."
                if total.uncosted_runs else "")
    assumptions = (f"Tokens: {total.prompt_tokens:,} read + {total.completion_tokens:,} "
                   f"written in {total.runs} summar{'y' if total.runs == 1 else 'ies'}, the "
                   f"same calls sent to each cloud model. Electricity now {price_per_kwh:g} "
                   f"{currency}/kWh; energy {energy_words}.{uncosted}")
    why = (f"no exchange rate to USD in {pricing.path.name}" if total.local_cost
           else "no summary in this period has a local cost")
    return CostChart(title=f"Cost of {label or total.period}", bars=bars,
                     saving=_saving_line(chosen_bar, local_usd, why), assumptions=assumptions)


LOCAL_COLOR = "#188038"
CHOSEN_COLOR = "#d93025"
OTHER_COLOR = "#9aa0a6"


def bar_color(bar: Bar) -> str:
    return LOCAL_COLOR if bar.local else CHOSEN_COLOR if bar.chosen else OTHER_COLOR


def plot_png(chart: CostChart, path: Path) -> Path:
    """The chart as a PNG with matplotlib (extra "bench"): horizontal bars in USD."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UserFacingError("--plot needs matplotlib: pip install 'lexbrief[bench]'") from exc
    bars = list(reversed(chart.bars))  # top to bottom: this computer first
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.55 * len(bars)), dpi=110)
    values = [b.usd or 0.0 for b in bars]
    axes.barh([b.label + ("  (chosen)" if b.chosen else "") for b in bars], values,
              color=[bar_color(b) for b in bars])
    top = max(values) if any(values) else 1.0
    for i, bar in enumerate(bars):
        axes.text((bar.usd or 0.0) + top * 0.01, i,
                  money(bar.usd) if bar.usd is not None else "unknown", va="center")
    axes.set_xlim(0, top * 1.25)
    axes.set_xlabel("US dollars")
    axes.set_title(f"{chart.title}\n{chart.saving}", fontsize=10)
    figure.text(0.01, 0.01, chart.assumptions, fontsize=7, wrap=True)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    try:
        figure.savefig(path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(figure)
    return path


_SYSTEM_FONTS = ("DejaVuSans.ttf", "arial.ttf", "Arial.ttf", "LiberationSans-Regular.ttf",
                 "Helvetica.ttc")
# Pillow's own font has no glyph for these: spelled out when it is the one drawing
_PLAIN = str.maketrans({"×": "x", "—": "-", "–": "-", "€": "EUR", "£": "GBP", "¥": "JPY",
                        "…": "...", "◀": "<"})


def _fonts(size: int, big: int) -> tuple[Any, Any, bool]:
    """A regular and a title font: a system font with the symbols the texts use (×, —, €),
    else Pillow's own (then those are spelled out: the third value)."""
    from PIL import ImageFont

    for name in _SYSTEM_FONTS:
        try:
            return ImageFont.truetype(name, size), ImageFont.truetype(name, big), False
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size), ImageFont.load_default(size=big), True
    except (ImportError, OSError, TypeError):  # a Pillow built without FreeType
        return ImageFont.load_default(), ImageFont.load_default(), True


def render_png(chart: CostChart, *, scale: int = 2) -> bytes:
    """The chart as PNG bytes for a report (Pillow, no Qt, no matplotlib): the title and one
    horizontal bar per cost with its amount (this computer first, the chosen cloud model marked
    and in its colour). 800 points wide × `scale` pixels: sharp at 16 cm on paper. The saving
    and the assumptions are the report's text under the image (selectable, searchable)."""
    from PIL import Image, ImageDraw

    s = scale
    font, bold, plain = _fonts(13 * s, 15 * s)

    def text(value: str) -> str:
        return value.translate(_PLAIN) if plain else value

    labels = [text(b.label + ("  (chosen)" if b.chosen else "")) for b in chart.bars]
    amounts = [text(money(b.usd) if b.usd is not None else "unknown") for b in chart.bars]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def width(text: str, f: Any = font) -> int:
        return int(probe.textlength(text, font=f))

    row, pad = 30 * s, 12 * s
    total_width = 800 * s
    label_width = max(width(label) for label in labels) + pad
    amount_width = max(width(a) for a in amounts) + pad
    left = pad + label_width
    bar_room = max(40 * s, total_width - left - amount_width - pad)
    top_value = max((b.usd or 0.0) for b in chart.bars) or 1.0
    title_height = 28 * s
    height = title_height + row * len(chart.bars) + 8 * s
    image = Image.new("RGB", (total_width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, 6 * s), text(chart.title), fill="#202124", font=bold)
    for i, (bar, label, amount) in enumerate(zip(chart.bars, labels, amounts, strict=True)):
        y = title_height + i * row
        middle = y + row // 2
        draw.text((pad, middle), label, fill="#202124", font=font, anchor="lm")
        length = 0 if bar.usd is None else max(2 * s, round(bar_room * bar.usd / top_value))
        draw.rectangle((left, y + 5 * s, left + length, y + row - 5 * s), fill=bar_color(bar))
        draw.text((left + length + 6 * s, middle), amount, fill="#202124", font=font,
                  anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
