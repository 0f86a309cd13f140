"""Which llama.cpp CPU backend to load, for installers built with runtime CPU dispatch.

An installer's llama.cpp is built with `GGML_BACKEND_DL` and `GGML_CPU_ALL_VARIANTS`
(packaging/llama_wheel.py, variant `dispatch`): no CPU code is linked in, and one
`libggml-cpu-<variant>.so` per CPU family (x64, sse42, haswell, skylakex, icelake,
sapphirerapids, zen4...) lies beside libggml. One of them must be loaded before the first model.

llama.cpp's own choice trusts CPUID, and some virtual machines advertise features (AMX,
AVX-512 FP16) that do not work: the process dies with SIGILL on the first decode. So each
candidate, best first, is tried once in a child process that loads a model and decodes a few
tokens; the first that survives is remembered in `<data folder>/cpu-backend.json` (keyed by the
CPU and the set of backend files, so a new CPU or a new LexBrief version probes again).
`LEXBRIEF_CPU_VARIANT=haswell` forces a variant and skips all of this;
`LEXBRIEF_CPU_CANDIDATES=sapphirerapids,haswell` probes those, in that order, instead of
llama.cpp's ranking (to check the fallback on a given machine).

This module never imports llama_cpp (house rule): the engine module loads the chosen file
(`lexbrief.engine.llama_cpp.native.ensure_cpu_backend`). The children run
`lexbrief.engine.llama_cpp.probe` (`python -m`, or in a frozen bundle the bundled executable with
the hidden first argument `--lexbrief-cpu-backend`): the child side lives there so that this
module, which the engine imports, never imports the engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lexbrief.errors import ModelError

log = logging.getLogger(__name__)

CACHE_FILE = "cpu-backend.json"
CACHE_VERSION = 1
ENV_OVERRIDE = "LEXBRIEF_CPU_VARIANT"
ENV_CANDIDATES = "LEXBRIEF_CPU_CANDIDATES"  # "a,b,c": probe these, in this order (diagnostics)
HIDDEN_FLAG = "--lexbrief-cpu-backend"
PROBE_TIMEOUT_S = 180.0
SCORES_TIMEOUT_S = 60.0

_FILE = re.compile(r"^(?:lib)?ggml-cpu-([a-z0-9_]+)\.(?:so|dll|dylib)$")

# Best first, for when llama.cpp's own scores cannot be read. Each variant with the
# /proc/cpuinfo flags it needs (a subset of what llama.cpp compiles it for: enough to skip
# the hopeless ones without a probe).
RANKING: tuple[str, ...] = (
    "sapphirerapids", "zen4", "cooperlake", "cascadelake", "icelake", "cannonlake",
    "skylakex", "alderlake", "haswell", "piledriver", "ivybridge", "sandybridge", "sse42", "x64",
)
_AVX512 = {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"}
_AVX2 = {"avx", "avx2", "fma", "f16c", "bmi2"}
REQUIRED_FLAGS: dict[str, frozenset[str]] = {
    "x64": frozenset(),
    "sse42": frozenset({"sse4_2"}),
    "sandybridge": frozenset({"sse4_2", "avx"}),
    "ivybridge": frozenset({"sse4_2", "avx", "f16c"}),
    "piledriver": frozenset({"sse4_2", "avx", "f16c", "fma"}),
    "haswell": frozenset({"sse4_2", *_AVX2}),
    "alderlake": frozenset({"sse4_2", *_AVX2, "avx_vnni"}),
    "skylakex": frozenset({"sse4_2", *_AVX2, *_AVX512}),
    "cannonlake": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512vbmi", "avx512ifma"}),
    "icelake": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512vbmi", "avx512_vnni"}),
    "cascadelake": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512_vnni"}),
    "cooperlake": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512_vnni", "avx512_bf16"}),
    "zen4": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512vbmi", "avx512_vnni",
                       "avx512_bf16"}),
    "sapphirerapids": frozenset({"sse4_2", *_AVX2, *_AVX512, "avx512_vnni", "avx512_bf16",
                                 "avx512_fp16", "amx_tile", "amx_int8"}),
}


# -- the backend files --------------------------------------------------------------------------
def variant_files(folder: Path) -> dict[str, Path]:
    """`{variant: file}` for the CPU backend modules in llama.cpp's library folder; empty for
    an ordinary build (its single `libggml-cpu.so` has no variant in the name)."""
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = _FILE.match(path.name)
            if match and path.is_file():
                found[match.group(1)] = path
    return found


def is_dispatch_build(folder: Path) -> bool:
    return bool(variant_files(folder))


# -- ordering the candidates ----------------------------------------------------------------
def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8",
                                                    errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def rank_candidates(available: Iterable[str], scores: dict[str, int] | None,
                    flags: set[str] | None) -> list[str]:
    """Variants to try, best first. llama.cpp's own scores (0 = this CPU lacks a feature the
    variant needs) decide when known; otherwise the static ranking, filtered by the CPU's flags
    when those are known. Variants this module does not know go last, before nothing."""
    names = list(available)
    if scores:
        usable = [n for n in names if scores.get(n, 0) > 0]
        return sorted(usable, key=lambda n: (-scores[n], _rank(n)))
    ordered = sorted(names, key=_rank)
    if flags is None:
        return ordered
    return [n for n in ordered if REQUIRED_FLAGS.get(n, frozenset()) <= flags]


def _rank(name: str) -> int:
    return RANKING.index(name) if name in RANKING else len(RANKING) - 2  # before sse42/x64


# -- choosing -----------------------------------------------------------------------------------
@dataclass
class Attempt:
    variant: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass
class Choice:
    variant: str
    source: str  # "environment", "cache", "probe"
    attempts: list[Attempt] = field(default_factory=list)


Probe = Callable[[str], Attempt]


def first_survivor(candidates: Sequence[str], probe: Probe) -> tuple[str | None, list[Attempt]]:
    """Probe candidates in order; the first that survives wins."""
    attempts: list[Attempt] = []
    for variant in candidates:
        attempt = probe(variant)
        attempts.append(attempt)
        log.info("CPU backend %s: %s (%s, %.1f s)", variant, "ok" if attempt.ok else "FAILED",
                 attempt.detail, attempt.seconds)
        if attempt.ok:
            return variant, attempts
    return None, attempts


def cache_key(files: dict[str, Path], cpu: str, flags: set[str] | None) -> str:
    digest = hashlib.sha256()
    digest.update(cpu.encode())
    digest.update(" ".join(sorted(flags or ())).encode())
    for name, path in sorted(files.items()):
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        digest.update(f"{name}:{size};".encode())
    return digest.hexdigest()[:32]


def read_cache(path: Path, key: str, available: Iterable[str]) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION \
            or data.get("key") != key:
        return None
    variant = data.get("variant")
    return variant if isinstance(variant, str) and variant in set(available) else None


def write_cache(path: Path, key: str, choice: Choice, cpu: str) -> None:
    data = {
        "version": CACHE_VERSION, "key": key, "variant": choice.variant, "cpu": cpu,
        "chosen": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "attempts": [{"variant": a.variant, "ok": a.ok, "detail": a.detail,
                      "seconds": round(a.seconds, 2)} for a in choice.attempts],
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # only a lost optimisation: the next start probes again
        tmp.unlink(missing_ok=True)
        log.warning("cannot remember the CPU backend in %s: %s", path, exc)


def select_variant(folder: Path, model: Path | None, *, cache_path: Path | None = None,
                   probe: Probe | None = None,
                   scores: Callable[[Path], dict[str, int] | None] | None = None,
                   ) -> Choice | None:
    """The variant to load from `folder`: forced by LEXBRIEF_CPU_VARIANT, remembered, or
    probed with `model`. None when it is not remembered and there is no model to probe with
    (the caller loads nothing yet and asks again with the model)."""
    files = variant_files(folder)
    if not files:
        raise ModelError(f"no llama.cpp CPU backends in {folder}")
    forced = os.environ.get(ENV_OVERRIDE, "").strip()
    if forced:
        if forced not in files:
            raise ModelError(f"{ENV_OVERRIDE}={forced}: no such CPU backend (there are: "
                             f"{', '.join(sorted(files))})")
        return Choice(forced, "environment")
    if cache_path is None:
        from lexbrief.paths import data_dir

        cache_path = data_dir() / CACHE_FILE
    cpu, flags = cpu_name(), cpu_flags()
    key = cache_key(files, cpu, flags)
    remembered = read_cache(cache_path, key, files)
    if remembered:
        return Choice(remembered, "cache")
    if model is None:
        return None
    listed = [v.strip() for v in os.environ.get(ENV_CANDIDATES, "").split(",") if v.strip()]
    if listed:
        candidates = [v for v in listed if v in files]
    else:
        candidates = rank_candidates(files, (scores or read_scores)(folder), flags)
    if not candidates:  # nothing passes the filter: try all of them rather than give up
        candidates = rank_candidates(files, None, None)
    variant, attempts = first_survivor(
        candidates, probe or (lambda v: run_probe(folder, v, model)))
    if variant is None:
        tried = "; ".join(f"{a.variant}: {a.detail}" for a in attempts)
        raise ModelError(f"none of llama.cpp's CPU backends runs on this computer ({tried})")
    choice = Choice(variant, "probe", attempts)
    write_cache(cache_path, key, choice, cpu)
    return choice


# -- the child processes ------------------------------------------------------------------------
def child_command(args: Sequence[str]) -> list[str]:
    """This program again: the frozen executable with the hidden flag, or `python -m`."""
    if getattr(sys, "frozen", False):
        return [sys.executable, HIDDEN_FLAG, *args]
    return [sys.executable, "-m", "lexbrief.engine.llama_cpp.probe", *args]


_WINDOWS_CRASHES = {0xC000001D: "STATUS_ILLEGAL_INSTRUCTION", 0xC0000005: "an access violation",
                    0xC0000096: "STATUS_PRIVILEGED_INSTRUCTION"}


def _describe_exit(code: int) -> str:
    if code & 0xFFFFFFFF in _WINDOWS_CRASHES:
        return f"killed by {_WINDOWS_CRASHES[code & 0xFFFFFFFF]}"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_probe(folder: Path, variant: str, model: Path,
              timeout: float = PROBE_TIMEOUT_S) -> Attempt:
    started = time.perf_counter()
    env = {**os.environ, ENV_OVERRIDE: variant}
    try:
        result = subprocess.run(
            child_command(["--probe", variant, "--dir", str(folder), "--model", str(model)]),
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
            stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Attempt(variant, False, f"no answer in {timeout:.0f} s",
                       time.perf_counter() - started)
    except OSError as exc:
        return Attempt(variant, False, f"cannot start the probe: {exc}",
                       time.perf_counter() - started)
    seconds = time.perf_counter() - started
    ok = result.returncode == 0 and f"ok {variant}" in result.stdout
    if ok:
        return Attempt(variant, True, "decoded", seconds)
    # The last line that says something (not the frozen bootloader's own "Failed to execute").
    lines = [line for line in (result.stderr or result.stdout).strip().splitlines()
             if line.strip() and not line.startswith("[PYI-")]
    detail = _describe_exit(result.returncode)
    return Attempt(variant, False, f"{detail}: {lines[-1][:200]}" if lines else detail, seconds)


def read_scores(folder: Path, timeout: float = SCORES_TIMEOUT_S) -> dict[str, int] | None:
    """llama.cpp's own score of each variant on this CPU (0 = unsupported), read in a child
    (loading a module built for a newer CPU should be harmless, but a crash must not be ours).
    None when they cannot be read."""
    try:
        result = subprocess.run(child_command(["--scores", "--dir", str(folder)]),
                                capture_output=True, text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError) as exc:
        log.warning("llama.cpp's CPU backend scores are unavailable: %s", exc)
        return None
    if result.returncode != 0:
        log.warning("llama.cpp's CPU backend scores are unavailable: %s",
                    _describe_exit(result.returncode))
        return None
    try:
        raw = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else None
