"""A background thread that reads the hardware once a second (by default) and tells observers.

    sampler = Sampler(interval=1.0).start()
    unsubscribe = sampler.subscribe(lambda sample: ...)   # called on the sampler thread
    ...
    sampler.stop()

A Qt panel subscribes and forwards each `Sample` through a queued signal; `latest` and
`history()` serve polling readers. `sample_now()` takes a reading on the caller's thread (the
run monitor does so at the start and the end of a run). The sampler measures its own cost:
`overhead()` is the CPU time its readings used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lexbrief.machine.telemetry.gpu import DRM_ROOT, AmdGpus, NvidiaGpus
from lexbrief.machine.telemetry.rapl import POWERCAP_ROOT, RaplReader
from lexbrief.machine.telemetry.samples import BatterySample, GpuSample, Sample

log = logging.getLogger(__name__)

Callback = Callable[[Sample], None]


def cpu_busy_fraction(before: Any, after: Any) -> float | None:
    """Share of all CPUs busy between two `psutil.cpu_times()` readings (0–1)."""
    def split(times: Any) -> tuple[float, float]:
        values = times._asdict()
        total = sum(values.values())
        # Linux counts guest time inside user/nice already (psutil does the same).
        total -= values.get("guest", 0.0) + values.get("guest_nice", 0.0)
        idle = values.get("idle", 0.0) + values.get("iowait", 0.0)
        return total, idle

    total0, idle0 = split(before)
    total1, idle1 = split(after)
    elapsed = total1 - total0
    if elapsed <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - (idle1 - idle0) / elapsed))


def process_cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class Sensors:
    """Every sensor this machine has, probed once. `unavailable`: sensor → why not."""

    def __init__(self, *, powercap_root: Path = POWERCAP_ROOT, drm_root: Path = DRM_ROOT,
                 nvidia: bool = True, battery: bool = True, pid: int | None = None) -> None:
        self.process = psutil.Process(pid or os.getpid())
        self.cpu_count = psutil.cpu_count() or 1
        self.physical_cores = psutil.cpu_count(logical=False) or self.cpu_count
        self.rapl = RaplReader(powercap_root)
        self.nvidia = NvidiaGpus() if nvidia else None
        self.amd = AmdGpus(drm_root)
        self.unavailable: dict[str, str] = {}
        if self.rapl.unavailable:
            self.unavailable["cpu_energy"] = self.rapl.unavailable
        if not self.gpu_count:
            reasons = [self.amd.unavailable or ""]
            if self.nvidia is not None and self.nvidia.unavailable:
                reasons.insert(0, self.nvidia.unavailable)
            self.unavailable["gpu"] = "; ".join(r for r in reasons if r)
        self._battery_enabled = battery
        if battery and self._battery() is None:
            self.unavailable["battery"] = "no battery (a desktop, server or virtual machine)"
        self._last_cpu_times = psutil.cpu_times()
        self._last_process_seconds: float | None = self._process_seconds()
        self._last_monotonic = time.monotonic()
        self._last_energy: float | None = self.rapl.read_joules()

    @property
    def gpu_count(self) -> int:
        return (self.nvidia.count if self.nvidia else 0) + self.amd.count

    def _process_seconds(self) -> float | None:
        try:
            return process_cpu_seconds(self.process)
        except psutil.Error:
            return None

    def _battery(self) -> BatterySample | None:
        try:
            battery = psutil.sensors_battery()
        except (AttributeError, OSError, RuntimeError):
            return None
        if battery is None:
            return None
        seconds = battery.secsleft if isinstance(battery.secsleft, int) and battery.secsleft >= 0 \
            else None
        return BatterySample(percent=float(battery.percent), plugged_in=battery.power_plugged,
                             seconds_left=seconds)

    def read(self) -> Sample:
        now = time.monotonic()
        interval = now - self._last_monotonic
        cpu_times = psutil.cpu_times()
        busy = cpu_busy_fraction(self._last_cpu_times, cpu_times)
        process_seconds = self._process_seconds()
        process_percent = None
        if (process_seconds is not None and self._last_process_seconds is not None
                and interval > 0):
            share = (process_seconds - self._last_process_seconds) / (interval * self.cpu_count)
            process_percent = min(100.0, max(0.0, share * 100))
        memory = psutil.virtual_memory()
        try:
            rss: int | None = int(self.process.memory_info().rss)
        except psutil.Error:
            rss = None
        gpus: list[GpuSample] = []
        if self.nvidia is not None:
            gpus += self.nvidia.read()
        gpus += self.amd.read(first_index=len(gpus))
        energy = self.rapl.read_joules()
        power = None
        if energy is not None and self._last_energy is not None and interval > 0:
            power = (energy - self._last_energy) / interval
        if self.rapl.unavailable and "cpu_energy" not in self.unavailable:
            self.unavailable["cpu_energy"] = self.rapl.unavailable  # lost after the start
        sample = Sample(
            time=time.time(), monotonic=now, cpu_count=self.cpu_count,
            cpu_percent=None if busy is None else busy * 100, process_cpu_percent=process_percent,
            ram_used_bytes=int(memory.total - memory.available),
            ram_total_bytes=int(memory.total), process_rss_bytes=rss, gpus=tuple(gpus),
            cpu_energy_joules=energy, cpu_power_watts=power,
            battery=self._battery() if self._battery_enabled else None,
            unavailable=dict(self.unavailable),
        )
        self._last_cpu_times, self._last_process_seconds = cpu_times, process_seconds
        self._last_monotonic, self._last_energy = now, energy
        return sample

    def close(self) -> None:
        if self.nvidia is not None:
            self.nvidia.close()


@dataclass(frozen=True)
class Overhead:
    """CPU time the sampler's own readings used."""

    cpu_seconds: float  # readings only
    wall_seconds: float  # since start()
    samples: int
    probe_cpu_seconds: float = 0.0  # finding the sensors, once (NVML start-up, sysfs scans)

    @property
    def per_sample_ms(self) -> float | None:
        return self.cpu_seconds / self.samples * 1000 if self.samples else None

    @property
    def percent_of_one_core(self) -> float | None:
        return self.cpu_seconds / self.wall_seconds * 100 if self.wall_seconds > 0 else None


