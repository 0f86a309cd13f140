"""Per-machine calibration (issue 17): which threads, flash attention, batch size and parallel
width read and write fastest with this model on this computer, measured, not guessed.

A measurement is raw llama.cpp on a context made with the knobs under test: a prompt of
`prompt_tokens` evaluated in `batch_size` pieces (the reading rate), then `generate_tokens`
single-token steps for `width` sequences at once, all at the prompt's context length (the
writing rate; the sequences share the prompt through a KV copy, as the parallel map shares its
prefix). A configuration is scored by the seconds a reference workload would take:
`read_tokens / reading + written_tokens / writing` (the caller's 50-page contract).

The width is measured differently: through the summaries' own decode loop
(`NativeDecoder.generate`, with the map step's sampling parameters and grammar when the caller
gives them), `width` requests at once. Raw llama.cpp decodes four sequences 1.7x faster than one
on 2 cores, but the pipeline's map gained nothing there: its per-token sampling and grammar
check are per sequence and do not batch. Measured the raw way, the calibration kept a width that
does not pay.

`calibrate` searches one knob at a time (threads, then flash attention, then batch size, then
width) within a time budget; `grid` measures every combination, to check that the short search
lands within a few percent of the best (scripts/bench_calibration.py)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lexbrief.cancel import CancelToken
from lexbrief.engine.contract import GenerationParams, Usage
from lexbrief.engine.llama_cpp.decoder import NativeDecoder
from lexbrief.engine.llama_cpp.native import (
    ensure_cpu_backend,
    llama_cpp,
    physical_cores,
    quiet_native_logs,
)

# The reference workload's mix (the service passes the 50-page contract's; these are its values).
READ_TOKENS = 43_000
WRITTEN_TOKENS = 4_800
# Parallel width costs memory (a KV stream per sequence): kept only when it measured at least
# this much faster than one sequence at a time.
WIDTH_MARGIN = 0.03
BATCH_SIZES = (512, 256, 128)
WIDTHS = (1, 2, 4)

_TEXT = ("Section {i}. The Licensee shall pay the Licensor a royalty of {p} percent of Net Sales "
         "within thirty days after the end of each calendar quarter, and shall keep complete "
         "and accurate records of all sales for at least {y} years. Either party may terminate "
         "this Agreement upon written notice if the other party materially breaches it. ")


@dataclass(frozen=True)
class Knobs:
    threads: int
    flash_attn: bool
    batch_size: int = 512
    width: int = 1  # sequences decoded at once (the parallel map's width)

    def label(self) -> str:
        return (f"{self.threads} thread{'s' if self.threads != 1 else ''}, flash attention "
                f"{'on' if self.flash_attn else 'off'}, batch {self.batch_size}, "
                f"width {self.width}")


@dataclass(frozen=True)
class Measurement:
    knobs: Knobs
    reading_tps: float  # prompt tokens per second
    writing_tps: float  # generated tokens per second, all sequences together
    workload_seconds: float  # the reference workload at these rates

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.knobs), "reading_tps": round(self.reading_tps, 1),
                "writing_tps": round(self.writing_tps, 2),
                "workload_seconds": round(self.workload_seconds, 2)}


@dataclass
class Calibration:
    best: Measurement
    baseline: Measurement  # the first configuration measured: physical cores, flash on, 512, 1
    measurements: list[Measurement] = field(default_factory=list)
    seconds: float = 0.0  # how long the calibration took
    prompt_tokens: int = 0
    generate_tokens: int = 0
    reasons: list[str] = field(default_factory=list)  # why each knob was chosen, in words

    def as_dict(self) -> dict[str, Any]:
        return {"best": self.best.as_dict(), "baseline": self.baseline.as_dict(),
                "measurements": [m.as_dict() for m in self.measurements],
                "seconds": round(self.seconds, 2), "prompt_tokens": self.prompt_tokens,
                "generate_tokens": self.generate_tokens, "reasons": self.reasons}


def thread_candidates(cores: int | None = None) -> list[int]:
    """Physical cores and below: all of them, one fewer, half, one (at most four to try)."""
    cores = cores or physical_cores()
    return sorted({cores, max(1, cores - 1), max(1, cores // 2), 1}, reverse=True)


class Calibrator:
    """One model's weights, loaded once; each measurement makes its own context."""

    def __init__(self, model_path: Path | str, *, gpu_layers: int = 0,
                 read_tokens: int = READ_TOKENS, written_tokens: int = WRITTEN_TOKENS,
                 writing_params: GenerationParams | None = None) -> None:
        self.read_tokens, self.written_tokens = read_tokens, written_tokens
        # How the summaries generate (the map step's sampling and grammar): the width is
        # measured with these, through the pipeline's decode loop
        self.writing_params = writing_params or GenerationParams()
        ensure_cpu_backend(Path(model_path))  # installers' CPU variant, as the engine does
        with quiet_native_logs():
            self._llm = llama_cpp.Llama(str(model_path), n_ctx=64, n_batch=64,
                                        n_gpu_layers=gpu_layers, verbose=False, seed=0)
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        text = "".join(_TEXT.format(i=i, p=3 + i % 7, y=2 + i % 5) for i in range(400))
        self._tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        self.trained_context = int(llama_cpp.llama_model_n_ctx_train(self._llm.model))

    def close(self) -> None:
        self._llm.close()

    def __enter__(self) -> Calibrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def score(self, reading: float, writing: float) -> float:
        return self.read_tokens / max(reading, 1e-9) + self.written_tokens / max(writing, 1e-9)

    @contextmanager
    def _decoder(self, knobs: Knobs, n_ctx: int) -> Iterator[NativeDecoder]:
        decoder = NativeDecoder(self._llm.model, self._vocab, n_ctx=n_ctx, slots=knobs.width,
                                threads=knobs.threads, batch_size=knobs.batch_size,
                                flash_attn=knobs.flash_attn)
        try:
            yield decoder
        finally:
            decoder.close()

    def measure(self, knobs: Knobs, prompt_tokens: int, generate_tokens: int) -> Measurement:
        prompt_tokens = max(16, min(prompt_tokens, len(self._tokens),
                                    self.trained_context - generate_tokens - 8))
        prompt = self._tokens[:prompt_tokens]
        with self._decoder(knobs, prompt_tokens + generate_tokens + 16) as decoder:
            reading, writing = _time_decoder(decoder, prompt, generate_tokens, knobs.width)
        return Measurement(knobs, reading, writing, self.score(reading, writing))

    def measure_width(self, knobs: Knobs, prompt_tokens: int, generate_tokens: int,
                      reading: float) -> Measurement:
        """The writing rate of `knobs.width` requests decoded together by the summaries' own
        loop (its sampler chain, grammar check and per-token work), the reading rate given."""
        prompt_tokens = max(16, min(prompt_tokens, len(self._tokens),
                                    self.trained_context - generate_tokens - 8))
        prompt = self._tokens[:prompt_tokens]
        with self._decoder(knobs, prompt_tokens + generate_tokens + 16) as decoder:
            writing = _time_generate(decoder, prompt, generate_tokens, knobs.width,
                                     self.writing_params)
        return Measurement(knobs, reading, writing, self.score(reading, writing))

    def search(self, *, budget_seconds: float = 20.0, prompt_tokens: int = 1024,
               generate_tokens: int = 32, cores: int | None = None,
               log: Callable[[str], None] = lambda _m: None) -> Calibration:
        """One knob at a time, each at the best of the ones before, within the budget: the
        sizes shrink after the first measurement when the whole search would not fit."""
        started = time.perf_counter()
        threads = thread_candidates(cores)
        first = Knobs(threads[0], True, BATCH_SIZES[0], 1)
        self.measure(first, 64, 4)  # the first decode maps the weights in: not counted
        # What a measurement costs here: a fixed part (a context made and freed: the tiny
        # one) and a part that grows with the sizes (a quarter-size probe); the sizes shrink
        # when the whole search would not fit the budget.
        t0 = time.perf_counter()
        self.measure(first, 64, 4)
        fixed = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.measure(first, prompt_tokens // 4, max(4, generate_tokens // 4))
        # x1.6: attention grows with the context, and the width-4 step generates 4x the tokens
        # (run 2 took 29 s of 20 with a plain x4)
        growing = max(1e-3, 1.6 * 4 * (time.perf_counter() - t0 - fixed))
        planned = len(threads) + 1 + len(BATCH_SIZES) - 1 + len(WIDTHS)
        left = budget_seconds - (time.perf_counter() - started)
        if planned * (fixed + growing) > left:
            scale = min(1.0, max(0.1, (left / planned - fixed) / growing))
            prompt_tokens = max(96, int(prompt_tokens * scale))
            generate_tokens = max(6, int(generate_tokens * scale))
        baseline = self.measure(first, prompt_tokens, generate_tokens)
        log(f"calibration: {first.label()}: {baseline.reading_tps:.0f} tok/s reading, "
            f"{baseline.writing_tps:.1f} tok/s writing")
        done = [baseline]
        reasons: list[str] = []

        def run(knobs: Knobs) -> Measurement:
            m = self.measure(knobs, prompt_tokens, generate_tokens)
            log(f"calibration: {knobs.label()}: {m.reading_tps:.0f} tok/s reading, "
                f"{m.writing_tps:.1f} tok/s writing")
            done.append(m)
            return m

        def pick(options: list[Measurement]) -> Measurement:
            return min(options, key=lambda m: m.workload_seconds)

        best = pick([baseline] + [run(replace(first, threads=t)) for t in threads[1:]])
        reasons.append(_why("threads", best, [m for m in done], lambda m: m.knobs.threads))
        flip = run(replace(best.knobs, flash_attn=not best.knobs.flash_attn))
        pair = [best, flip]
        best = pick(pair)
        reasons.append(_why("flash attention", best, pair,
                            lambda m: "on" if m.knobs.flash_attn else "off"))
        # The batch size changes only prompt reading (a generated token is one per sequence), and
        # the width only writing (the prompt is read on one sequence): each is scored on the
        # rate it changes, with the other taken from the best so far, so that the noise of
        # the rate it does not change (a shared 2-core machine) does not decide.
        sizes = [best] + [self._with(run(replace(best.knobs, batch_size=b)),
                                     writing=best.writing_tps) for b in BATCH_SIZES[1:]]
        best = pick(sizes)
        reasons.append(_why("batch", best, sizes, lambda m: m.knobs.batch_size))
        # The width through the summaries' own loop, width 1 included (its writing rate is
        # what a one-at-a-time run gets; the raw loop's is higher).
        def run_width(width: int) -> Measurement:
            m = self.measure_width(replace(best.knobs, width=width), prompt_tokens,
                                   generate_tokens, best.reading_tps)
            log(f"calibration: {m.knobs.label()} (summaries' decode loop): "
                f"{m.writing_tps:.1f} tok/s writing")
            done.append(m)
            return m

        widths = [run_width(w) for w in WIDTHS]
        single, wide = widths[0], pick(widths[1:])
        best = single
        if wide.workload_seconds <= single.workload_seconds * (1 - WIDTH_MARGIN):
            best = wide
        reasons.append(_why("parallel width", best, widths, lambda m: m.knobs.width,
                            note=f"(the summaries' decode loop; wider only when at least "
                                 f"{WIDTH_MARGIN:.0%} faster: each sequence costs memory)"))
        return Calibration(best=best, baseline=baseline, measurements=done,
                           seconds=time.perf_counter() - started, prompt_tokens=prompt_tokens,
                           generate_tokens=generate_tokens, reasons=reasons)

    def _with(self, m: Measurement, *, reading: float | None = None,
              writing: float | None = None) -> Measurement:
        reading = m.reading_tps if reading is None else reading
        writing = m.writing_tps if writing is None else writing
        return Measurement(m.knobs, reading, writing, self.score(reading, writing))

    def _measure_as_search(self, knobs: Knobs, prompt_tokens: int,
                           generate_tokens: int) -> Measurement:
        """Reading on the raw loop at `knobs`, writing through the summaries' loop: the
        rates the search's choice is scored by."""
        raw = self.measure(replace(knobs, width=1), prompt_tokens, 1)
        return self.measure_width(knobs, prompt_tokens, generate_tokens, raw.reading_tps)

    def grid(self, *, prompt_tokens: int = 1024, generate_tokens: int = 32,
             cores: int | None = None, repeats: int = 1,
             log: Callable[[str], None] = lambda _m: None) -> list[Measurement]:
        """Every combination, each the best of `repeats` measurements (for the check)."""
        self.measure(Knobs(physical_cores(), True), 64, 4)  # untimed warm-up, as in search
        found = []
        for t, f, b, w in itertools.product(thread_candidates(cores), (True, False),
                                            BATCH_SIZES, WIDTHS):
            knobs = Knobs(t, f, b, w)
            runs = [self._measure_as_search(knobs, prompt_tokens, generate_tokens)
                    for _ in range(repeats)]
            found.append(min(runs, key=lambda m: m.workload_seconds))
            log(f"grid: {knobs.label()}: {found[-1].workload_seconds:.1f} s")
        return found


def _why(knob: str, best: Measurement, options: list[Measurement], value: Callable[
        [Measurement], object], note: str = "") -> str:
    seen: dict[object, Measurement] = {}
    for m in options:
        seen.setdefault(value(m), m)
    parts = ", ".join(f"{v}: {m.workload_seconds:.0f} s" for v, m in seen.items())
    return (f"{knob} {value(best)} (reference workload {parts})" + (f" {note}" if note else ""))


def _time_decoder(decoder: NativeDecoder, prompt: list[int], generate: int,
                  width: int) -> tuple[float, float]:
    """(prompt tokens/s on one sequence, generated tokens/s over `width` sequences)."""
    ctx, memory, batch, n_batch = decoder.ctx, decoder.memory, decoder.batch, decoder.n_batch
    llama_cpp.llama_memory_clear(memory, True)
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())

    def fill(rows: list[tuple[int, int, int, bool]]) -> None:
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(rows)
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed while calibrating")

    try:
        started = time.perf_counter()
        for start in range(0, len(prompt), n_batch):
            part = prompt[start:start + n_batch]
            last = start + len(part) == len(prompt)
            fill([(t, start + i, 0, last and i == len(part) - 1) for i, t in enumerate(part)])
        token = llama_cpp.llama_sampler_sample(chain, ctx, -1)
        prompt_seconds = time.perf_counter() - started
        for seq in range(1, width):  # the other sequences start from the same prompt
            llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        tokens = [token] * width
        position = len(prompt)

        def step() -> None:
            nonlocal tokens, position
            fill([(tokens[s], position, s, True) for s in range(width)])
            tokens = [llama_cpp.llama_sampler_sample(chain, ctx, s) for s in range(width)]
            position += 1

        step()  # untimed: the copies of the prompt's cache happen at this first decode
        started = time.perf_counter()
        for _ in range(generate):
            step()
        generation_seconds = time.perf_counter() - started
    finally:
        llama_cpp.llama_sampler_free(chain)
    return (len(prompt) / max(prompt_seconds, 1e-9),
            generate * width / max(generation_seconds, 1e-9))


def _time_generate(decoder: NativeDecoder, prompt: list[int], generate: int, width: int,
                   params: GenerationParams) -> float:
    """Generated tokens/s over `width` requests of the same prompt decoded together by
    `decoder.generate` (the summaries' loop; the prompt is read once, as a shared prefix), from
    the first generated piece to the last token: reading is not in it."""
    cancel = CancelToken()
    params = replace(params, max_tokens=generate)
    first: float | None = None
    tokens = 0
    for _index, item in decoder.generate([list(prompt) for _ in range(width)],
                                         [params] * width, [cancel] * width, cancel):
        if isinstance(item, Usage):
            tokens += max(0, item.completion_tokens - 1)  # the first token comes with reading
        elif first is None:
            first = time.perf_counter()
    seconds = time.perf_counter() - (first if first is not None else time.perf_counter())
    return tokens / max(seconds, 1e-9)
