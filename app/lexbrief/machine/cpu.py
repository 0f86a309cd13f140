"""The processor: model name, cores, and the instruction-set features llama.cpp cares about.

Read once per process (it does not change while LexBrief runs): /proc/cpuinfo on Linux,
`sysctl` on macOS, the platform module elsewhere (no feature list there).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Features that decide which llama.cpp kernels run, in the order a report lists them.
# x86 names as Linux spells them in /proc/cpuinfo; Arm names as llama.cpp reports them.
X86_FEATURES = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
)
ARM_FEATURES = ("neon", "dotprod", "i8mm", "sve", "sve2", "bf16", "fp16")
# /proc/cpuinfo "Features" names on Arm Linux → the names above.
_ARM_LINUX_NAMES = {"asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve",
                    "sve2": "sve2", "bf16": "bf16", "asimdhp": "fp16"}
# macOS `sysctl hw.optional.*` keys → the names above.
_MAC_KEYS = {"hw.optional.neon": "neon", "hw.optional.arm.FEAT_DotProd": "dotprod",
             "hw.optional.arm.FEAT_I8MM": "i8mm", "hw.optional.arm.FEAT_BF16": "bf16",
             "hw.optional.arm.FEAT_FP16": "fp16"}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    architecture: str  # "x86_64", "arm64", ...
    physical_cores: int
    logical_cores: int
    features: tuple[str, ...]  # a subset of X86_FEATURES or ARM_FEATURES, as the CPU reports

    @property
    def vector_unit(self) -> str:
        """The widest SIMD unit the CPU advertises, in words ("AVX-512", "AVX2", "NEON"...)."""
        f = set(self.features)
        for name, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                            ("sve", "SVE"), ("neon", "NEON"), ("sse4_2", "SSE4.2")):
            if name in f:
                return label
        return "unknown"


def _linux_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if "asimd" in flags or "neon" in flags:
        arm = {_ARM_LINUX_NAMES[f] for f in flags if f in _ARM_LINUX_NAMES} | (
            {"neon"} if "neon" in flags else set())
        return model, tuple(f for f in ARM_FEATURES if f in arm)
    return model, tuple(f for f in X86_FEATURES if f in flags)


def _sysctl(*names: str) -> dict[str, str]:
    try:
        out = subprocess.run(["sysctl", *names], capture_output=True, text=True, timeout=5,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _mac_cpu() -> tuple[str, tuple[str, ...]]:
    values = _sysctl("machdep.cpu.brand_string", "machdep.cpu.features",
                     "machdep.cpu.leaf7_features", *_MAC_KEYS)
    model = values.get("machdep.cpu.brand_string", "")
    if platform.machine() == "arm64":
        found = {_MAC_KEYS[k] for k, v in values.items() if k in _MAC_KEYS and v == "1"}
        return model, tuple(f for f in ARM_FEATURES if f in found | {"neon"})
    words = " ".join((values.get("machdep.cpu.features", ""),
                      values.get("machdep.cpu.leaf7_features", ""))).lower().split()
    renamed = {w.replace("sse4.2", "sse4_2").replace("avx1.0", "avx") for w in words}
    return model, tuple(f for f in X86_FEATURES if f in renamed)


@functools.lru_cache(maxsize=1)
def detect_cpu() -> CpuInfo:
    import psutil

    model: str = ""
    features: tuple[str, ...] = ()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            model, features = _linux_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"))
    elif sys.platform == "darwin":
        model, features = _mac_cpu()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    machine = platform.machine().lower()
    architecture = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine or "unknown")
    return CpuInfo(model=model or platform.processor() or "unknown processor",
                   architecture=architecture, physical_cores=physical, logical_cores=logical,
                   features=features)
