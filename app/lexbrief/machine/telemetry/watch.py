"""`lexbrief hw --watch`: live readings, one line per sample, until Ctrl-C or `count` lines."""

from __future__ import annotations

import queue
import time
from typing import TextIO

from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.sampler import Sampler
from lexbrief.machine.telemetry.samples import Sample

SENSOR_LABELS = {"cpu_energy": "CPU energy", "gpu": "GPU", "battery": "battery"}


def gib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**30:.1f}"




def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def unavailable_lines(unavailable: dict[str, str]) -> list[str]:
    return [f"  {SENSOR_LABELS.get(key, key)}: unavailable — {why}"
            for key, why in unavailable.items()]


def format_sample(sample: Sample) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(sample.time))
    parts = [f"{clock}  CPU {_num(sample.cpu_percent, '3.0f', '%')} ({sample.cpu_count} CPUs)",
             f"RAM {gib(sample.ram_used_bytes)}/{gib(sample.ram_total_bytes)} GiB"]
    if sample.cpu_power_watts is not None:
        parts.append(f"CPU package {sample.cpu_power_watts:.1f} W")
    for gpu in sample.gpus:
        parts.append(
            f"GPU{gpu.index} {_num(gpu.utilization_percent, '.0f', '%')} "
            f"{gib(gpu.vram_used_bytes)}/{gib(gpu.vram_total_bytes)} GiB "
            f"{_num(gpu.power_watts, '.0f', ' W')} {_num(gpu.temperature_c, '.0f', '°C')}")
    if sample.battery is not None:
        state = {True: "on mains", False: "on battery", None: ""}[sample.battery.plugged_in]
        parts.append(f"battery {sample.battery.percent:.0f}% {state}".rstrip())
    return " · ".join(parts)


def run_watch(interval: float = 1.0, count: int | None = None,
              stream: TextIO | None = None) -> int:
    """Print a reading every `interval` seconds, `count` times (None: until Ctrl-C)."""
    import sys

    out = stream or sys.stdout
    if not interval > 0 or (count is not None and count < 1):
        raise UserFacingError("the watch interval must be above 0 seconds and the count at "
                              "least 1.")
    readings: queue.Queue[Sample] = queue.Queue()
    sampler = Sampler(interval)
    try:
        sampler.start()
        unavailable = sampler.unavailable
        gpus = sampler.sensors.gpu_count
        out.write(f"Live hardware readings every {interval:g} s"
                  f"{'' if count is None else f', {count} in all'} (Ctrl-C stops). "
                  f"{gpus} GPU{'s' if gpus != 1 else ''} found.\n")
        if unavailable:
            out.write("Not measured on this machine:\n" + "\n".join(
                unavailable_lines(unavailable)) + "\n")
        out.flush()
        sampler.subscribe(readings.put)
        shown = 0
        while count is None or shown < count:
            try:  # a timeout keeps Ctrl-C working on Windows
                sample = readings.get(timeout=0.5)
            except queue.Empty:
                continue
            out.write(format_sample(sample) + "\n")
            out.flush()
            shown += 1
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        sampler.stop()
        overhead = sampler.overhead()
        if overhead.samples:
            out.write(f"(sampling used {overhead.per_sample_ms or 0:.2f} ms of CPU per reading)\n")
            out.flush()
    return 0
