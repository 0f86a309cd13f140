"""`lexbrief bench`'s pieces that need no model: memory arithmetic, RSS, bandwidth, recording."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lexbrief.engine.contract import RawTiming, Usage
from lexbrief.errors import UserFacingError
from lexbrief.read.document import Document, Page
from lexbrief.summarize.pipeline import Pipeline
from lexbrief.summarize.templates import load_templates
from lexbrief.tools.bench.memory import RssSampler, layout, measure_bandwidth, rss_bytes
from lexbrief.tools.bench.report import PLOT_HINT, check_plotting
from lexbrief.tools.bench.runner import RecordingEngine, decode_steps


def test_kv_cache_of_smollm2_shape(starter_model: Path) -> None:
    smol = layout(starter_model)  # the real GGUF header, through model_files.gguf_info
    assert (smol.n_layer, smol.n_head, smol.n_head_kv, smol.head_dim) == (30, 9, 3, 64)
    assert smol.tied_output  # SmolLM2 has no output.weight: every token reads the embedding
    assert smol.read_per_token_bytes == smol.weights_bytes
    # 30 layers x 3 KV heads x 64 dims x (K and V) x 8192 positions x 2 bytes (f16)
    assert smol.kv_cache_bytes(8192) == 30 * 3 * 64 * 2 * 8192 * 2 == 188_743_680
    assert smol.kv_bytes_per_position() == 23_040


def test_decode_steps_follow_how_chat_stops() -> None:
    assert decode_steps(Usage(completion_tokens=10, finish_reason="stop")) == 10
    assert decode_steps(Usage(completion_tokens=10, finish_reason="cancelled")) == 10
    assert decode_steps(Usage(completion_tokens=10, finish_reason="length")) == 9
    assert decode_steps(Usage(completion_tokens=0, finish_reason="length")) == 0


def test_raw_timing_rates() -> None:
    timing = RawTiming(prompt_tokens=110, cached_prompt_tokens=10, decode_steps=50,
                       prompt_seconds=0.5, generation_seconds=0.25)
    assert timing.prompt_tokens_per_second == 200
    assert timing.generation_tokens_per_second == 200
    assert timing.seconds == 0.75


def test_rss_sampler_sees_at_least_the_current_rss() -> None:
    with RssSampler(interval=0.01) as sampler:
        block = bytearray(32 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch the pages
    assert sampler.peak >= rss_bytes() - 64 * 1024 * 1024 and sampler.peak > 32 * 1024 * 1024
    del block


def test_bandwidth_measure_gives_plausible_numbers() -> None:
    bandwidth = measure_bandwidth(16 * 1024 * 1024, threads=2, repeats=1)
    assert 0.1 < bandwidth.read_gbps < 10_000 and bandwidth.copy_gbps > 0.1
    assert bandwidth.read_gbps >= bandwidth.read_gbps_one_thread
    assert bandwidth.as_dict()["buffer_mib"] == 16


def test_recording_engine_sees_every_model_call(fake_engine: object) -> None:
    recorder = RecordingEngine(fake_engine)
    document = Document(path=Path("d.txt"), kind="txt", sha256="0",
                        size=1, pages=[Page(i, f"Page {i}. The tenant pays rent of {i} dollars. "
                                           * 60) for i in range(1, 8)])
    summary = Pipeline(recorder).run(document, load_templates()["general"])  # type: ignore[arg-type]
    assert len(recorder.calls) == summary.steps >= 2
    assert sum(c.usage.completion_tokens for c in recorder.calls) == (
        summary.usage.completion_tokens)
    assert recorder.calls[0].messages[0].role == "system"


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(UserFacingError) as caught:
        check_plotting()
    assert caught.value.message == PLOT_HINT and "lexbrief[bench]" in PLOT_HINT
