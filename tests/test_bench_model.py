"""`lexbrief bench` on the real SmolLM2 model: the raw llama.cpp path and the command's output.

No timing is asserted: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.cancel import NEVER
from lexbrief.engine.contract import GenerationParams, Message, Usage

from test_cli import lexbrief

pytestmark = pytest.mark.model

MESSAGES = [Message("system", "You are a careful legal assistant."),
            Message("user", "Summarize: the tenant pays rent of 500 dollars on the first day "
                            "of every month, and the landlord repairs the roof.")]


def _reply(engine: object, max_tokens: int = 24) -> tuple[str, Usage]:
    pieces: list[str] = []
    usage = Usage()
    for item in engine.chat(MESSAGES, GenerationParams(max_tokens=max_tokens), NEVER):  # type: ignore[attr-defined]
        if isinstance(item, Usage):
            usage = item
        else:
            pieces.append(item)
    return "".join(pieces), usage


def test_raw_decode_runs_on_the_engine_context_and_leaves_chat_working(
        llama_engine: object) -> None:
    engine = llama_engine
    engine.clear_cache()  # type: ignore[attr-defined]
    before, _ = _reply(engine)
    tokens = engine.prompt_token_ids(MESSAGES)  # type: ignore[attr-defined]
    timing = engine.raw_decode_benchmark(tokens, 16)  # type: ignore[attr-defined]
    assert timing.prompt_tokens == len(tokens) and timing.cached_prompt_tokens == 0
    assert timing.decode_steps == 16 and timing.prompt_seconds > 0
    assert timing.generation_seconds > 0
    again = engine.raw_decode_benchmark(tokens, 4, reuse_prefix=True)  # type: ignore[attr-defined]
    assert again.cached_prompt_tokens == len(tokens) - 1  # all but the token that gives logits
    # The high-level object continues from a clean state: the same greedy reply as before.
    after, usage = _reply(engine)
    assert after == before and usage.cached_prompt_tokens == 0
    settings = engine.runtime_settings()  # type: ignore[attr-defined]
    assert settings["n_threads"] == engine.info.threads  # type: ignore[attr-defined]
    # the parallel map may have widened the context for several sequences; never narrowed it
    assert settings["n_ctx"] >= engine.info.context_length  # type: ignore[attr-defined]
    assert engine.tokenize("rent") and not engine.tokenize("")  # type: ignore[attr-defined]


def test_bench_quick_writes_a_complete_json_and_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--quick", "--json", str(out)]
    plot = tmp_path / "bench.png"
    try:
        import matplotlib  # noqa: F401

        args += ["--plot", str(plot)]
    except ImportError:
        plot = None  # type: ignore[assignment]
    run = lexbrief(*args)
    assert run.returncode == 0, run.stderr
    table = run.stdout
    assert "overhead ratio" in table and "bandwidth" in table
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["schema"] == "lexbrief-bench/1" and result["quick"] is True
    assert {"machine", "model", "load", "fixed_sequence", "pipeline", "memory", "bandwidth",
            "goals"} <= set(result)
    fixed = result["fixed_sequence"]
    for side in ("raw", "app"):
        assert fixed[side]["prompt_tps"] > 0 and fixed[side]["generation_tps"] >= 0
    assert set(fixed["ratio"]) == {"prompt", "generation", "call"}
    [document] = result["pipeline"]["documents"]
    assert document["pages"] >= 1 and document["model_calls"] >= 1
    assert document["raw"]["decode_steps"] == document["app"]["decode_steps"]
    assert document["raw"]["cached_prompt_tokens"] == document["app"]["cached_prompt_tokens"]
    assert isinstance(result["pipeline"]["total"]["overhead_ratio"], float)
    memory = result["memory"]
    assert memory["peak_rss_bytes"] >= memory["loaded_rss_bytes"] > memory["baseline_rss_bytes"]
    assert memory["kv_cache_bytes"] == 30 * 3 * 64 * 2 * result["model"]["n_ctx"] * 2
    assert result["bandwidth"]["bound_tokens_per_second"] > 0
    assert result["load"]["first"] > 0
    if plot is not None:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_fast_engine_quick_reports_every_ratio(tmp_path: Path) -> None:
    from conftest import FIXTURES

    out = tmp_path / "fast.json"
    document = FIXTURES / "documents" / "court-order-ca7.pdf"
    run = lexbrief("bench", "--fast-engine", str(document), "--quick", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "court-order-ca7.pdf" in run.stdout and "goals" in run.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    [entry] = result["documents"]
    speeds = entry["map"]
    for side in ("high_level", "native_sequential", "native_parallel"):
        assert speeds[side]["generation_tps"] > 0
    # the parallel sequences took the template's instructions from the shared prefix
    assert speeds["shared_prefix_tokens_reused"] > 0
    whole = entry["document"]
    # each run's raw stream replays every call it made (map, condense, final)
    for run_ in (whole["sequential"], whole["parallel"]):
        assert run_["raw_calls"] >= run_["chunks"] + 1
        # (a reply cut at its budget returns one token it never decoded)
        assert 0 <= run_["completion_tokens"] - run_["raw_decode_steps"] <= run_["raw_calls"]
        assert run_["ratio_vs_raw"] > 0
    assert whole["sequential"]["chunks"] == whole["parallel"]["chunks"] > 1


def test_bench_fast_engine_refuses_a_missing_document(tmp_path: Path) -> None:
    run = lexbrief("bench", "--fast-engine", str(tmp_path / "nowhere.pdf"))
    assert run.returncode == 3 and "no such document" in run.stderr
    assert "Traceback" not in run.stderr
