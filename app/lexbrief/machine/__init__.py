"""What this computer has for running a language model: RAM, CPU cores and features, GPUs.

`detect_hardware()` is cheap (the CPU part is read once per process; RAM and GPU memory are
read at each call) and imports neither Qt nor llama.cpp. It is the static inventory; live
readings over time are `lexbrief.machine.telemetry`'s job.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from lexbrief.machine.cpu import CpuInfo, detect_cpu
from lexbrief.machine.gpu import GIB, MIB, GpuInfo, apple_gpu, metal_working_set, nvidia_gpus

__all__ = ["GIB", "MIB", "CpuInfo", "GpuInfo", "HardwareInfo", "MemoryInfo", "detect_cpu",
           "detect_hardware", "metal_working_set"]


@dataclass(frozen=True)
class MemoryInfo:
    total: int  # bytes
    available: int  # bytes that can be used without swapping


@dataclass(frozen=True)
class HardwareInfo:
    os: str  # "Linux 6.8", "macOS 14.5", "Windows 11"
    cpu: CpuInfo
    memory: MemoryInfo
    gpus: tuple[GpuInfo, ...] = ()
    notes: tuple[str, ...] = field(default=())  # why a GPU kind is missing, and similar

    @property
    def best_gpu(self) -> GpuInfo | None:
        return max(self.gpus, key=lambda g: g.memory_free, default=None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu"]["vector_unit"] = self.cpu.vector_unit
        return data


def _os_name() -> str:
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    if sys.platform.startswith("win"):
        return f"Windows {platform.release()}"
    return f"{platform.system()} {platform.release()}".strip()


def detect_memory() -> MemoryInfo:
    import psutil

    vm = psutil.virtual_memory()
    return MemoryInfo(total=int(vm.total), available=int(vm.available))


def detect_hardware() -> HardwareInfo:
    cpu = detect_cpu()
    memory = detect_memory()
    gpus: list[GpuInfo] = []
    notes: list[str] = []
    if sys.platform == "darwin":
        apple = apple_gpu(memory.total, memory.available, cpu.model)
        if apple:
            gpus.append(apple)
        else:
            notes.append("Intel Macs: GPU offload is not planned (CPU only)")
    else:
        found, note = nvidia_gpus()
        gpus.extend(found)
        if note:
            notes.append(note)
    return HardwareInfo(os=_os_name(), cpu=cpu, memory=memory, gpus=tuple(gpus),
                        notes=tuple(notes))
