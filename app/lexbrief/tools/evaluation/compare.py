"""Two eval runs side by side, row by row: is the difference more than noise?

A paired bootstrap (Efron & Tibshirani; Koehn 2004 for summaries and translations): the rows
both runs scored are resampled with replacement many times, and each metric's difference
(second run minus first) is recomputed on every resample. The 95 % interval of those differences
says how far the difference could move with other documents of the same kind; an interval that
holds 0 means "within noise" on these rows. Metrics: ROUGE-1/2/L F1 (mean over rows), facts in
source of what the window shows (pooled: supported / stated), and wall time (ratio of totals).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lexbrief.errors import UserFacingError

Row = dict[str, Any]
Statistic = Callable[[Sequence[Row]], float | None]


def _mean_of(path: tuple[str, ...]) -> Statistic:
    def statistic(rows: Sequence[Row]) -> float | None:
        values = []
        for row in rows:
            value: Any = row
            for key in path:
                value = value[key]
            values.append(float(value))
        return statistics.fmean(values) if values else None
    return statistic


def _pooled_shown(rows: Sequence[Row]) -> float | None:
    total = sum(r["faithfulness_shown"]["total"] for r in rows)
    return sum(r["faithfulness_shown"]["supported"] for r in rows) / total if total else None


def _total_seconds(rows: Sequence[Row]) -> float | None:
    return sum(float(r["seconds"]) for r in rows)


# name: (statistic, how two values compare: "diff" = second - first, "ratio" = second / first)
METRICS: dict[str, tuple[Statistic, str]] = {
    "rouge1_f1": (_mean_of(("rouge", "rouge1", "f1")), "diff"),
    "rouge2_f1": (_mean_of(("rouge", "rouge2", "f1")), "diff"),
    "rougeL_f1": (_mean_of(("rouge", "rougeL", "f1")), "diff"),
    "facts_in_source_shown": (_pooled_shown, "diff"),
    "seconds": (_total_seconds, "ratio"),
}


@dataclass(frozen=True)
class Comparison:
    metric: str
    kind: str  # "diff" or "ratio"
    first: float | None
    second: float | None
    observed: float | None  # second - first, or second / first
    low: float | None  # the 95 % bootstrap interval of `observed`
    high: float | None
    rows: int

    @property
    def within_noise(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        neutral = 1.0 if self.kind == "ratio" else 0.0
        return self.low <= neutral <= self.high

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)
        return {"metric": self.metric, "kind": self.kind, "first": r(self.first),
                "second": r(self.second), "observed": r(self.observed), "low": r(self.low),
                "high": r(self.high), "rows": self.rows, "within_noise": self.within_noise}


def _relate(first: float | None, second: float | None, kind: str) -> float | None:
    if first is None or second is None:
        return None
    if kind == "ratio":
        return second / first if first else None
    return second - first


def paired_rows(first: dict[str, Any], second: dict[str, Any], first_strategy: str,
                second_strategy: str) -> list[tuple[Row, Row]]:
    """Rows scored in both runs (same file and id), in the first run's order."""
    def rows(result: dict[str, Any], strategy: str) -> dict[tuple[str, str], Row]:
        return {(r["file"], r["id"]): r for r in result.get("rows", [])
                if r.get("strategy") == strategy and "rouge" in r}
    a, b = rows(first, first_strategy), rows(second, second_strategy)
    pairs = [(a[key], b[key]) for key in a if key in b]
    if not pairs:
        raise UserFacingError(
            f"the two runs have no row in common (strategy {first_strategy} in the first, "
            f"{second_strategy} in the second): compare runs over the same reference files")
    return pairs


def compare(first: dict[str, Any], second: dict[str, Any], *,
            first_strategy: str = "mapreduce", second_strategy: str = "mapreduce",
            resamples: int = 10_000, seed: int = 0) -> list[Comparison]:
    pairs = paired_rows(first, second, first_strategy, second_strategy)
    rng = random.Random(seed)
    n = len(pairs)
    samples = [[rng.randrange(n) for _ in range(n)] for _ in range(resamples)]
    out = []
    for metric, (statistic, kind) in METRICS.items():
        a_rows = [a for a, _ in pairs]
        b_rows = [b for _, b in pairs]
        a_value, b_value = statistic(a_rows), statistic(b_rows)
        observed = _relate(a_value, b_value, kind)
        moved = []
        for picks in samples:
            value = _relate(statistic([a_rows[i] for i in picks]),
                            statistic([b_rows[i] for i in picks]), kind)
            if value is not None:
                moved.append(value)
        moved.sort()
        low = moved[int(0.025 * (len(moved) - 1))] if moved else None
        high = moved[int(0.975 * (len(moved) - 1))] if moved else None
        out.append(Comparison(metric, kind, a_value, b_value, observed, low, high, n))
    return out


def comparison_table(first_label: str, second_label: str, rows: list[Comparison]) -> str:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"
    lines = [f"first:  {first_label}", f"second: {second_label}",
             f"paired bootstrap over {rows[0].rows if rows else 0} rows, 95 % interval",
             f"{'metric':24}{'first':>8} {'second':>8} {'change':>9} {'interval':>19}  verdict"]
    for c in rows:
        sign = "×" if c.kind == "ratio" else ("+" if (c.observed or 0) >= 0 else "")
        change = "n/a" if c.observed is None else (
            f"{c.observed:.3f}×" if c.kind == "ratio" else f"{sign}{c.observed:.3f}")
        interval = f"[{num(c.low)}, {num(c.high)}]"
        verdict = {None: "n/a", True: "within noise", False: "a real difference"}[c.within_noise]
        lines.append(f"{c.metric:24}{num(c.first):>8} {num(c.second):>8} {change:>9} "
                     f"{interval:>19}  {verdict}")
    lines.append("change: second − first (seconds: second / first) · within noise: the interval "
                 "holds no change")
    return "\n".join(lines) + "\n"
