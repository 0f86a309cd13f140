"""Hardware telemetry: the sampler on this machine (real CPU burns, real RSS), fake sysfs trees
for RAPL and amdgpu, a fake NVML module, and the per-run record."""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import psutil
import pytest

from lexbrief.machine.telemetry import rapl
from lexbrief.machine.telemetry.gpu import AmdGpus, NvidiaGpus
from lexbrief.machine.telemetry.rapl import PERMISSION_HINT, RaplReader, unwrap_delta
from lexbrief.machine.telemetry.run import JOULES_PER_WH, PowerModel, RunMonitor, _gpu_stats
from lexbrief.machine.telemetry.sampler import Sampler, Sensors
from lexbrief.machine.telemetry.samples import GpuSample, Sample
from lexbrief.machine.telemetry.watch import format_sample, run_watch


def _burn(seconds: float) -> None:
    """A real busy loop until this thread has used `seconds` of CPU time (so a loaded machine
    makes it last longer, not burn less)."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def _no_sysfs(tmp_path: Path, **kw: Any) -> Sensors:
    """Sensors with no RAPL and no AMD tree (and, on this machine, no NVIDIA driver)."""
    return Sensors(powercap_root=tmp_path / "no-powercap", drm_root=tmp_path / "no-drm", **kw)


# -- the sampler on this machine ------------------------------------------------------------------

def test_cpu_rises_under_a_real_burn(tmp_path: Path) -> None:
    sampler = Sampler(60, sensors=_no_sysfs(tmp_path))  # readings taken by hand below
    start = sampler.sample_now()
    time.sleep(0.3)  # an idle spell (its length does not matter: CPU seconds are counted)
    idle = sampler.sample_now()
    burner = threading.Thread(target=_burn, args=(1.2,))
    burner.start()
    burner.join()
    busy = sampler.sample_now()
    assert idle.process_cpu_percent is not None and busy.process_cpu_percent is not None
    assert busy.cpu_percent is not None and idle.cpu_percent is not None

    def cpu_seconds(sample: Sample, since: Sample) -> float:  # back from the percentage
        assert sample.process_cpu_percent is not None
        interval = sample.monotonic - since.monotonic
        return sample.process_cpu_percent / 100 * sample.cpu_count * interval

    # The burn used 1.2 s of CPU; waiting used next to nothing, however long it lasted.
    assert cpu_seconds(idle, start) < 0.1
    assert cpu_seconds(busy, idle) == pytest.approx(1.2, abs=0.3)
    assert busy.process_cpu_percent > idle.process_cpu_percent
    # The machine was at least as busy as this process (a little slack for tick rounding).
    assert busy.cpu_percent >= busy.process_cpu_percent - 5


def test_rss_matches_the_process_and_follows_an_allocation(tmp_path: Path) -> None:
    sampler = Sampler(60, sensors=_no_sysfs(tmp_path))
    before = sampler.sample_now()
    actual = psutil.Process(os.getpid()).memory_info().rss
    assert before.process_rss_bytes is not None
    assert abs(before.process_rss_bytes - actual) < max(16 * 2**20, actual * 0.1)
    block = bytearray(b"\x01" * (200 * 2**20))  # touched pages: really resident
    after = sampler.sample_now()
    assert after.process_rss_bytes is not None
    assert after.process_rss_bytes - before.process_rss_bytes > 150 * 2**20
    del block
    assert 0 < after.ram_used_bytes <= after.ram_total_bytes


def test_absent_sensors_are_unavailable_with_a_reason_never_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as if nvidia-ml-py were not installed
    sample = Sampler(60, sensors=_no_sysfs(tmp_path)).sample_now()
    assert sample.cpu_energy_joules is None and sample.cpu_power_watts is None
    assert sample.gpus == ()
    assert "does not exist" in sample.unavailable["cpu_energy"]
    assert "nvidia-ml-py package is not installed" in sample.unavailable["gpu"]
    assert "no AMD GPU" in sample.unavailable["gpu"]
    if psutil.sensors_battery() is None:
        assert sample.battery is None
        assert "no battery" in sample.unavailable["battery"]
    assert sample.as_dict()["unavailable"] == dict(sample.unavailable)


def test_this_machine_reports_what_it_lacks() -> None:
    """The real sensors, whatever this machine has: every missing one says why."""
    sensors = Sensors()
    try:
        sample = sensors.read()
        if not sensors.rapl.available:
            assert sample.cpu_energy_joules is None and sensors.unavailable["cpu_energy"]
        if sensors.gpu_count == 0:
            assert sample.gpus == () and sensors.unavailable["gpu"]
        for gpu in sample.gpus:  # a GPU machine: values or None, never made up
            assert gpu.vram_total_bytes is None or gpu.vram_total_bytes > 0
    finally:
        sensors.close()


def test_the_thread_delivers_samples_and_survives_a_failing_subscriber(tmp_path: Path) -> None:
    got: queue.Queue[Sample] = queue.Queue()

    def broken(sample: Sample) -> None:
        raise RuntimeError("a buggy panel")

    with Sampler(0.05, sensors=_no_sysfs(tmp_path)) as sampler:
        sampler.subscribe(broken)
        unsubscribe = sampler.subscribe(got.put)
        first, second = got.get(timeout=10), got.get(timeout=10)
        unsubscribe()
        assert sampler.running
    assert not sampler.running
    assert second.monotonic > first.monotonic
    assert sampler.latest is not None and len(sampler.history()) >= 2


def _next_samples(sampler: Sampler, count: int) -> list[Sample]:
    """The next `count` periodic readings, as they arrive (no sleeping on a guess)."""
    got: queue.Queue[Sample] = queue.Queue()
    unsubscribe = sampler.subscribe(got.put)
    try:
        return [got.get(timeout=30) for _ in range(count)]
    finally:
        unsubscribe()


def test_the_sampler_measures_its_own_overhead(tmp_path: Path,
                                               record_property: Any) -> None:
    with Sampler(0.02, sensors=_no_sysfs(tmp_path)) as sampler:
        _next_samples(sampler, 3)
    overhead = sampler.overhead()
    assert overhead.samples >= 3
    assert overhead.cpu_seconds > 0 and overhead.per_sample_ms is not None
    record_property("sampler_ms_per_sample", round(overhead.per_sample_ms, 3))
    # CPU time, not wall time: contention does not inflate it. A reading costs well under 1 ms
    # here; 100 ms would mean something is badly wrong.
    assert overhead.per_sample_ms < 100


def test_watch_prints_live_lines_and_what_is_missing() -> None:
    out = io.StringIO()
    assert run_watch(0.05, 3, out) == 0
    text = out.getvalue()
    lines = [line for line in text.splitlines() if " CPU " in line and "RAM" in line]
    assert len(lines) == 3
    if not RaplReader().available:
        assert "CPU energy: unavailable" in text
    assert "ms of CPU per reading" in text


def test_hw_watch_command(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from lexbrief.ui.cli.main import main

    def cli(*argv: str) -> int:
        try:
            return main(list(argv))
        finally:  # main replaces its log handler without closing it: close it here
            for handler in logging.getLogger("lexbrief").handlers[:]:
                handler.close()
                logging.getLogger("lexbrief").removeHandler(handler)

    assert cli("hw", "--watch", "--count", "2", "--interval", "0.05") == 0
    assert cli("hw", "--watch", "--interval", "0") == 3
    captured = capsys.readouterr()
    assert captured.out.count(" RAM ") == 2 and "interval must be above 0" in captured.err


def test_format_sample_shows_gpu_and_missing_values() -> None:
    sample = Sample(time=0, monotonic=0, cpu_count=2, cpu_percent=50, process_cpu_percent=10,
                    ram_used_bytes=2**30, ram_total_bytes=4 * 2**30, process_rss_bytes=2**20,
                    gpus=(GpuSample(0, "X", "amd", utilization_percent=30,
                                    vram_used_bytes=None, vram_total_bytes=8 * 2**30,
                                    power_watts=None),),
                    cpu_power_watts=12.34)
    line = format_sample(sample)
    assert "CPU  50% (2 CPUs)" in line and "CPU package 12.3 W" in line
    assert "GPU0 30% n/a/8.0 GiB n/a" in line


# -- RAPL on fake sysfs trees ---------------------------------------------------------------------

def _zone(root: Path, name: str, dirname: str, energy: int, max_range: int = 1000) -> Path:
    zone = root / dirname
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


def test_rapl_sums_packages_and_handles_wrap_around(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    p0 = _zone(root, "package-0", "intel-rapl:0", 900, max_range=1000)
    p1 = _zone(root, "package-1", "intel-rapl:1", 10, max_range=10**9)
    _zone(root, "core", "intel-rapl:0:0", 5)  # a sub-zone: inside package-0, not added
    _zone(root, "psys", "intel-rapl:2", 5)  # the platform: overlaps the packages
    _zone(root, "package-0", "intel-rapl-mmio:0", 5)  # the same package through MMIO
    reader = RaplReader(root)
    assert reader.available and [z.name for z in reader.zones] == ["package-0", "package-1"]
    assert reader.read_joules() == 0.0
    (p0 / "energy_uj").write_text("100\n")  # wrapped: 900 → 1000 ≡ 0 → 100 is 200 µJ
    (p1 / "energy_uj").write_text("1000010\n")  # +1 J
    assert reader.read_joules() == pytest.approx((200 + 1_000_000) / 1e6)
    (p0 / "energy_uj").write_text("400\n")  # +300 µJ, no wrap
    assert reader.read_joules() == pytest.approx((500 + 1_000_000) / 1e6)


def test_unwrap_delta_by_hand() -> None:
    assert unwrap_delta(100, 250, 1000) == 150
    assert unwrap_delta(990, 5, 1000) == 15
    assert unwrap_delta(262_143_000_000, 1_000_000, 262_143_328_850) == 1_328_850


def test_rapl_permission_denied_is_explained(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "powercap"
    _zone(root, "package-0", "intel-rapl:0", 1)
    real = rapl._read_text

    def deny(path: Path) -> str:
        if path.name == "energy_uj":  # mode 0400 root:root since Linux 5.10
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "_read_text", deny)
    reader = RaplReader(root)
    assert not reader.available and reader.read_joules() is None
    assert reader.unavailable == PERMISSION_HINT
    assert "root" in PERMISSION_HINT and "CVE-2020-8694" in PERMISSION_HINT
    assert "chmod" in PERMISSION_HINT
    sensors = Sensors(powercap_root=root, drm_root=tmp_path / "none", nvidia=False)
    sample = sensors.read()
    assert sample.cpu_energy_joules is None
    assert sample.unavailable["cpu_energy"] == PERMISSION_HINT


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads a mode-000 file anyway")
def test_rapl_permission_denied_from_real_file_modes(tmp_path: Path) -> None:
    zone = _zone(tmp_path, "package-0", "intel-rapl:0", 1)
    (zone / "energy_uj").chmod(0)
    assert RaplReader(tmp_path).unavailable == PERMISSION_HINT


def test_rapl_absent_or_empty_or_damaged(tmp_path: Path) -> None:
    assert "does not exist" in (RaplReader(tmp_path / "nothing").unavailable or "")
    (tmp_path / "empty").mkdir()
    assert "no intel-rapl zones" in (RaplReader(tmp_path / "empty").unavailable or "")
    zone = _zone(tmp_path / "bad", "package-0", "intel-rapl:0", 1)
    (zone / "energy_uj").write_text("garbage\n")
    assert "cannot be read" in (RaplReader(tmp_path / "bad").unavailable or "")


def test_sampler_reports_rapl_power_from_a_fake_tree(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    zone = _zone(root, "package-0", "intel-rapl:0", 0, max_range=10**12)
    sensors = Sensors(powercap_root=root, drm_root=tmp_path / "none", nvidia=False)
    (zone / "energy_uj").write_text("5000000\n")  # 5 J since the probe
    sample = sensors.read()
    assert sample.cpu_energy_joules == pytest.approx(5.0)
    assert sample.cpu_power_watts is not None and sample.cpu_power_watts > 0
    assert "cpu_energy" not in sample.unavailable


# -- GPUs -----------------------------------------------------------------------------------------

def _amd_card(root: Path, name: str, vendor: str, **files: str) -> Path:
    device = root / name / "device"
    (device / "hwmon" / "hwmon3").mkdir(parents=True)
    (device / "vendor").write_text(vendor + "\n")
    for rel, value in files.items():
        target = device / rel.replace("__", "/")
        target.write_text(value + "\n")
    return device


def test_amd_gpu_from_a_fake_sysfs_tree(tmp_path: Path) -> None:
    root = tmp_path / "drm"
    _amd_card(root, "card1", "0x1002", gpu_busy_percent="37",
              mem_info_vram_used=str(2 * 2**30), mem_info_vram_total=str(8 * 2**30),
              hwmon__hwmon3__power1_average="15500000", hwmon__hwmon3__temp1_input="45000",
              product_name="Radeon RX 7600")
    _amd_card(root, "card0", "0x10de")  # an NVIDIA card: not amdgpu's
    (root / "card1-DP-1").mkdir()  # a connector, not a card
    amd = AmdGpus(root)
    assert amd.count == 1 and amd.unavailable is None
    (gpu,) = amd.read(first_index=2)
    assert gpu == GpuSample(index=2, name="Radeon RX 7600", vendor="amd",
                            utilization_percent=37.0, vram_used_bytes=2 * 2**30,
                            vram_total_bytes=8 * 2**30, power_watts=15.5, temperature_c=45.0,
                            energy_joules=None)


def test_amd_gpu_missing_files_are_none_not_zero(tmp_path: Path) -> None:
    root = tmp_path / "drm"
    _amd_card(root, "card0", "0x1002", hwmon__hwmon3__power1_input="9000000")
    (gpu,) = AmdGpus(root).read()
    assert gpu.power_watts == 9.0  # newer kernels: power1_input instead of power1_average
    assert gpu.utilization_percent is None and gpu.vram_used_bytes is None
    assert gpu.temperature_c is None and gpu.name == "AMD GPU (card0)"
    assert "no AMD GPU" in (AmdGpus(tmp_path / "none").unavailable or "")


def _fake_nvml(monkeypatch: pytest.MonkeyPatch, *, init_error: bool = False) -> Any:
    nvml: Any = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def not_supported(*_: Any) -> Any:
        raise NVMLError("Not Supported")

    def init() -> None:
        if init_error:
            raise NVMLError("Driver Not Loaded")

    nvml.NVMLError = NVMLError
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.calls = []
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: 1
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"h{i}"
    nvml.nvmlDeviceGetName = lambda h: b"NVIDIA RTX 4060 Laptop GPU"
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=81, memory=40)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=3 * 2**30,
                                                                   total=8 * 2**30)
    nvml.nvmlDeviceGetPowerUsage = lambda h: 61_250  # milliwatts
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 66
    nvml.nvmlDeviceGetTotalEnergyConsumption = not_supported  # pre-Volta: no counter
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml


def test_nvidia_readings_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = _fake_nvml(monkeypatch)
    gpus = NvidiaGpus()
    assert gpus.unavailable is None and gpus.count == 1
    (gpu,) = gpus.read()
    assert gpu == GpuSample(index=0, name="NVIDIA RTX 4060 Laptop GPU", vendor="nvidia",
                            utilization_percent=81.0, vram_used_bytes=3 * 2**30,
                            vram_total_bytes=8 * 2**30, power_watts=61.25, temperature_c=66.0,
                            energy_joules=None)  # not supported: None, not 0
    gpus.close()
    assert nvml.calls == ["shutdown"]


def test_nvidia_driver_missing_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nvml(monkeypatch, init_error=True)
    gpus = NvidiaGpus()
    assert gpus.count == 0 and gpus.read() == []
    assert gpus.unavailable == "no NVIDIA GPU or driver (Driver Not Loaded)"


# -- the per-run record ---------------------------------------------------------------------------

def _sample(t: float, **kw: Any) -> Sample:
    base: dict[str, Any] = {"time": t, "monotonic": t, "cpu_count": 2, "cpu_percent": 50.0,
                            "process_cpu_percent": 40.0, "ram_used_bytes": 1,
                            "ram_total_bytes": 2, "process_rss_bytes": 100}
    return Sample(**{**base, **kw})


def test_gpu_energy_from_counters_or_sampled_power_by_hand() -> None:
    def gpu(power: float | None, energy: float | None, vram: int) -> tuple[GpuSample, ...]:
        return (GpuSample(0, "G", "nvidia", utilization_percent=50, vram_used_bytes=vram,
                          power_watts=power, energy_joules=energy),)

    counters = [_sample(0, gpus=gpu(100, 1000.0, 1)), _sample(1, gpus=gpu(100, 1360.0, 5))]
    (stats,) = _gpu_stats(counters)
    assert stats.energy_wh == pytest.approx(360 / 3600)  # 0.1 Wh
    assert stats.energy_source == "NVML energy counter" and stats.peak_vram_bytes == 5
    # No counter: trapezoids over the power readings: (100+200)/2 × 2 s + (200+200)/2 × 1 s
    sampled = [_sample(0, gpus=gpu(100, None, 1)), _sample(2, gpus=gpu(200, None, 1)),
               _sample(3, gpus=gpu(200, None, 1))]
    (stats,) = _gpu_stats(sampled)
    assert stats.energy_wh == pytest.approx(500 / 3600)
    assert stats.energy_source == "sampled power"
    (stats,) = _gpu_stats([_sample(0, gpus=gpu(None, None, 1))])
    assert stats.energy_wh is None and stats.energy_source is None


def test_run_record_measures_rapl_energy_across_a_wrap(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    zone = _zone(root, "package-0", "intel-rapl:0", 4_000_000_000, max_range=5_000_000_000)
    sampler = Sampler(60, sensors=Sensors(powercap_root=root, drm_root=tmp_path / "none",
                                          nvidia=False))
    monitor = RunMonitor(sampler)
    with monitor:
        # 3,600 J = 1 Wh, passing the wrap at 5,000 J: 4,000 J → 5,000 J ≡ 0 → 2,600 J
        (zone / "energy_uj").write_text("2600000000\n")
    record = monitor.record(_usage())
    assert record.energy.wh == pytest.approx(1.0)
    assert not record.energy.estimated and record.energy.label == "measured"
    assert record.energy.cpu_source == "rapl" and "RAPL" in record.energy.method


def _usage() -> Any:
    from lexbrief.engine.contract import Usage

    return Usage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=100,
                 prompt_seconds=0.5, generation_seconds=4.0)


def test_run_record_estimates_energy_from_the_stated_power_model(tmp_path: Path) -> None:
    sampler = Sampler(0.1, sensors=_no_sysfs(tmp_path))
    model = PowerModel(watts_per_core=7.0)
    monitor = RunMonitor(sampler, power_model=model)
    with monitor:
        _burn(0.5)
    record = monitor.record(_usage())
    e = record.energy
    assert e.estimated and e.label == "estimated" and e.cpu_source == "power model"
    assert record.mean_process_cpu_percent is not None and record.mean_process_cpu_percent > 0
    # Hand check: watts at full load × this process's share × seconds.
    expected = (7.0 * record.physical_cores * record.mean_process_cpu_percent / 100
                * record.wall_seconds / JOULES_PER_WH)
    assert e.wh == pytest.approx(expected)
    assert f"{record.physical_cores} core" in e.method and "× 7 W" in e.method
    assert "no readable RAPL counters" in e.method
    # The engine side: speeds from the usage, computed prompt tokens exclude cached ones.
    assert record.prompt_tokens_per_second == pytest.approx(900 / 0.5)
    assert record.generation_tokens_per_second == pytest.approx(200 / 4.0)
    assert record.peak_rss_bytes is not None and record.peak_rss_bytes > 10 * 2**20
    assert record.samples >= 2 and record.sampler_cpu_seconds > 0
    assert not sampler.running  # the monitor started the sampler and stopped it
    assert record.as_dict()["energy"]["estimated"] is True
    assert type(record).from_dict(record.as_dict()) == record


def test_a_shared_running_sampler_is_left_running(tmp_path: Path) -> None:
    with Sampler(0.05, sensors=_no_sysfs(tmp_path)) as sampler:
        with RunMonitor(sampler) as monitor:
            _next_samples(sampler, 1)  # a periodic reading (the monitor subscribed first)
        assert sampler.running
        record = monitor.record(_usage())
    assert record.samples >= 3  # start, the periodic reading it heard too, end


def test_time_to_first_token_through_the_wrapped_engine(fake_engine: Any) -> None:
    from lexbrief.read.document import Document, Page
    from lexbrief.summarize.pipeline import Pipeline
    from lexbrief.summarize.templates import load_templates

    doc = Document(path=Path("a.txt"), kind="txt", sha256="0", size=1,
                   pages=[Page(1, "The tenant shall pay rent monthly. " * 20)])
    monitor = RunMonitor(interval=60)
    with monitor:
        summary = Pipeline(monitor.wrap(fake_engine)).run(doc, load_templates()["general"])
    record = monitor.record(summary.usage)
    assert record.time_to_first_token_seconds is not None
    assert 0 <= record.time_to_first_token_seconds <= record.wall_seconds
    assert record.prompt_tokens == summary.usage.prompt_tokens > 0
