"""Memory estimates and the offload plan: checked against what llama.cpp really allocates for
the starter model, and against made-up machines for the GPU cases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lexbrief.machine import GIB, MIB, CpuInfo, GpuInfo, HardwareInfo, MemoryInfo
from lexbrief.model_files.catalog import load_catalog
from lexbrief.model_files.fit import (
    ModelShape,
    decide_offload,
    estimate_memory,
    plan_fit,
    recommend,
)
from lexbrief.model_files.gguf_info import read_gguf_info

# Runs in a fresh process per context, so nothing else is in its memory (one thread: the
# buffers do not depend on it, and a busy CI machine does not slow it down). First the engine as
# LexBrief runs it (RSS before and after loading and reading a prompt), then llama.cpp itself,
# verbose, with the same parameters: the buffer sizes it reports are what it allocated.
MEASURE = r"""
import json, os, re, sys
import psutil
ctx = int(sys.argv[2])
proc = psutil.Process()
from lexbrief.cancel import NEVER
from lexbrief.engine.contract import GenerationParams, Message
from lexbrief.engine.llama_cpp.engine import LlamaCppEngine
import llama_cpp
before = proc.memory_info().rss
engine = LlamaCppEngine(sys.argv[1], context_length=ctx, threads=1)
loaded = proc.memory_info().rss
text = "The court held that the contract was void for want of consideration. " * 5
for _ in engine.chat([Message("user", text)], GenerationParams(max_tokens=2), NEVER):
    pass
used = proc.memory_info().rss
engine.close()
# llama.cpp's own account, from its log on stderr (fd 2 redirected to a file).
log_path = sys.argv[3]
fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
saved = os.dup(2)
os.dup2(fd, 2)
n = min(512, ctx)
llm = llama_cpp.Llama(sys.argv[1], n_ctx=ctx, n_batch=n, n_ubatch=n, n_threads=1,
                      verbose=True)
