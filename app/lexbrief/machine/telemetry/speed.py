"""Reading and writing speed, each meaning one thing, and the one line that shows them.

    reading tok/s = prompt tokens the model computed (not reused from its cache)
                    ÷ the seconds during which at least one prompt was being read
    writing tok/s = tokens the model generated
                    ÷ the seconds during which at least one reply was being written

Both are wall-clock rates of this machine. With several excerpts decoded at once (the parallel
map) they are what the machine did, not one sequence's share of it; for one request at a time
they equal llama.cpp's own prompt and generation speeds. The run's time is shown beside them,
never folded into them.

`SpeedMeter` collects the timings of one run from the engine's replies (`RunMonitor.wrap` feeds
it); while a run is going, `current_meter()` is its meter on the run's thread, so progress lines
show live figures. `SpeedMeter.series()` gives tokens per second over time for the live plots.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from lexbrief.engine.contract import Usage

_current: contextvars.ContextVar[SpeedMeter | None] = contextvars.ContextVar(
    "lexbrief_speed_meter", default=None)


def current_meter() -> SpeedMeter | None:
    """The meter of the run going on in this thread (inside `RunMonitor`), or None."""
    return _current.get()


@dataclass(frozen=True)
class Speed:
    reading_tokens: int = 0
    reading_seconds: float = 0.0
    writing_tokens: int = 0
    writing_seconds: float = 0.0

    @property
    def reading_tps(self) -> float | None:
        return _rate(self.reading_tokens, self.reading_seconds)

    @property
    def writing_tps(self) -> float | None:
        return _rate(self.writing_tokens, self.writing_seconds)


def _rate(tokens: int, seconds: float) -> float | None:
    return tokens / seconds if tokens > 0 and seconds > 0 else None


def rate_text(value: float | None) -> str:
    """121 tok/s; 3.4 tok/s below 10 (a big model on a small laptop is not 0 tok/s)."""
    if value is None:
        return "n/a"
    return f"{value:,.0f} tok/s" if value >= 10 else f"{value:.1f} tok/s"


def duration_text(seconds: float) -> str:
    """95 s (under two minutes); 12 min 5 s; 1 h 2 min."""
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def speed_text(reading_tps: float | None, writing_tps: float | None,
               seconds: float | None = None) -> str:
    """The one speed line of LexBrief: "reading 121 tok/s · writing 33 tok/s · 95 s".
    A part that is not known yet is left out rather than shown as 0."""
    parts = []
    if reading_tps is not None:
        parts.append(f"reading {rate_text(reading_tps)}")
    if writing_tps is not None:
        parts.append(f"writing {rate_text(writing_tps)}")
    if seconds is not None:
        parts.append(duration_text(seconds))
    return " · ".join(parts)


def live_text(meter: SpeedMeter | None = None) -> str:
    """The speed so far of the run going on in this thread (or of `meter`): progress lines."""
    meter = meter or current_meter()
    if meter is None:
        return ""
    speed = meter.snapshot()
    return speed_text(speed.reading_tps, speed.writing_tps)


def run_text(record: object, seconds: float) -> str:
    """The done line's speed: a finished run's RunRecord (None: its time only)."""
    return speed_text(getattr(record, "prompt_tokens_per_second", None),
                      getattr(record, "generation_tokens_per_second", None), seconds)


def usage_text(prompt_tokens: int, completion_tokens: int, record: object,
               seconds: float) -> str:
    """A finished run's tokens and speed, the one way LexBrief writes them (the CLI's card and
    the window's footer via lexbrief.summarize.stats, the hardware line of the cost card):
    "12,345 prompt + 678 generated tokens · reading 121 tok/s · writing 33 tok/s · 95 s"."""
    return (f"{prompt_tokens:,} prompt + {completion_tokens:,} generated tokens · "
            f"{run_text(record, seconds)}")


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) intervals."""
    total = 0.0
    end_so_far: float | None = None
    start_so_far = 0.0
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if end_so_far is None or start > end_so_far:
            if end_so_far is not None:
                total += end_so_far - start_so_far
            start_so_far, end_so_far = start, end
        else:
            end_so_far = max(end_so_far, end)
    if end_so_far is not None:
        total += end_so_far - start_so_far
    return total


