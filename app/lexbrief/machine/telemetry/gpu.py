"""GPU readings: NVIDIA through NVML (the `nvidia-ml-py` package, imported lazily), AMD through
the amdgpu driver's sysfs files. A metric a GPU does not report is None."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lexbrief.machine.telemetry.samples import GpuSample

if TYPE_CHECKING:
    from lexbrief.machine.gpu import Nvml

log = logging.getLogger(__name__)

DRM_ROOT = Path("/sys/class/drm")
AMD_VENDOR = "0x1002"

T = TypeVar("T")


class NvidiaGpus:
    """Every NVIDIA GPU NVML sees. `unavailable` says why there are none."""

    def __init__(self) -> None:
        self.unavailable: str | None = None
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._names: list[str] = []
        self._session: Nvml | None = None
        self._probe()

    def _probe(self) -> None:
        from lexbrief.machine.gpu import open_nvml

        session, self.unavailable = open_nvml()
        if session is not None:
            self._nvml, self._handles, self._names = session.module, session.handles, \
                session.names
            self._session = session

    @property
    def count(self) -> int:
        return len(self._handles)

    def read(self) -> list[GpuSample]:
        nvml = self._nvml
        if nvml is None:
            return []
        samples = []
        for index, (handle, name) in enumerate(zip(self._handles, self._names, strict=True)):
            util = _nvml_call(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
            memory = _nvml_call(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
            power_mw = _nvml_call(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
            temp = _nvml_call(nvml, nvml.nvmlDeviceGetTemperature, handle,
                              nvml.NVML_TEMPERATURE_GPU)
            energy_mj = _nvml_call(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
            samples.append(GpuSample(
                index=index, name=name, vendor="nvidia",
                utilization_percent=None if util is None else float(util.gpu),
                vram_used_bytes=None if memory is None else int(memory.used),
                vram_total_bytes=None if memory is None else int(memory.total),
                power_watts=None if power_mw is None else power_mw / 1000.0,
                temperature_c=None if temp is None else float(temp),
                energy_joules=None if energy_mj is None else energy_mj / 1000.0,
            ))
        return samples

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session, self._nvml = None, None


def _nvml_call(nvml: Any, fn: Callable[..., T], *args: Any) -> T | None:
    """One NVML query; None when this GPU does not support it (or was lost)."""
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(path: Path) -> float | None:
    text = _read(path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class AmdGpus:
    """AMD GPUs driven by amdgpu, read from sysfs (no ROCm needed).

    Per card: device/gpu_busy_percent, device/mem_info_vram_used|total (bytes), and in
    device/hwmon/hwmon*: power1_average or power1_input (µW), temp1_input (m°C), energy1_input
    (µJ, where the driver has it).
    """

    def __init__(self, root: Path = DRM_ROOT) -> None:
        self.root = root
        self.cards: list[Path] = []
        self.unavailable: str | None = None
        if root.is_dir():
            cards = [p for p in root.iterdir() if re.fullmatch(r"card\d+", p.name)]
            self.cards = sorted((p for p in cards if _read(p / "device" / "vendor") == AMD_VENDOR),
                                key=lambda p: int(p.name[4:]))
        if not self.cards:
            self.unavailable = f"no AMD GPU (no amdgpu card in {root})"

    @property
    def count(self) -> int:
        return len(self.cards)

    def read(self, first_index: int = 0) -> list[GpuSample]:
        samples = []
        for offset, card in enumerate(self.cards):
            device = card / "device"
            hwmons = sorted(device.glob("hwmon/hwmon*"))
            hwmon = hwmons[0] if hwmons else None
            power_uw = temp_mc = energy_uj = None
            if hwmon is not None:
                power_uw = _number(hwmon / "power1_average")
                if power_uw is None:
                    power_uw = _number(hwmon / "power1_input")
                temp_mc = _number(hwmon / "temp1_input")
                energy_uj = _number(hwmon / "energy1_input")
            busy = _number(device / "gpu_busy_percent")
            used = _number(device / "mem_info_vram_used")
            total = _number(device / "mem_info_vram_total")
            name = _read(device / "product_name") or f"AMD GPU ({card.name})"
            samples.append(GpuSample(
                index=first_index + offset, name=name, vendor="amd",
                utilization_percent=busy,
                vram_used_bytes=None if used is None else int(used),
                vram_total_bytes=None if total is None else int(total),
                power_watts=None if power_uw is None else power_uw / 1e6,
                temperature_c=None if temp_mc is None else temp_mc / 1000.0,
                energy_joules=None if energy_uj is None else energy_uj / 1e6,
            ))
        return samples
