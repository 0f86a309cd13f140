"""The benchmark's result as a readable table, and as an optional PNG (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lexbrief.errors import UserFacingError
from lexbrief.units import mib_text

PLOT_HINT = "--plot needs matplotlib: pip install 'lexbrief[bench]' (or pip install matplotlib)"




def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    model = result["model"]
    fixed = result["fixed_sequence"]
    pipe = result["pipeline"]
    mem = result["memory"]
    bw = result["bandwidth"]
    load = result["load"]
    lines = [
        f"LexBrief {result['lexbrief']} bench · {result['date']}"
        f"{' · QUICK (not for the record)' if result['quick'] else ''}",
        f"machine: {m['cpu']}, {m['physical_cores']} cores, {m['ram_gib']} GiB, {m['os']}; "
        f"load average before/after: {result['load_average']['before']} / "
        f"{result['load_average']['after']}",
        f"model: {model['name']} ({mib_text(model['file_bytes'])}), ctx {model['n_ctx']}, batch "
        f"{model['n_batch']}, {model['n_threads']} threads; llama-cpp-python "
        f"{result['llama_cpp_python']}",
        "",
        f"(a) fixed sequence: {fixed['prompt_tokens']} prompt tokens, decode steps "
        f"{fixed['decode_steps']} ({fixed['source']})",
        f"    {'':22}{'raw llama.cpp':>14}{'app (chat)':>12}{'app/raw':>9}",
        f"    {'prompt tok/s':22}{fixed['raw']['prompt_tps']:>14.1f}"
        f"{fixed['app']['prompt_tps']:>12.1f}{_num(fixed['ratio']['prompt'], 3):>9}",
        f"    {'generation tok/s':22}{fixed['raw']['generation_tps']:>14.1f}"
        f"{fixed['app']['generation_tps']:>12.1f}{_num(fixed['ratio']['generation'], 3):>9}",
        f"    {'call seconds':22}{fixed['raw']['call_seconds']:>14.2f}"
        f"{fixed['app']['call_seconds']:>12.2f}{_num(fixed['ratio']['call'], 3):>9}"
        "  (ratio: raw/app time)",
        "",
        "(a)+(b) pipeline on documents, then the same model calls replayed raw",
        f"    {'document':32}{'pages':>6}{'tokens':>8}{'calls':>6}{'e2e s':>8}{'pages/min':>10}"
        f"{'raw s':>8}{'raw/app':>8}",
    ]
    for d in pipe["documents"]:
        lines.append(
            f"    {d['document'][:31]:32}{d['pages']:>6}{d['tokens_read']:>8}"
            f"{d['model_calls']:>6}{d['end_to_end_seconds']:>8.1f}"
            f"{_num(d['pages_per_minute']):>10}{d['raw']['seconds']:>8.1f}"
            f"{_num(d['overhead_ratio'], 3):>8}")
    t = pipe["total"]
    lines.append(f"    {'total':32}{t['pages']:>6}{'':>8}{'':>6}{t['end_to_end_seconds']:>8.1f}"
                 f"{_num(t['pages_per_minute']):>10}{t['raw_seconds']:>8.1f}"
                 f"{_num(t['overhead_ratio'], 3):>8}")
    for s in pipe["skipped"]:
        lines.append(f"    skipped {s['document']}: {s['reason']}")
    goal = result["goals"]["overhead_ratio"]
    lines += [
        f"    overhead ratio (raw seconds / pipeline seconds): {_num(t['overhead_ratio'], 3)} "
        f"(goal >= {goal['goal']}: {'met' if goal['met'] else 'NOT met'}); raw / engine-only "
        f"seconds: {_num(t['engine_ratio'], 3)}",
        "",
        f"(c) model load: first {load['first']:.2f} s, best {load['best']:.2f} s "
        f"({len(load['seconds'])} loads)",
        f"(d) memory: RSS {mib_text(mem['baseline_rss_bytes'])} before load, "
        f"{mib_text(mem['loaded_rss_bytes'])} after, peak {mib_text(mem['peak_rss_bytes'])}; "
        f"model share {mib_text(mem['model_rss_bytes'])} vs weights "
        f"{mib_text(mem['weights_bytes'])} "
        f"+ KV cache {mib_text(mem['kv_cache_bytes'])} = {mib_text(mem['estimate_bytes'])} "
        f"(ratio {_num(mem['model_rss_vs_estimate'], 2)})",
        f"(e) memory read bandwidth {bw['read_gbps']:.1f} GB/s ({bw['threads']} threads; "
        f"1 thread {bw['read_gbps_one_thread']:.1f}, copy {bw['copy_gbps']:.1f}); "
        f"{bw['bytes_per_token'] / 1e6:.1f} MB read per token -> bound "
        f"{bw['bound_tokens_per_second']:.0f} tok/s; raw {bw['raw_generation_tps']:.1f} "
        f"({_num(bw['raw_vs_bound'], 2)} of bound), app {bw['app_generation_tps']:.1f} "
        f"({_num(bw['app_vs_bound'], 2)} of bound)",
    ]
    # Only the load before the run says something about other programs (ours counts after).
    before = (result["load_average"]["before"] or [0.0])[0]
    if before > 0.5:
        lines.append(f"warning: other programs were running (load average {before}); "
                     "llama.cpp's threads wait for each other, so these numbers are noisy. "
                     "Run again on an idle machine.")
    return "\n".join(lines) + "\n"


def check_plotting() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UserFacingError(PLOT_HINT) from exc


def plot(result: dict[str, Any], path: Path) -> None:
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = result["fixed_sequence"]
    bw = result["bandwidth"]
    docs = result["pipeline"]["documents"]
    mem = result["memory"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    labels = ["prompt", "generation"]
    raw = [fixed["raw"]["prompt_tps"], fixed["raw"]["generation_tps"]]
    app = [fixed["app"]["prompt_tps"], fixed["app"]["generation_tps"]]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], raw, 0.4, label="raw llama.cpp")
    ax.bar([x + 0.2 for x in xs], app, 0.4, label="app")
    ax.axhline(bw["bound_tokens_per_second"], color="grey", linestyle="--",
               label="bandwidth bound (generation)")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("tokens / second")
    ax.set_title("(a, e) speed on the same tokens")
    ax.legend(fontsize=8)
    ax = axes[1]
    names = [d["document"][:22] for d in docs]
    ax.barh(names, [d["pages_per_minute"] or 0 for d in docs])
    ax.set_xlabel("pages / minute (end to end)")
    ax.set_title(f"(b) throughput · overhead ratio {result['pipeline']['total']['overhead_ratio']}")
    ax = axes[2]
    values = [mem["baseline_rss_bytes"], mem["loaded_rss_bytes"], mem["peak_rss_bytes"],
              mem["estimate_bytes"] + mem["baseline_rss_bytes"]]
    ax.bar(["before load", "after load", "peak", "baseline +\nweights + KV"],
           [v / 2**20 for v in values])
    ax.set_ylabel("MiB")
    ax.set_title("(d) resident memory")
    fig.suptitle(f"{result['model']['name']} · {result['machine']['cpu']} · {result['date']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
