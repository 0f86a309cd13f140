"""GPUs llama.cpp could offload to: NVIDIA through NVML (`nvidia-ml-py`, imported lazily) and
the Apple GPU through Metal on Apple Silicon Macs (unified memory).

A missing package, driver or GPU is not an error: the list is empty and `notes` says why.
"""

from __future__ import annotations

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


@dataclass
class Nvml:
    """An initialised NVML session (the one place LexBrief opens NVML): the module, the GPUs'
    handles and names. `close` ends it."""

    module: Any
    handles: list[Any]
    names: list[str]

    def close(self) -> None:
        try:
            self.module.nvmlShutdown()
        except self.module.NVMLError:
            log.debug("nvmlShutdown failed", exc_info=True)


def open_nvml() -> tuple[Nvml | None, str | None]:
    """NVML with at least one GPU, or None and why not (no package, driver or GPU)."""
    try:  # imported by name: the package is optional, and untyped
        pynvml: Any = importlib.import_module("pynvml")
    except ImportError:
        return None, "NVIDIA GPUs are not checked: the nvidia-ml-py package is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"no NVIDIA GPU or driver ({exc})"
    except OSError as exc:  # a broken driver install
        return None, f"the NVIDIA driver cannot be loaded ({exc})"
    session = Nvml(pynvml, [], [])
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            session.handles.append(handle)
            session.names.append(_text(pynvml.nvmlDeviceGetName(handle)))
    except pynvml.NVMLError as exc:
        log.warning("NVML failed while listing GPUs: %s", exc)
        session.close()
        return None, f"NVML failed while listing GPUs ({exc})"
    if not session.handles:
        session.close()
        return None, "NVML found no NVIDIA GPU"
    return session, None


def nvidia_gpus() -> tuple[list[GpuInfo], str | None]:
    """Every NVIDIA GPU NVML sees, and a note when there are none."""
    session, note = open_nvml()
    if session is None:
        return [], note
    pynvml = session.module
    gpus: list[GpuInfo] = []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        for index, (handle, name) in enumerate(zip(session.handles, session.names, strict=True)):
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(GpuInfo(index=index, name=name, vendor="NVIDIA", backend="CUDA",
                                memory_total=int(memory.total), memory_free=int(memory.free),
                                driver=driver))
    except pynvml.NVMLError as exc:
        log.warning("NVML failed while reading GPU memory: %s", exc)
        return gpus, f"NVML failed while listing GPUs ({exc})"
    finally:
        session.close()
    return gpus, None


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