class Sampler:
    def __init__(self, interval: float = 1.0, *, sensors: Sensors | None = None,
                 sensor_factory: Callable[[], Sensors] = Sensors, history: int = 600) -> None:
        if interval <= 0:
            raise ValueError("the sampling interval must be positive")
        self.interval = interval
        self._sensors = sensors
        self._sensor_factory = sensor_factory
        self._owns_sensors = sensors is None
        self._lock = threading.Lock()
        self._subscribers: list[Callback] = []
        self._history: deque[Sample] = deque(maxlen=history)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu_seconds = 0.0
        self._probe_cpu_seconds = 0.0
        self._samples = 0
        self._started_at: float | None = None
        self._stopped_at: float | None = None

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def sensors(self) -> Sensors:
        with self._lock:
            if self._sensors is None:
                started = time.thread_time()
                self._sensors = self._sensor_factory()
                self._probe_cpu_seconds += time.thread_time() - started
            return self._sensors

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Sampler:
        if self.running:
            return self
        self.sensors  # probe now, on the caller's thread: errors surface here  # noqa: B018
        self._stop.clear()
        self._started_at, self._stopped_at = time.monotonic(), None
        self._thread = threading.Thread(target=self._run, name="lexbrief-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            if self._thread is not threading.current_thread():  # stop() from a subscriber
                self._thread.join(timeout=max(5.0, self.interval * 2))
            self._thread = None
        self._stopped_at = time.monotonic()
        if self._owns_sensors and self._sensors is not None:
            with self._lock:
                self._sensors.close()
                self._sensors = None

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            # Fixed cadence; after a stall (a laptop asleep) skip the missed readings.
            next_at = max(next_at + self.interval, time.monotonic())
            if self._stop.wait(max(0.0, next_at - time.monotonic())):
                return
            try:
                sample = self.sample_now()
            except Exception:  # a sensor failing mid-run must not kill the thread
                log.exception("hardware sampling failed")
                continue
            for callback in list(self._subscribers):
                try:
                    callback(sample)
                except Exception:
                    log.exception("a telemetry subscriber failed")

    # -- readings -----------------------------------------------------------------------------
    def sample_now(self) -> Sample:
        sensors = self.sensors
        with self._lock:
            started = time.thread_time()
            sample = sensors.read()
            self._cpu_seconds += time.thread_time() - started
            self._samples += 1
            self._history.append(sample)
        return sample

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(sample)` on the sampler thread after each reading."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    @property
    def latest(self) -> Sample | None:
        return self._history[-1] if self._history else None

    def history(self) -> list[Sample]:
        return list(self._history)

    @property
    def unavailable(self) -> dict[str, str]:
        return dict(self.sensors.unavailable)

    def overhead(self) -> Overhead:
        if self._started_at is None:
            wall = 0.0
        else:
            wall = (self._stopped_at or time.monotonic()) - self._started_at
        return Overhead(cpu_seconds=self._cpu_seconds, wall_seconds=wall, samples=self._samples,
                        probe_cpu_seconds=self._probe_cpu_seconds)
