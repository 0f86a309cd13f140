"""`lexbrief hw`: what this computer offers a language model (RAM, CPU, GPUs, llama.cpp build)
and where the active model will run.

The report is built by `collect()` and printed by `render()`, so a live view (a `--watch`
flag added in `register`) can reuse both.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lexbrief.machine import HardwareInfo, detect_hardware
from lexbrief.settings import GPU_LAYERS_ALL

GB = 1e9  # decimal, like the rest of LexBrief's output


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "hw", help="hardware report: RAM, CPU, GPUs, and where the model will run",
        description="What this computer offers a language model, and the GPU offload plan "
                    "for the active model.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--watch", action="store_true",
                   help="live readings instead (CPU, RAM, GPU, power, battery) until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between --watch readings (default 1)")
    p.add_argument("--count", type=int, metavar="N", help="stop --watch after N readings")
    p.set_defaults(func=run)
    return p


def _llama() -> dict[str, Any]:
    try:
        from lexbrief.engine.llama_cpp.native import backend_report
        from lexbrief.model_files.resolve import probe_model
    except ImportError as exc:
        return {"gpu_offload": False, "system_info": "", "error": f"llama.cpp is missing: {exc}"}
    return backend_report(probe_model())


def collect(hw: HardwareInfo | None = None) -> dict[str, Any]:
    """The whole report as plain data."""
    from lexbrief.errors import UserFacingError
    from lexbrief.model_files.fit import decide_offload
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.settings import GPU_LAYERS_AUTO, load_settings

    hw = hw or detect_hardware()
    llama = _llama()
    plan: dict[str, Any] = {}
    try:
        model = resolve_model()
        settings = load_settings()
        if settings.gpu_layers == GPU_LAYERS_AUTO:
            decision = decide_offload(model.path, context=settings.context_length or None,
                                      hw=hw, gpu_offload=bool(llama["gpu_offload"]))
            plan = {"model": model.path.name, "gpu_layers": decision.gpu_layers,
                    "reason": decision.reason}
        else:
            plan = {"model": model.path.name, "gpu_layers": settings.gpu_layers,
                    "reason": f"gpu_layers is set to {settings.gpu_layers} in the settings"}
    except UserFacingError as exc:
        plan = {"model": None, "reason": exc.message}
    return {"hardware": hw.as_dict(), "llama_cpp": llama, "plan": plan}


def render(report: dict[str, Any]) -> str:
    hw = report["hardware"]
    cpu = hw["cpu"]
    mem = hw["memory"]
    lines = [
        f"System     {hw['os']} ({cpu['architecture']})",
        f"CPU        {cpu['model']}: {cpu['physical_cores']} physical cores, "
        f"{cpu['logical_cores']} logical; {cpu['vector_unit']}"
        + (f" ({' '.join(cpu['features'])})" if cpu["features"] else ""),
        f"Memory     {mem['total'] / GB:.1f} GB total, {mem['available'] / GB:.1f} GB "
        "available",
    ]
    if hw["gpus"]:
        for gpu in hw["gpus"]:
            kind = "unified memory usable by the GPU" if gpu["unified_memory"] else "VRAM"
            lines.append(f"GPU {gpu['index']}      {gpu['name']} ({gpu['backend']}): "
                         f"{gpu['memory_total'] / GB:.1f} GB {kind}, "
                         f"{gpu['memory_free'] / GB:.1f} GB free")
    else:
        lines.append("GPU        none found")
    lines.extend(f"           note: {note}" for note in hw["notes"])
    llama = report["llama_cpp"]
    build = "can offload to a GPU" if llama.get("gpu_offload") else "CPU only (no GPU offload)"
    lines.append(f"llama.cpp  {build}")
    if llama.get("system_info"):
        lines.append(f"           {llama['system_info']}")
    if llama.get("error"):
        lines.append(f"           {llama['error']}")
    plan = report["plan"]
    if plan.get("model"):
        layers = plan["gpu_layers"]
        where = ("all layers on the GPU" if layers == GPU_LAYERS_ALL else
                 f"{layers} layers on the GPU" if layers > 0 else "CPU")
        lines.append(f"Plan       {plan['model']}: {where}: {plan['reason']}")
    else:
        lines.append(f"Plan       {plan['reason']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.watch:  # lexbrief.machine.telemetry: the live sampler
        from lexbrief.machine.telemetry.watch import run_watch

        return run_watch(args.interval, args.count)
    report = collect()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