llm.close()
os.dup2(saved, 2)
print(json.dumps({"rss_load": loaded - before, "rss_used": used - before}))
"""


def _reported_buffers(log: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in log.splitlines():
        m = re.search(r"(\S+)\s+(model|KV|compute|output) buffer size =\s+([\d.]+) MiB", line)
        if m:
            found[m.group(2)] = found.get(m.group(2), 0.0) + float(m.group(3)) * MIB
    return found


@pytest.fixture(scope="module")
def starter_shape(starter_model: Path) -> ModelShape:
    return ModelShape.from_gguf(read_gguf_info(starter_model, use_cache=False))


@pytest.mark.model
@pytest.mark.parametrize("context", [2048, 8192])
def test_estimate_matches_what_llama_cpp_allocates(starter_model: Path, tmp_path: Path,
                                                   starter_shape: ModelShape, context: int,
                                                   record_property: pytest.RecordProperty
                                                   ) -> None:
    shape = starter_shape
    estimate = estimate_memory(shape, context)
    log_path = tmp_path / "llama.log"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(starter_model), str(context), str(log_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rss = json.loads(result.stdout.strip().splitlines()[-1])
    buffers = _reported_buffers(log_path.read_text(errors="replace"))
    assert {"model", "KV", "compute"} <= set(buffers), buffers
    measured = sum(buffers.values())
    figures = {
        "context": context,
        "estimate_mib": round(estimate.total / MIB, 1),
        "estimate_parts_mib": {"weights": round(estimate.weights / MIB, 1),
                               "kv_cache": round(estimate.kv_cache / MIB, 1),
                               "compute": round(estimate.compute / MIB, 1)},
        "llama_cpp_reported_mib": {k: round(v / MIB, 1) for k, v in buffers.items()},
        "llama_cpp_total_mib": round(measured / MIB, 1),
        "rss_after_load_mib": round(rss["rss_load"] / MIB, 1),
        "rss_after_prompt_mib": round(rss["rss_used"] / MIB, 1),
    }
    print("memory estimate vs llama.cpp:", json.dumps(figures))
    record_property(f"memory_{context}", json.dumps(figures))
    # Each part, and the whole, within 20 % of what llama.cpp allocated.
    assert abs(estimate.total - measured) <= 0.2 * measured
    assert abs(estimate.kv_cache - buffers["KV"]) <= 0.2 * buffers["KV"]
    assert abs(estimate.compute - buffers["compute"]) <= 0.2 * buffers["compute"]
    assert abs(estimate.weights - buffers["model"]) <= 0.2 * buffers["model"]
    # The process never used more than the estimate says (+20 %): it is not an underestimate.
    assert rss["rss_used"] <= 1.2 * estimate.total


def _machine(ram_gb: float = 16, gpu_gb: float | None = None, *, cores: int = 4,
             unified: bool = False) -> HardwareInfo:
    gpus: tuple[GpuInfo, ...] = ()
    if gpu_gb is not None:
        gpus = (GpuInfo(0, "Test GPU", "NVIDIA" if not unified else "Apple",
                        "CUDA" if not unified else "Metal", int(gpu_gb * GIB),
                        int(gpu_gb * GIB), unified_memory=unified),)
    cpu = CpuInfo("Test CPU", "x86_64", cores, cores * 2, ("avx", "avx2", "fma"))
    return HardwareInfo("Test OS", cpu, MemoryInfo(int(ram_gb * GIB), int(ram_gb * GIB * 0.8)),
                        gpus)


def _shape(entry_id: str) -> ModelShape:
    shape = ModelShape.from_entry(load_catalog()[entry_id])
    assert shape is not None
    return shape


def test_a_7b_model_goes_fully_on_a_big_gpu() -> None:
    plan = plan_fit(_shape("saul-7b-instruct-v1-q4_k_m"), _machine(32, 24), context=8192)
    assert plan.verdict == "gpu" and plan.gpu_layers == -1
    assert plan.label == "fits on GPU"
    assert "all 32 layers" in plan.reason


def test_a_7b_model_is_split_on_a_small_gpu() -> None:
    plan = plan_fit(_shape("saul-7b-instruct-v1-q4_k_m"), _machine(32, 4), context=8192)
    assert plan.verdict == "partial"
    assert 1 <= plan.gpu_layers < 32
    assert plan.label == f"partial offload ({plan.gpu_layers}/32 layers)"
    assert plan.estimate.vram <= 4 * GIB - 512 * MIB
    # One more layer would not have fitted.
    more = estimate_memory(_shape("saul-7b-instruct-v1-q4_k_m"), 8192,
                           gpu_layers=plan.gpu_layers + 1)
    assert more.vram > 4 * GIB - 512 * MIB


def test_a_cpu_only_llama_build_never_offloads_and_says_why() -> None:
    plan = plan_fit(_shape("qwen2.5-1.5b-instruct-q4_k_m"), _machine(16, 24), context=8192,
                    gpu_offload=False)
    assert plan.verdict == "cpu" and plan.gpu_layers == 0
    assert "no GPU support" in plan.reason and "Test GPU" in plan.reason


def test_no_gpu_means_cpu_and_too_little_ram_means_too_big() -> None:
    cpu = plan_fit(_shape("qwen2.5-1.5b-instruct-q4_k_m"), _machine(8), context=8192)
    assert cpu.verdict == "cpu" and "no GPU" in cpu.reason
    big = plan_fit(_shape("saul-7b-instruct-v1-q4_k_m"), _machine(4), context=8192)
    assert big.verdict == "too_big" and big.label == "too big" and not big.runs


def test_apple_silicon_runs_everything_on_metal_when_it_fits() -> None:
    plan = plan_fit(_shape("gemma-3-4b-it-qat-q4_0"), _machine(16, 10.6, unified=True),
                    context=8192)
    assert plan.verdict == "gpu"


def test_sliding_window_layers_keep_a_small_kv_cache() -> None:
    gemma = _shape("gemma-3-4b-it-qat-q4_0")
    full = ModelShape(**{**gemma.__dict__, "sliding_window": 0, "swa_pattern": 0})
    assert estimate_memory(gemma, 32768).kv_cache < estimate_memory(full, 32768).kv_cache / 3


def test_kv_cache_grows_with_the_context_and_the_cap_is_the_trained_context() -> None:
    shape = _shape("qwen2.5-1.5b-instruct-q4_k_m")
    small, large = estimate_memory(shape, 2048), estimate_memory(shape, 8192)
    assert large.kv_cache == 4 * small.kv_cache
    starter = _shape("smollm2-135m-instruct-q4_1")
    assert estimate_memory(starter, 100_000).context == 8192


def test_recommendation_on_a_small_cpu_laptop_is_a_small_fast_model() -> None:
    rec = recommend(load_catalog().values(), _machine(8, cores=2), gpu_offload=False)
    assert rec is not None
    assert 0.4e9 <= rec.choice.entry.parameters <= 2e9
    assert rec.choice.plan and rec.choice.plan.verdict == "cpu"
    assert any("tokens/s" in r for r in rec.reasons)
    assert any(r.startswith("not ") for r in rec.reasons)  # why not a better model


def test_recommendation_with_a_big_gpu_is_the_legal_model() -> None:
    rec = recommend(load_catalog().values(), _machine(32, 24, cores=8))
    assert rec is not None and rec.choice.entry.id == "saul-7b-instruct-v1-q4_k_m"
    assert rec.choice.plan and rec.choice.plan.verdict == "gpu"


def test_recommendation_on_this_machine() -> None:
    from lexbrief.machine import detect_hardware

    rec = recommend(load_catalog().values(), detect_hardware(), gpu_offload=False)
    assert rec is not None and rec.choice.plan and rec.choice.plan.runs
    print("recommended here:", rec.choice.entry.id, rec.reasons)


def test_offload_decision_without_a_gpu_does_not_open_the_model(tmp_path: Path) -> None:
    missing = tmp_path / "not-read.gguf"  # would raise if it were opened
    decision = decide_offload(missing, hw=_machine(16), gpu_offload=True)
    assert decision.gpu_layers == 0
    assert decision.reason.startswith("runs on the CPU because no GPU")


def test_offload_decision_with_a_gpu_uses_the_gguf_header(starter_model: Path) -> None:
    decision = decide_offload(starter_model, hw=_machine(16, 8), gpu_offload=True)
    assert decision.gpu_layers == -1 and decision.plan is not None
    assert decision.plan.n_layers == 30


@pytest.mark.model
def test_the_engine_says_why_it_runs_on_the_cpu(starter_model: Path) -> None:
    from lexbrief.model_files.resolve import ResolvedModel
    from lexbrief.service import llama_engine

    engine = llama_engine(ResolvedModel(starter_model, "starter"))
    try:
        assert engine.info.gpu_layers == 0  # this machine: a CPU-only llama.cpp build
        assert engine.info.offload_note.startswith("runs on the CPU because")
    finally:
        engine.close()  # type: ignore[attr-defined]
