"""Speed numbers that mean one thing each: reading and writing tokens per second of the machine,
the run's time beside them (machine.telemetry.speed), fed by the run monitor's engine wrapper."""

from __future__ import annotations

import pytest

from lexbrief.cancel import NEVER
from lexbrief.engine.contract import Abilities, GenerationParams, Message, ModelInfo, Usage
from lexbrief.machine.telemetry.run import RunMonitor
from lexbrief.machine.telemetry.sampler import Sampler
from lexbrief.machine.telemetry.speed import (
    SpeedMeter,
    current_meter,
    duration_text,
    live_text,
    run_text,
    speed_text,
    union_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_speed_line_reads_as_the_issue_asks() -> None:
    assert speed_text(121.4, 33.2, 95) == "reading 121 tok/s · writing 33 tok/s · 95 s"
    assert speed_text(None, 3.44, 725) == "writing 3.4 tok/s · 12 min 5 s"
    assert speed_text(None, None, 4.25) == "4.2 s"
    assert speed_text(1500.0, None) == "reading 1,500 tok/s"
    assert duration_text(3720) == "1 h 2 min"


def test_union_counts_overlapping_time_once() -> None:
    assert union_seconds([(0, 2), (1, 3), (5, 6)]) == pytest.approx(4.0)
    assert union_seconds([(4, 4), (2, 1)]) == 0.0
    assert union_seconds([]) == 0.0


def test_one_request_at_a_time_gives_the_engines_own_rates() -> None:
    clock = Clock()
    meter = SpeedMeter(clock)
    for n in range(30):  # 30 pieces over 1.5 s of writing, after 0.5 s of reading
        clock.now = 100.5 + n * 0.05
        meter.piece("a")
    clock.now = 102.0
    meter.finished("a", Usage(prompt_tokens=600, cached_prompt_tokens=100, completion_tokens=30,
                              prompt_seconds=0.5, generation_seconds=1.5))
    speed = meter.snapshot()
    assert speed.reading_tps == pytest.approx(500 / 0.5)
    assert speed.writing_tps == pytest.approx(30 / 1.5)


def test_parallel_replies_count_as_what_the_machine_did_not_one_sequences_share() -> None:
    """Four excerpts decoded at once, each writing 20 tokens over the same 2 s: the machine
    wrote 80 tokens in 2 s (40 tok/s), not 10 tok/s (one sequence's share)."""
    clock = Clock()
    meter = SpeedMeter(clock)
    clock.now = 103.0
    for i in range(4):
        meter.finished(i, Usage(prompt_tokens=250, completion_tokens=20, prompt_seconds=1.0,
                                generation_seconds=2.0))
    speed = meter.snapshot()
    assert speed.writing_tps == pytest.approx(40.0)
    assert speed.reading_tps == pytest.approx(1000 / 1.0)


def test_replies_still_being_written_count_live() -> None:
    clock = Clock()
    meter = SpeedMeter(clock)
    for n in range(11):
        clock.now = 100.0 + n * 0.1
        meter.piece(("call", 0))
        meter.piece(("call", 1))
    speed = meter.snapshot()
    assert speed.writing_tokens == 22
    assert speed.writing_tps == pytest.approx(22 / 1.0)
    assert speed.reading_tps is None  # no prompt has reported yet: not shown as 0
    assert live_text(meter) == "writing 22 tok/s"


def test_series_spreads_tokens_over_the_seconds_they_took() -> None:
    clock = Clock()
    meter = SpeedMeter(clock)
    clock.now = 104.0
    meter.finished("a", Usage(prompt_tokens=300, completion_tokens=40, prompt_seconds=1.0,
                              generation_seconds=2.0))  # reading 101–102, writing 102–104
    reading, writing = meter.series(100.0, 105.0, 1.0)
    assert reading == pytest.approx([0, 300, 0, 0, 0])
    assert writing == pytest.approx([0, 0, 20, 20, 0])
    assert meter.last_activity() == 104.0


class _TwoReplies:
    """An engine whose reply carries its timing in its usage (as llama.cpp's do)."""

    info = ModelInfo(name="timed", path=None, context_length=512, trained_context=512)
    abilities = Abilities()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        return [text]

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return 10

    def chat(self, messages, params, cancel):  # type: ignore[no-untyped-def]
        seen.append(current_meter())
        yield from ["one ", "two ", "three"]
        yield Usage(prompt_tokens=120, completion_tokens=3, prompt_seconds=0.2,
                    generation_seconds=0.1)


seen: list[object] = []


def test_the_run_monitor_measures_what_passes_through_its_wrapper() -> None:
    seen.clear()
    sampler = Sampler(interval=60)
    monitor = RunMonitor(sampler)
    engine = monitor.wrap(_TwoReplies())  # type: ignore[arg-type]
    assert current_meter() is None
    with monitor:
        pieces = list(engine.chat([Message("user", "hi")], GenerationParams(), NEVER))
        assert current_meter() is monitor.speed  # the progress lines find it here
    assert current_meter() is None
    assert pieces[:3] == ["one ", "two ", "three"]
    assert seen == [monitor.speed]
    record = monitor.record(pieces[-1])  # type: ignore[arg-type]
    assert record.prompt_tokens_per_second == pytest.approx(120 / 0.2)
    assert record.generation_tokens_per_second == pytest.approx(3 / 0.1)
    assert run_text(record, 95) == "reading 600 tok/s · writing 30 tok/s · 95 s"
