"""Live hardware telemetry: a background sampler (CPU, RAM, GPU, energy counters, battery) and
the per-run record of one summary. No Qt here: a GUI panel subscribes to the sampler."""

from lexbrief.machine.telemetry.run import (
    EnergyRecord,
    GpuRunStats,
    PowerModel,
    RunMonitor,
    RunRecord,
)
from lexbrief.machine.telemetry.sampler import Overhead, Sampler, Sensors
from lexbrief.machine.telemetry.samples import BatterySample, GpuSample, Sample

__all__ = [
    "BatterySample",
    "EnergyRecord",
    "GpuRunStats",
    "GpuSample",
    "Overhead",
    "PowerModel",
    "RunMonitor",
    "RunRecord",
    "Sample",
    "Sampler",
    "Sensors",
]
