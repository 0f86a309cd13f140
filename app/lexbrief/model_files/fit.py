"""Will a model run here, and how: memory estimates and the GPU offload plan.

Memory = weights + KV cache for the chosen context + llama.cpp's compute buffers. The formulas
follow what llama.cpp allocates (f16 KV cache, n_ubatch 512, no flash attention, as the engine
runs it); tests/test_models_fit.py checks them against the sizes llama.cpp reports for the
starter model. Every model gets a verdict: fits on the GPU / partial offload (N layers) /
CPU only / too big. Speeds are rough (memory bandwidth and arithmetic throughput rules of
thumb), good enough to rank models, not to promise numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lexbrief.engine.memory import kv_bytes_per_cell
from lexbrief.machine import GIB, MIB, GpuInfo, HardwareInfo
from lexbrief.model_files.catalog import CatalogEntry
from lexbrief.model_files.gguf_info import GGUFInfo
from lexbrief.settings import GPU_LAYERS_ALL
from lexbrief.units import size_text

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 8192  # the engine's DEFAULT_CONTEXT_CAP: context used when none is set
N_UBATCH = 512  # the engine's batch size
GPU_RESERVE = 512 * MIB  # driver context, fragmentation
RAM_RESERVE = 1 * GIB  # LexBrief itself, the document, the OS's own needs
COMFORTABLE_PROMPT_TPS = 15.0  # reading speed below which long documents take too long
COMFORTABLE_GENERATION_TPS = 5.0


@dataclass(frozen=True)
class ModelShape:
    """What the memory estimate needs to know about a model."""

    n_layers: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    trained_context: int
    weights_bytes: int
    layer_bytes: int  # one repeating block's weights
    output_bytes: int  # the output projection (offloaded with the last layer)
    parameters: int
    sliding_window: int = 0
    swa_pattern: int = 0

    @classmethod
    def from_gguf(cls, info: GGUFInfo) -> ModelShape:
        return cls(n_layers=info.n_layers, n_embd=info.n_embd, n_ff=info.n_ff,
                   n_head=info.n_head, n_head_kv=info.n_head_kv, head_dim_k=info.head_dim_k,
                   head_dim_v=info.head_dim_v, n_vocab=info.n_vocab,
                   trained_context=info.context_length, weights_bytes=info.weights_bytes,
                   layer_bytes=info.layer_bytes, output_bytes=info.output_bytes,
                   parameters=info.parameters, sliding_window=info.sliding_window,
                   swa_pattern=info.swa_pattern)

    @classmethod
    def from_entry(cls, entry: CatalogEntry) -> ModelShape | None:
        """From the catalog's numbers, before the file is downloaded (None if they are not
        there). Per-layer bytes are apportioned from the file size by parameter count."""
        if not entry.has_shape or not entry.size:
            return None
        head_dim = entry.head_dim or entry.embedding // max(entry.heads, 1)
        kv_heads = entry.kv_heads or entry.heads
        embed_params = entry.vocab * entry.embedding
        parameters = entry.parameters or entry.size * 2  # ~4.5 bits a weight
        bytes_per_param = entry.size / parameters
        non_layer = embed_params * (1 if entry.tied_embeddings else 2)
        layer_params = max(parameters - non_layer, 0) / entry.layers
        return cls(n_layers=entry.layers, n_embd=entry.embedding,
                   n_ff=entry.feed_forward or 4 * entry.embedding, n_head=entry.heads,
                   n_head_kv=kv_heads, head_dim_k=head_dim, head_dim_v=head_dim,
                   n_vocab=entry.vocab, trained_context=entry.context_length,
                   weights_bytes=entry.size, layer_bytes=int(layer_params * bytes_per_param),
                   output_bytes=int(embed_params * bytes_per_param), parameters=parameters,
                   sliding_window=entry.sliding_window, swa_pattern=entry.swa_pattern)

    def effective_context(self, context: int | None) -> int:
        """The context the engine will run with: asked for (or the default cap), never more
        than the model was trained on."""
        wanted = context or DEFAULT_CONTEXT
        return min(wanted, self.trained_context) if self.trained_context else wanted


def _pad(value: int, multiple: int = 256) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class MemoryEstimate:
    context: int
    weights: int
    kv_cache: int
    compute: int
    gpu_layers: int = 0  # of n_layers; n_layers = everything, output included
    ram: int = 0  # the part in system memory
    vram: int = 0  # the part in GPU memory

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute


def kv_cache_bytes(shape: ModelShape, context: int, n_ubatch: int = N_UBATCH) -> list[int]:
    """KV cache of each layer. Sliding-window layers keep only the window (llama.cpp's SWA
    cache: window + one batch, padded to 256 cells)."""
    per_cell = kv_bytes_per_cell(shape.n_head_kv, shape.head_dim_k, shape.head_dim_v)
    cells = _pad(context)
    swa_cells = min(cells, _pad(shape.sliding_window + n_ubatch)) if shape.sliding_window else 0
    sizes = []
    for layer in range(shape.n_layers):
        is_swa = bool(shape.swa_pattern and swa_cells and (layer + 1) % shape.swa_pattern)
        sizes.append(per_cell * (swa_cells if is_swa else cells))
    return sizes


def compute_buffer_bytes(shape: ModelShape, context: int, n_ubatch: int = N_UBATCH) -> int:
    """llama.cpp's compute buffer at its peak: the larger of the logits of one batch and the
    attention scores (plus mask) over the whole cache, plus a few activations."""
    ub = min(n_ubatch, context)
    logits = shape.n_vocab * ub * 4
    attention = _pad(context) * ub * (shape.n_head + 1) * 4
    activations = ub * 4 * (3 * shape.n_embd + 2 * shape.n_ff)
    return max(logits, attention) + activations


def estimate_memory(shape: ModelShape, context: int | None = None, *, gpu_layers: int = 0,
                    n_ubatch: int = N_UBATCH) -> MemoryEstimate:
    """Memory for running `shape` at `context` tokens with `gpu_layers` layers on a GPU
    (0 = CPU only; n_layers or more = everything, the output projection included)."""
    ctx = shape.effective_context(context)
    kv_layers = kv_cache_bytes(shape, ctx, n_ubatch)
    kv = sum(kv_layers)
    compute = compute_buffer_bytes(shape, ctx, n_ubatch)
    n = shape.n_layers
    on_gpu = max(0, min(gpu_layers, n))
    gpu_weights = on_gpu * shape.layer_bytes + (shape.output_bytes if on_gpu == n else 0)
    gpu_kv = sum(kv_layers[n - on_gpu:]) if on_gpu else 0  # llama.cpp offloads the last layers
    gpu_compute = compute if on_gpu else 0
    host_compute = compute if on_gpu < n else ub_host_buffer(shape, ctx, n_ubatch)
    vram = gpu_weights + gpu_kv + gpu_compute
    ram = (shape.weights_bytes - gpu_weights) + (kv - gpu_kv) + host_compute
    return MemoryEstimate(context=ctx, weights=shape.weights_bytes, kv_cache=kv, compute=compute,
                          gpu_layers=on_gpu, ram=ram, vram=vram)


def ub_host_buffer(shape: ModelShape, context: int, n_ubatch: int = N_UBATCH) -> int:
    """The small host-side buffer left when everything runs on the GPU (input embeddings)."""
    return min(n_ubatch, context) * shape.n_embd * 4 * 2


@dataclass(frozen=True)
class FitPlan:
    verdict: str  # "gpu", "partial", "cpu", "too_big"
    gpu_layers: int  # what to pass the engine: GPU_LAYERS_ALL, 0 none, N
    n_layers: int
    estimate: MemoryEstimate
    reason: str
    gpu: GpuInfo | None = None
    tight: bool = False  # fits only if other programs give memory back

    @property
    def label(self) -> str:
        if self.verdict == "gpu":
            return "fits on GPU"
        if self.verdict == "partial":
            return f"partial offload ({self.gpu_layers}/{self.n_layers} layers)"
        if self.verdict == "cpu":
            return "CPU only" + (" (tight)" if self.tight else "")
        return "too big"

    @property
    def runs(self) -> bool:
        return self.verdict != "too_big"




def why_no_gpu(hw: HardwareInfo, gpu_offload: bool) -> str | None:
    """Why layers cannot go to a GPU at all, or None when they can."""
    gpu = hw.best_gpu
    if gpu is None:
        return "no GPU that llama.cpp can use (NVIDIA or Apple Silicon) was found"
    if not gpu_offload:
        return (f"this llama.cpp build has no GPU support (it was built for the CPU only), so "
                f"the {gpu.name} goes unused; a {gpu.backend} build would use it")
    return None


def plan_fit(shape: ModelShape, hw: HardwareInfo, *, context: int | None = None,
             gpu_offload: bool = True) -> FitPlan:
    """Where the model should run on this hardware, and why."""
    n = shape.n_layers
    ram_budget = hw.memory.available - RAM_RESERVE
    ram_ceiling = int(hw.memory.total * 0.85) - RAM_RESERVE
    cpu = estimate_memory(shape, context)
    gpu = hw.best_gpu
    no_gpu = why_no_gpu(hw, gpu_offload)
    gpu_note = ""
    if gpu is not None and no_gpu is None:
        vram_budget = gpu.memory_free - GPU_RESERVE
        if gpu.unified_memory:
            vram_budget = min(vram_budget, ram_budget)
        full = estimate_memory(shape, context, gpu_layers=n)
        host_ok = full.ram <= ram_budget or gpu.unified_memory
        if full.vram <= vram_budget and host_ok:
            return FitPlan("gpu", GPU_LAYERS_ALL, n, full,
                           f"all {n} layers on the {gpu.name}: needs about "
                           f"{size_text(full.vram)} of its {size_text(gpu.memory_free)} free",
                           gpu)
        per_layer = shape.layer_bytes + sum(kv_cache_bytes(shape, cpu.context)) // max(n, 1)
        room = vram_budget - cpu.compute
        layers = min(n - 1, room // per_layer) if per_layer and room > 0 else 0
        if layers >= 1 and not gpu.unified_memory:
            part = estimate_memory(shape, context, gpu_layers=int(layers))
            if part.ram <= ram_budget:
                return FitPlan("partial", int(layers), n, part,
                               f"{layers} of {n} layers on the {gpu.name} "
                               f"({size_text(part.vram)} of its {size_text(gpu.memory_free)} "
                               f"free), the rest on the CPU "
                               f"({size_text(part.ram)} of RAM)", gpu)
        gpu_note = (f"the {gpu.name} has {size_text(gpu.memory_free)} free, too little for this "
                    f"model (it needs {size_text(full.vram)})")
    reason = no_gpu or gpu_note
    if cpu.total <= ram_budget:
        return FitPlan("cpu", 0, n, cpu,
                       f"runs on the CPU because {reason}; needs about "
                       f"{size_text(cpu.total)} of the {size_text(hw.memory.available)} of RAM "
                       "available", gpu)
    if cpu.total <= ram_ceiling:
        return FitPlan("cpu", 0, n, cpu,
                       f"runs on the CPU because {reason}; needs about "
                       f"{size_text(cpu.total)}, more than the "
                       f"{size_text(hw.memory.available)} of RAM free now: close other "
                       "programs first", gpu, tight=True)
    return FitPlan("too_big", 0, n, cpu,
                   f"needs about {size_text(cpu.total)} of memory; this computer has "
                   f"{size_text(hw.memory.total)} of RAM" + (f" ({reason})" if reason else ""), gpu)


# -- speed (rough) ---------------------------------------------------------------------------
def _cpu_rates(hw: HardwareInfo) -> tuple[float, float]:
    """(memory bandwidth bytes/s, arithmetic FLOP/s) the CPU gives llama.cpp, roughly: measured
    here, 2 AVX2 cores ran the starter at ~190 tokens/s reading and ~120 writing."""
    cores = max(hw.cpu.physical_cores, 1)
    flops_per_core = 25e9 * (1.3 if "avx512f" in hw.cpu.features else 1.0)
    return min(cores * 6e9, 60e9), cores * flops_per_core


def _gpu_rates(gpu: GpuInfo) -> tuple[float, float]:
    return (100e9, 4e12) if gpu.backend == "Metal" else (300e9, 20e12)


@dataclass(frozen=True)
class Speed:
    prompt_tps: float  # tokens/s reading the document
    generation_tps: float  # tokens/s writing the summary

    @property
    def comfortable(self) -> bool:
        return (self.prompt_tps >= COMFORTABLE_PROMPT_TPS
                and self.generation_tps >= COMFORTABLE_GENERATION_TPS)


def estimate_speed(shape: ModelShape, plan: FitPlan, hw: HardwareInfo) -> Speed:
    cpu_bw, cpu_flops = _cpu_rates(hw)
    gpu_bw, gpu_flops = _gpu_rates(plan.gpu) if plan.gpu and plan.gpu_layers else (1.0, 1.0)
    layers_on_gpu = plan.n_layers if plan.gpu_layers < 0 else plan.gpu_layers
    share = layers_on_gpu / max(plan.n_layers, 1)
    w = shape.weights_bytes
    flops = 2 * shape.parameters
    gen = 1 / (w * (1 - share) / cpu_bw + (w * share / gpu_bw if share else 0))
    prompt = 1 / (flops * (1 - share) / cpu_flops + (flops * share / gpu_flops if share else 0))
    return Speed(prompt, gen)


# -- the catalog, rated -----------------------------------------------------------------------
@dataclass(frozen=True)
class Rated:
    entry: CatalogEntry
    plan: FitPlan | None  # None: the catalog lacks the model's shape
    speed: Speed | None
    installed: bool = False

    @property
    def label(self) -> str:
        return self.plan.label if self.plan else "unknown (no shape in the catalog)"


@dataclass(frozen=True)
class Recommendation:
    choice: Rated
    reasons: list[str] = field(default_factory=list)
    ranked: list[Rated] = field(default_factory=list)


def rate(entry: CatalogEntry, hw: HardwareInfo, *, context: int | None = None,
         gpu_offload: bool = True, shape: ModelShape | None = None,
         installed: bool = False) -> Rated:
    shape = shape or ModelShape.from_entry(entry)
    if shape is None:
        return Rated(entry, None, None, installed)
    plan = plan_fit(shape, hw, context=context, gpu_offload=gpu_offload)
    return Rated(entry, plan, estimate_speed(shape, plan, hw), installed)


def _order(r: Rated) -> tuple[int, int, int, int, int]:
    runs = bool(r.plan and r.plan.runs)
    comfortable = bool(r.speed and r.speed.comfortable and r.plan and not r.plan.tight)
    return (-int(runs), -int(comfortable), -r.entry.rank, int(r.entry.gated), r.entry.size)


def recommend(entries: Iterable[CatalogEntry], hw: HardwareInfo, *, context: int | None = None,
              gpu_offload: bool = True, installed: Iterable[str] = (),
              shapes: dict[str, ModelShape] | None = None) -> Recommendation | None:
    """The best model for summaries on this machine, with the reasons, and every model rated."""
    installed = set(installed)
    shapes = shapes or {}
    rated = [rate(e, hw, context=context, gpu_offload=gpu_offload, shape=shapes.get(e.id),
                  installed=e.id in installed) for e in entries]
    ranked = sorted(rated, key=_order)
    if not ranked or not (ranked[0].plan and ranked[0].plan.runs):
        return None
    best = ranked[0]
    assert best.plan is not None and best.speed is not None
    where = f" on {hw.cpu.physical_cores} CPU cores" if best.plan.gpu_layers == 0 else ""
    reasons = [
        f"fits: {best.plan.reason}",
        f"speed{where} (rough): reads about {best.speed.prompt_tps:.0f} tokens/s, writes about "
        f"{best.speed.generation_tps:.0f} tokens/s",
        f"good at: {best.entry.good_at}" if best.entry.good_at else "",
        f"licence {best.entry.license}"
        + ("; the hub asks you to accept it and log in first" if best.entry.gated
           else ", no hub login needed"),
    ]
    better = [r for r in ranked if r.entry.rank > best.entry.rank]
    if better:
        top = max(better, key=lambda r: r.entry.rank)
        if top.plan is None:
            why = "its size is unknown"
        elif not top.plan.runs:
            why = f"it does not fit ({top.plan.reason})"
        elif top.plan.tight:
            why = "it fits only if other programs free memory"
        else:
            assert top.speed is not None
            why = (f"it would read at about {top.speed.prompt_tps:.0f} tokens/s and write at "
                   f"{top.speed.generation_tps:.0f} tokens/s here: too slow for long documents")
        reasons.append(f"not {top.entry.name}: {why}")
    return Recommendation(best, [r for r in reasons if r], ranked)


# -- the engine's automatic offload -----------------------------------------------------------
def llama_gpu_offload() -> bool:
    """Whether the installed llama.cpp can offload layers to a GPU at all."""
    try:
        from lexbrief.engine.llama_cpp.native import backend_report
        from lexbrief.model_files.resolve import probe_model
    except ImportError:
        return False
    return bool(backend_report(probe_model())["gpu_offload"])


@dataclass(frozen=True)
class OffloadDecision:
    gpu_layers: int  # for LlamaCppEngine
    reason: str
    plan: FitPlan | None = None


def decide_offload(model_path: Path, *, context: int | None = None,
                   hw: HardwareInfo | None = None,
                   gpu_offload: bool | None = None) -> OffloadDecision:
    """`gpu_layers = GPU_LAYERS_AUTO`: how many layers to put on the GPU, and why. Cheap when
    no GPU can be used (the GGUF is not even opened)."""
    from lexbrief.machine import detect_hardware
    from lexbrief.model_files.gguf_info import read_gguf_info

    hw = hw or detect_hardware()
    offload = llama_gpu_offload() if gpu_offload is None else gpu_offload
    no_gpu = why_no_gpu(hw, offload)
    if no_gpu:
        return OffloadDecision(0, f"runs on the CPU because {no_gpu}")
    shape = ModelShape.from_gguf(read_gguf_info(model_path))
    plan = plan_fit(shape, hw, context=context, gpu_offload=True)
    return OffloadDecision(plan.gpu_layers if plan.verdict in ("gpu", "partial") else 0,
                           plan.reason, plan)
