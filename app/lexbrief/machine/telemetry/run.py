"""What the hardware did during one summary: the per-run record.

    monitor = RunMonitor()
    with monitor:
        summary = Pipeline(monitor.wrap(engine)).run(...)
    record = monitor.record(summary.usage)

From the engine: tokens, speeds, time to the first generated token. From the machine: peak RSS
(sampled, plus readings at the start and the end), mean CPU (exact, from CPU-time counters at
the start and the end), GPU peaks, and energy — measured (RAPL CPU package counters, NVML or
amdgpu GPU counters) where the machine allows, otherwise estimated from a stated power model
and flagged `estimated`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from lexbrief.engine.contract import CallKey, Engine, EngineWrapper, Message, Usage
from lexbrief.machine.telemetry.rapl import PERMISSION_HINT
from lexbrief.machine.telemetry.sampler import Sampler, cpu_busy_fraction, process_cpu_seconds
from lexbrief.machine.telemetry.samples import Sample
from lexbrief.machine.telemetry.speed import MeterScope, SpeedMeter

JOULES_PER_WH = 3600.0


@dataclass(frozen=True)
class PowerModel:
    """Estimated CPU power when it cannot be measured: full-load watts × the mean share of all
    cores this process used during the run.

    Full-load watts = `cpu_full_load_watts` when set, else physical cores × `watts_per_core`.
    5 W per core is near a laptop chip at its sustained limit (e.g. 28 W for 6 cores, 45 W for
    8); the rest of the machine (screen, memory, idle draw) is not included. Editable in
    pricing.toml, [power_model].
    """

    watts_per_core: float = 5.0
    cpu_full_load_watts: float = 0.0  # 0: cores × watts_per_core

    def full_load_watts(self, physical_cores: int) -> float:
        if self.cpu_full_load_watts > 0:
            return self.cpu_full_load_watts
        return self.watts_per_core * max(1, physical_cores)

    def describe(self, physical_cores: int) -> str:
        if self.cpu_full_load_watts > 0:
            return f"{self.cpu_full_load_watts:g} W at full load"
        return (f"{physical_cores} core{'s' if physical_cores != 1 else ''} × "
                f"{self.watts_per_core:g} W at full load")


@dataclass(frozen=True)
class EnergyRecord:
    wh: float | None  # CPU + GPU; None: not even an estimate was possible
    estimated: bool
    method: str  # one sentence: how the figure was obtained
    cpu_wh: float | None = None
    cpu_source: str | None = None  # "rapl" (measured) or "power model" (estimated)
    gpu_wh: float | None = None
    gpu_source: str | None = None  # "nvml energy", "amdgpu energy" or "sampled power"

    @property
    def label(self) -> str:
        if self.wh is None:
            return "unknown"
        return "estimated" if self.estimated else "measured"


@dataclass(frozen=True)
class GpuRunStats:
    index: int
    name: str
    vendor: str
    peak_vram_bytes: int | None
    mean_utilization_percent: float | None
    energy_wh: float | None
    energy_source: str | None  # "NVML energy counter", "amdgpu energy counter", "sampled power"


@dataclass(frozen=True)
class RunRecord:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    prompt_seconds: float  # prompt processing, all model calls
    generation_seconds: float
    # Reading and writing speed (lexbrief.machine.telemetry.speed): wall-clock rates of the machine.
    prompt_tokens_per_second: float | None
    generation_tokens_per_second: float | None
    time_to_first_token_seconds: float | None  # run start → first generated token
    wall_seconds: float
    peak_rss_bytes: int | None
    mean_cpu_percent: float | None  # whole machine, 0–100
    mean_process_cpu_percent: float | None  # this process, share of all cores, 0–100
    cpu_count: int
    physical_cores: int
    gpus: list[GpuRunStats]
    energy: EnergyRecord
    samples: int
    sampler_cpu_seconds: float
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        values = dict(data)
        values["gpus"] = [GpuRunStats(**g) for g in values.get("gpus", [])]
        values["energy"] = EnergyRecord(**values["energy"])
        return cls(**values)


class _TimedEngine(EngineWrapper):
    """Notes when the first generated text arrives, and times each reply's reading and writing
    (the monitor's SpeedMeter)."""

    def __init__(self, engine: Engine, monitor: RunMonitor) -> None:
        super().__init__(engine)
        self._monitor = monitor

    def observe(self, key: CallKey, messages: list[Message], item: str | Usage) -> None:
        meter = self._monitor.speed
        if isinstance(item, str):
            if item:
                meter.piece(key)
                if self._monitor.first_token_at is None:
                    self._monitor.first_token_at = time.perf_counter()
        else:
            meter.finished(key, item)


class RunMonitor:
    """Watches one run. Uses the given sampler (a running one stays running) or its own."""

    def __init__(self, sampler: Sampler | None = None, *,
                 power_model: PowerModel | None = None, interval: float = 1.0) -> None:
        self.sampler = sampler or Sampler(interval)
        self.power_model = power_model or PowerModel()
        self._owns_sampler = not self.sampler.running
        self._samples: list[Sample] = []
        self._unsubscribe: Any = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.first_token_at: float | None = None
        self._cpu_times: tuple[Any, Any] | None = None
        self._process_seconds: tuple[float | None, float | None] = (None, None)
        self._sampler_cpu_start = 0.0
        self._sampler_cpu = 0.0
        self._physical_cores = 0
        self.speed = SpeedMeter()  # reading / writing speed of the wrapped engine's replies
        self._speed_scope = MeterScope(self.speed)

    def wrap(self, engine: Engine) -> Engine:
        return _TimedEngine(engine, self)

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> RunMonitor:
        if self._owns_sampler:
            self.sampler.start()
        self._sampler_cpu_start = self.sampler.overhead().cpu_seconds
        self._physical_cores = self.sampler.sensors.physical_cores
        self._unsubscribe = self.sampler.subscribe(self._samples.append)
        self._samples.append(self.sampler.sample_now())
        self._cpu_times = (psutil.cpu_times(), None)
        self._process_seconds = (self._own_seconds(), None)
        self.started_at = time.perf_counter()
        self._speed_scope.enter()
        return self

    def stop(self) -> None:
        if self.started_at is None or self.stopped_at is not None:
            return
        self.stopped_at = time.perf_counter()
        self._speed_scope.exit()
        self._cpu_times = (self._cpu_times[0] if self._cpu_times else None, psutil.cpu_times())
        self._process_seconds = (self._process_seconds[0], self._own_seconds())
        try:
            self._samples.append(self.sampler.sample_now())
        finally:
            if self._unsubscribe:
                self._unsubscribe()
            self._sampler_cpu = self.sampler.overhead().cpu_seconds - self._sampler_cpu_start
            if self._owns_sampler:
                self.sampler.stop()

    def __enter__(self) -> RunMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _own_seconds(self) -> float | None:
        try:
            return process_cpu_seconds(self.sampler.sensors.process)
        except psutil.Error:
            return None

    # -- the record ---------------------------------------------------------------------------
    def record(self, usage: Usage) -> RunRecord:
        if self.started_at is None:
            raise RuntimeError("the run monitor was never started")
        self.stop()
        assert self.stopped_at is not None
        wall = self.stopped_at - self.started_at
        samples = sorted(self._samples, key=lambda s: s.monotonic)
        cpu_count = samples[0].cpu_count
        physical = self._physical_cores or cpu_count
        unavailable = dict(samples[-1].unavailable)

        mean_cpu = None
        if self._cpu_times and self._cpu_times[1] is not None:
            busy = cpu_busy_fraction(self._cpu_times[0], self._cpu_times[1])
            mean_cpu = None if busy is None else busy * 100
        mean_process = None
        p0, p1 = self._process_seconds
        if p0 is not None and p1 is not None and wall > 0:
            mean_process = min(100.0, max(0.0, (p1 - p0) / (wall * cpu_count) * 100))
        rss = [s.process_rss_bytes for s in samples if s.process_rss_bytes is not None]

        gpus = _gpu_stats(samples)
        # The estimate charges this process's CPU share (what the summary used); RAPL, when
        # readable, measures the whole package, other programs included.
        share, label = ((mean_process, "LexBrief CPU share") if mean_process is not None
                        else (mean_cpu, "machine CPU"))
        energy = _energy(samples, gpus, wall, share, label, physical, self.power_model,
                         unavailable.get("cpu_energy"))
        computed_prompt = usage.prompt_tokens - usage.cached_prompt_tokens
        # Reading and writing speed as telemetry.speed defines them (wall-clock rates
        # of the machine); from the usage totals only when no reply went through `wrap`.
        speed = self.speed.snapshot()
        reading = speed.reading_tps
        if reading is None and usage.prompt_seconds > 0 and computed_prompt > 0:
            reading = computed_prompt / usage.prompt_seconds
        writing = speed.writing_tps
        if writing is None and usage.generation_seconds > 0 and usage.completion_tokens > 0:
            writing = usage.completion_tokens / usage.generation_seconds
        return RunRecord(
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            prompt_seconds=usage.prompt_seconds, generation_seconds=usage.generation_seconds,
            prompt_tokens_per_second=reading,
            generation_tokens_per_second=writing,
            time_to_first_token_seconds=(self.first_token_at - self.started_at
                                         if self.first_token_at is not None else None),
            wall_seconds=wall, peak_rss_bytes=max(rss) if rss else None,
            mean_cpu_percent=mean_cpu, mean_process_cpu_percent=mean_process,
            cpu_count=cpu_count, physical_cores=physical, gpus=gpus, energy=energy,
            samples=len(samples), sampler_cpu_seconds=self._sampler_cpu,
            unavailable=unavailable,
        )


def _gpu_stats(samples: list[Sample]) -> list[GpuRunStats]:
    by_index: dict[int, list[Any]] = {}
    for sample in samples:
        for gpu in sample.gpus:
            by_index.setdefault(gpu.index, []).append((sample.monotonic, gpu))
    stats = []
    for index, readings in sorted(by_index.items()):
        gpu_list = [g for _, g in readings]
        vram = [g.vram_used_bytes for g in gpu_list if g.vram_used_bytes is not None]
        util = [g.utilization_percent for g in gpu_list if g.utilization_percent is not None]
        first, last = gpu_list[0], gpu_list[-1]
        energy_j: float | None = None
        source: str | None = None
        if first.energy_joules is not None and last.energy_joules is not None:
            energy_j = max(0.0, last.energy_joules - first.energy_joules)
            source = ("NVML" if first.vendor == "nvidia" else "amdgpu") + " energy counter"
        else:
            powered = [(t, g.power_watts) for t, g in readings if g.power_watts is not None]
            if len(powered) >= 2:  # trapezoids between readings
                energy_j = sum((t1 - t0) * (w0 + w1) / 2
                               for (t0, w0), (t1, w1) in itertools.pairwise(powered))
                source = "sampled power"
        stats.append(GpuRunStats(
            index=index, name=first.name, vendor=first.vendor,
            peak_vram_bytes=max(vram) if vram else None,
            mean_utilization_percent=sum(util) / len(util) if util else None,
            energy_wh=None if energy_j is None else energy_j / JOULES_PER_WH,
            energy_source=source))
    return stats


def _energy(samples: list[Sample], gpus: list[GpuRunStats], wall: float,
            mean_cpu: float | None, cpu_label: str, physical_cores: int, model: PowerModel,
            rapl_reason: str | None) -> EnergyRecord:
    first, last = samples[0], samples[-1]
    parts: list[str] = []
    estimated = False
    cpu_wh: float | None = None
    cpu_source: str | None = None
    if first.cpu_energy_joules is not None and last.cpu_energy_joules is not None:
        cpu_wh = (last.cpu_energy_joules - first.cpu_energy_joules) / JOULES_PER_WH
        cpu_source = "rapl"
        parts.append("CPU measured by the RAPL package counters (the whole CPU, every program)")
    elif mean_cpu is not None:
        watts = model.full_load_watts(physical_cores)
        cpu_wh = watts * mean_cpu / 100 * wall / JOULES_PER_WH
        cpu_source = "power model"
        estimated = True
        why = ("the RAPL counters are root-only: `sudo chmod a+r "
               "/sys/class/powercap/intel-rapl:*/energy_uj` lets LexBrief measure"
               if rapl_reason == PERMISSION_HINT else "no readable RAPL counters here")
        parts.append(f"CPU estimated: {model.describe(physical_cores)} × {mean_cpu:.0f}% "
                     f"{cpu_label} × {wall:.1f} s ({why})")
    else:
        parts.append("CPU energy unavailable: no RAPL counters and no CPU utilisation reading")

    gpu_wh: float | None = None
    gpu_source: str | None = None
    if gpus:
        measured = [g for g in gpus if g.energy_wh is not None]
        if measured:
            gpu_wh = sum(g.energy_wh or 0.0 for g in measured)
            gpu_source = ", ".join(sorted({g.energy_source or "" for g in measured}))
            parts.append(f"GPU measured ({gpu_source}, {len(measured)} of {len(gpus)} GPU"
                         f"{'s' if len(gpus) != 1 else ''})")
        missing = len(gpus) - len(measured)
        if missing:
            parts.append(f"{missing} GPU{'s' if missing != 1 else ''} without a power reading "
                         "not counted")

    wh = None if cpu_wh is None and gpu_wh is None else (cpu_wh or 0.0) + (gpu_wh or 0.0)
    return EnergyRecord(wh=wh, estimated=estimated, method="; ".join(parts), cpu_wh=cpu_wh,
                        cpu_source=cpu_source, gpu_wh=gpu_wh, gpu_source=gpu_source)

