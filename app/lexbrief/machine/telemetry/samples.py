"""What one reading of the hardware looks like.

A value that could not be measured is `None`, never 0, and `Sample.unavailable` says why
(sensor name → one plain sentence). Observers (the CLI watch, later a Qt panel) receive these
objects from the sampler thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    vendor: str  # "nvidia" or "amd"
    utilization_percent: float | None = None
    vram_used_bytes: int | None = None
    vram_total_bytes: int | None = None
    power_watts: float | None = None
    temperature_c: float | None = None
    # A cumulative counter (NVML: since the driver loaded; AMD: energy1_input), or None.
    energy_joules: float | None = None


@dataclass(frozen=True)
class BatterySample:
    percent: float
    plugged_in: bool | None
    seconds_left: int | None  # None: unknown or on mains power


@dataclass(frozen=True)
class Sample:
    time: float  # time.time() of the reading
    monotonic: float  # time.monotonic() of the reading, for intervals
    cpu_count: int  # logical CPUs
    cpu_percent: float | None  # whole machine, 0–100, since the previous reading
    process_cpu_percent: float | None  # this process as a share of all cores, 0–100
    ram_used_bytes: int  # total - available
    ram_total_bytes: int
    process_rss_bytes: int | None
    gpus: tuple[GpuSample, ...] = ()
    # RAPL CPU-package energy in joules, accumulated (wrap-around handled) since the sampler's
    # first reading; differences between two samples are what matters.
    cpu_energy_joules: float | None = None
    cpu_power_watts: float | None = None  # RAPL, over the interval since the previous reading
    battery: BatterySample | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unavailable"] = dict(self.unavailable)
        return data
