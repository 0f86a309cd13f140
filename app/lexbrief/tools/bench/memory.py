"""Memory for the benchmark: what the model should take (weights + KV cache, from the GGUF
header), what the process really takes (RSS), and how fast memory can be read (the bound on
generation speed: every generated token reads all the weights once)."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

MiB = 1024 * 1024


@dataclass(frozen=True)
class ModelLayout:
    file_bytes: int
    weights_bytes: int  # all tensor data
    read_per_token_bytes: int  # tensor data one generated token reads (see `layout`)
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    tied_output: bool  # the token embedding doubles as the output matrix
    kv_bytes_per_cell: int  # every layer's K and V for one position

    def kv_cache_bytes(self, n_ctx: int) -> int:
        """K and V for every layer and position (llama.cpp stores them as f16 by default)."""
        return self.kv_bytes_per_cell * n_ctx

    def kv_bytes_per_position(self) -> int:
        return self.kv_bytes_per_cell

    def as_dict(self) -> dict[str, Any]:
        return {"file_bytes": self.file_bytes, "weights_bytes": self.weights_bytes,
                "read_per_token_bytes": self.read_per_token_bytes, "n_layer": self.n_layer,
                "n_head": self.n_head, "n_head_kv": self.n_head_kv, "head_dim": self.head_dim,
                "tied_output": self.tied_output}


def layout(path: Path) -> ModelLayout:
    """Sizes from the GGUF header and tensor table (lexbrief.model_files.gguf_info; no weights
    are loaded).

    A generated token reads every weight matrix once, except the token embedding, of which it
    reads one row, unless the model has no separate output matrix and uses the embedding as
    its output layer (SmolLM2 does): then the embedding is read in full too."""
    from lexbrief.engine.memory import kv_bytes_per_cell
    from lexbrief.model_files.gguf_info import read_gguf_info

    info = read_gguf_info(path)
    weights = info.weights_bytes
    per_token = weights if info.tied_output else weights - info.embedding_bytes
    per_cell = info.n_layers * kv_bytes_per_cell(info.n_head_kv, info.head_dim_k, info.head_dim_v)
    return ModelLayout(file_bytes=info.size, weights_bytes=weights,
                       read_per_token_bytes=per_token, n_layer=info.n_layers,
                       n_head=info.n_head, n_head_kv=info.n_head_kv, head_dim=info.head_dim_k,
                       tied_output=info.tied_output, kv_bytes_per_cell=per_cell)


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int | None:
    """The process's high-water mark of resident memory, from the kernel."""
    if sys.platform == "win32":
        peak = getattr(psutil.Process().memory_info(), "peak_wset", None)
        return int(peak) if peak else None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # macOS: bytes, Linux: KiB


class RssSampler:
    """Samples RSS in a background thread (the kernel's high-water mark cannot be reset, so
    this gives the peak of one phase)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while True:
            self.peak = max(self.peak, int(process.memory_info().rss))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


@dataclass(frozen=True)
class Bandwidth:
    read_gbps: float  # best sustained read, all threads together (1e9 bytes/s)
    copy_gbps: float  # best copy, bytes read + bytes written
    read_gbps_one_thread: float
    threads: int
    buffer_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"read_gbps": round(self.read_gbps, 2), "copy_gbps": round(self.copy_gbps, 2),
                "read_gbps_one_thread": round(self.read_gbps_one_thread, 2),
                "threads": self.threads, "buffer_mib": self.buffer_bytes // MiB}


def measure_bandwidth(buffer_bytes: int = 512 * MiB, threads: int | None = None,
                      repeats: int = 5) -> Bandwidth:
    """Read bandwidth of main memory with numpy: a max-reduction over a float32 buffer far
    larger than the CPU caches (vectorised, so memory is the limit, and numpy releases the GIL
    so threads add up). The best of `repeats` passes, with 1 thread and with `threads`."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = threads or os.cpu_count() or 1
    data = np.ones(buffer_bytes // 4, dtype=np.float32)
    target = np.empty_like(data)
    bounds = np.linspace(0, data.size, threads + 1).astype(int)
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def best(pool: ThreadPoolExecutor | None, work: Any, slices: list[slice]) -> float:
        fastest = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            if pool is None:
                for part in slices:
                    work(part)
            else:
                list(pool.map(work, slices))
            fastest = min(fastest, time.perf_counter() - started)
        return fastest

    def read(part: slice) -> None:
        np.maximum.reduce(data[part])

    def copy(part: slice) -> None:
        np.copyto(target[part], data[part])

    read(slice(0, data.size))  # touch every page once before timing
    copy(slice(0, data.size))
    one = best(None, read, [slice(0, data.size)])
    with ThreadPoolExecutor(threads) as pool:
        many = best(pool, read, parts)
        copied = best(pool, copy, parts)
    size = data.nbytes
    read_one = size / one / 1e9
    return Bandwidth(read_gbps=max(size / many / 1e9, read_one), copy_gbps=2 * size / copied / 1e9,
                     read_gbps_one_thread=read_one, threads=threads, buffer_bytes=size)