class SpeedMeter:
    """The reading and writing intervals of one run. Thread-safe: the run's thread adds, the
    window's thread reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._reading: list[tuple[float, float, int]] = []  # (start, end, tokens computed)
        self._writing: list[tuple[float, float, int]] = []  # finished replies
        self._open: dict[Hashable, list[float]] = {}  # reply → [first piece, last piece, n]

    # -- fed by the engine wrapper (the run's thread) -----------------------------------------
    def piece(self, reply: Hashable) -> None:
        """A piece of generated text of `reply` arrived (about one token)."""
        now = self.clock()
        with self._lock:
            entry = self._open.get(reply)
            if entry is None:
                self._open[reply] = [now, now, 1.0]
            else:
                entry[1] = now
                entry[2] += 1

    def finished(self, reply: Hashable, usage: Usage) -> None:
        """`reply` ended now with `usage` (its prompt and generation seconds, from the engine,
        place its reading and writing intervals on the clock)."""
        now = self.clock()
        first = now - max(0.0, usage.generation_seconds)
        admitted = first - max(0.0, usage.prompt_seconds)
        computed = max(0, usage.prompt_tokens - usage.cached_prompt_tokens)
        with self._lock:
            self._open.pop(reply, None)
            if computed:
                self._reading.append((admitted, first, computed))
            if usage.completion_tokens:
                self._writing.append((first, now, usage.completion_tokens))

    # -- read by anyone -----------------------------------------------------------------------
    def snapshot(self) -> Speed:
        """Everything so far: finished replies, and the pieces of those still being written."""
        with self._lock:
            reading = list(self._reading)
            writing = list(self._writing) + [(a, b, int(n)) for a, b, n in self._open.values()]
        return Speed(reading_tokens=sum(t for _a, _b, t in reading),
                     reading_seconds=union_seconds((a, b) for a, b, _t in reading),
                     writing_tokens=sum(t for _a, _b, t in writing),
                     writing_seconds=union_seconds((a, b) for a, b, _t in writing))

    def last_activity(self) -> float | None:
        """When this meter last saw reading or writing (its clock), or None: nothing yet."""
        with self._lock:
            ends = [b for _a, b, _t in self._reading] + [b for _a, b, _t in self._writing]
            ends += [entry[1] for entry in self._open.values()]
        return max(ends) if ends else None

    def series(self, start: float, end: float, step: float = 1.0
               ) -> tuple[list[float], list[float]]:
        """Reading and writing tokens per second in each `step`-second bin of [start, end),
        each interval's tokens spread evenly over it (on this meter's clock)."""
        bins = max(0, round((end - start) / step))
        reading = [0.0] * bins
        writing = [0.0] * bins
        with self._lock:
            intervals = [(reading, self._reading), (writing, self._writing),
                         (writing, [(a, b, int(n)) for a, b, n in self._open.values()])]
            for target, items in intervals:
                for a, b, tokens in items:
                    _spread(target, a, b, tokens, start, step)
        return reading, writing


def _spread(target: list[float], a: float, b: float, tokens: int, start: float,
            step: float) -> None:
    if not target or tokens <= 0:
        return
    if b - a <= 1e-9:  # an instant: all of it in one bin
        index = int((a - start) // step)
        if 0 <= index < len(target):
            target[index] += tokens / step
        return
    density = tokens / (b - a)  # tokens per second of the interval
    first = max(0, int((a - start) // step))
    last = min(len(target) - 1, int((b - start) // step))
    for index in range(first, last + 1):
        lo = max(a, start + index * step)
        hi = min(b, start + (index + 1) * step)
        if hi > lo:
            target[index] += density * (hi - lo) / step


class MeterScope:
    """Makes `meter` the current one on this thread between `enter()` and `exit()`."""

    def __init__(self, meter: SpeedMeter) -> None:
        self.meter = meter
        self._token: contextvars.Token[SpeedMeter | None] | None = None

    def enter(self) -> None:
        self._token = _current.set(self.meter)

    def exit(self) -> None:
        if self._token is None:
            return
        try:
            _current.reset(self._token)
        except ValueError:  # stopped from another context: at least forget this meter there
            _current.set(None)
        self._token = None
