"""GPUs llama.cpp could offload to: NVIDIA through NVML (`nvidia-ml-py`, imported lazily) and
the Apple GPU through Metal on Apple Silicon Macs (unified memory).

A missing package, driver or GPU is not an error: the list is empty and `notes` says why.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import platform
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    vendor: str  # "NVIDIA", "Apple"
    backend: str  # the llama.cpp backend that drives it: "CUDA", "Metal"
    memory_total: int  # bytes
    memory_free: int  # bytes usable now (for Metal: the working set macOS allows the GPU)
    unified_memory: bool = False  # shares the system RAM (Apple Silicon)
    driver: str = ""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def nvidia_gpus() -> tuple[list[GpuInfo], str | None]:
    """Every NVIDIA GPU NVML sees, and a note when there are none."""
    try:  # imported by name: the package is optional, and untyped
        pynvml: Any = importlib.import_module("pynvml")
    except ImportError:
        return [], "NVIDIA GPUs are not checked: the nvidia-ml-py package is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [], f"no NVIDIA GPU or driver ({exc})"
    except OSError as exc:
        return [], f"the NVIDIA driver cannot be loaded ({exc})"
    gpus: list[GpuInfo] = []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(GpuInfo(index=index, name=_text(pynvml.nvmlDeviceGetName(handle)),
                                vendor="NVIDIA", backend="CUDA", memory_total=int(memory.total),
                                memory_free=int(memory.free), driver=driver))
    except pynvml.NVMLError as exc:
        log.warning("NVML failed while listing GPUs: %s", exc)
        return gpus, f"NVML failed while listing GPUs ({exc})"
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    return gpus, None if gpus else "NVML found no NVIDIA GPU"


def metal_working_set(ram_total: int) -> int:
    """How much of the unified memory macOS lets the GPU use (Metal's
    recommendedMaxWorkingSetSize): about two thirds of RAM up to 36 GB, three quarters above."""
    return int(ram_total * (0.75 if ram_total > 36 * GIB else 2 / 3))


def apple_gpu(ram_total: int, ram_available: int, chip: str) -> GpuInfo | None:
    if sys.platform != "darwin" or platform.machine() != "arm64":
        return None
    working_set = metal_working_set(ram_total)
    return GpuInfo(index=0, name=f"{chip or 'Apple Silicon'} GPU", vendor="Apple",
                   backend="Metal", memory_total=working_set,
                   memory_free=min(working_set, ram_available), unified_memory=True)
