"""`lexbrief models list | recommend | download ID | import FILE | verify | remove ID | use ID`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from lexbrief.errors import ExitCode, ModelError, UserFacingError
from lexbrief.model_files.rating import (
    active_model_path,
    installed_catalog_ids,
    machine_text,
    rate_catalog,
)
from lexbrief.units import size_text


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "models", help="the model catalog: list, recommend, download, import, verify, use",
        description="Manage the language models LexBrief runs (GGUF files).")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    s = sub.add_parser("list", help="catalog and installed models, with how each fits here")
    s.add_argument("--context", type=int, help="context length to plan for (default: settings)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_list)

    s = sub.add_parser("recommend", help="the best model for this computer, and why")
    s.add_argument("--context", type=int, help="context length to plan for (default: settings)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_recommend)

    s = sub.add_parser("download", help="download a catalog model from the Hugging Face hub",
                       description="Download, verify (sha256) and install a catalog model. An "
                       "interrupted download resumes when run again. Gated models need a "
                       "token: HF_TOKEN or `hf auth login`.")
    s.add_argument("id", help="catalog id (see `lexbrief models list`)")
    s.add_argument("--endpoint", help="hub address (default: HF_ENDPOINT or huggingface.co)")
    s.add_argument("--use", action="store_true", help="make it the active model afterwards")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=run_download)

    s = sub.add_parser("import", help="add a .gguf file from disk or a USB stick")
    s.add_argument("file", type=Path)
    s.add_argument("--keep-in-place", action="store_true",
                   help="register the file where it is instead of copying it")
    s.add_argument("--use", action="store_true", help="make it the active model afterwards")
    s.set_defaults(func=run_import)

    s = sub.add_parser("verify", help="re-hash installed models against their recorded sha256")
    s.add_argument("ids", nargs="*", metavar="ID", help="default: every installed model")
    s.set_defaults(func=run_verify)

    s = sub.add_parser("remove", help="delete an installed model")
    s.add_argument("id")
    s.add_argument("-y", "--yes", action="store_true", help="do not ask")
    s.set_defaults(func=run_remove)

    s = sub.add_parser("use", help="set the active model (an installed id, a GGUF path, or "
                                   "'starter')")
    s.add_argument("model", metavar="ID|PATH")
    s.set_defaults(func=run_use)


# -- helpers ---------------------------------------------------------------------------------


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.0f}M" if n else "?"


# -- list / recommend ------------------------------------------------------------------------
def run_list(args: argparse.Namespace) -> int:
    from lexbrief.model_files.installed import load_installed

    hw, rec, offload, context = rate_catalog(getattr(args, "context", None))
    installed_ids = installed_catalog_ids()
    active = active_model_path()
    installed = load_installed()
    extra = [m for m in installed.values() if not m.catalog_id]
    ranked = rec.ranked if rec else []
    if args.json:
        rows = [{
            "id": r.entry.id, "name": r.entry.name, "repo": r.entry.repo, "file": r.entry.file,
            "size": r.entry.size, "parameters": r.entry.parameters,
            "quantization": r.entry.quantization, "license": r.entry.license,
            "gated": r.entry.gated, "fit": r.plan.verdict if r.plan else None,
            "fit_label": r.label, "gpu_layers": r.plan.gpu_layers if r.plan else None,
            "memory": r.plan.estimate.total if r.plan else None,
            "installed": r.entry.id in installed_ids,
            "active": bool(active and installed_ids.get(r.entry.id, Path()).resolve() == active),
            "recommended": bool(rec and r.entry.id == rec.choice.entry.id),
        } for r in sorted(ranked, key=lambda r: r.entry.size)]
        rows += [{"id": m.id, "file": str(m.path), "size": m.size, "installed": True,
                  "active": bool(active and m.path.resolve() == active), "catalog": False}
                 for m in extra]
        print(json.dumps(rows, indent=2))
        return 0
    ctx_text = f"{context:,}-token context" if context else "the default context (≤ 8,192)"
    print(f"Models (fit planned for {ctx_text}; {machine_text(hw, offload)})")
    print(f"   {'ID':<31} {'SIZE':>7} {'PARAMS':>6}  {'LICENCE':<19} {'ON THIS MACHINE':<32} "
          "STATUS")
    for r in sorted(ranked, key=lambda r: r.entry.size):
        e = r.entry
        path = installed_ids.get(e.id)
        is_active = bool(active and path and path.resolve() == active)
        status = ("active" if is_active else "installed" if path else "")
        if rec and e.id == rec.choice.entry.id:
            status = (status + ", recommended").lstrip(", ")
        memory = f" ~{size_text(r.plan.estimate.total)}" if r.plan else ""
        licence = e.license + (" (gated)" if e.gated else "")
        print(f" {'*' if is_active else ' '} {e.id:<31} {size_text(e.size):>7} "
              f"{_params(e.parameters):>6}  {licence:<19} {(r.label + memory):<32} {status}")
    if extra:
        print("\nInstalled, not in the catalog:")
        for m in extra:
            mark = "*" if active and m.path.resolve() == active else " "
            print(f" {mark} {m.id:<31} {size_text(m.size):>7}  {m.path}")
    print("\n* = active.  `lexbrief models recommend` explains the choice; "
          "`lexbrief models download ID` installs one.")
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    hw, rec, offload, _ = rate_catalog(getattr(args, "context", None))
    if rec is None:
        raise ModelError("no catalog model fits in this computer's memory "
                         f"({hw.memory.total / 1e9:.1f} GB of RAM).")
    choice = rec.choice
    installed = choice.entry.id in installed_catalog_ids()
    if args.json:
        print(json.dumps({
            "id": choice.entry.id, "name": choice.entry.name, "fit": choice.plan.verdict,
            "gpu_layers": choice.plan.gpu_layers, "memory": choice.plan.estimate.total,
            "context": choice.plan.estimate.context,
            "prompt_tokens_per_second": round(choice.speed.prompt_tps, 1),
            "generation_tokens_per_second": round(choice.speed.generation_tps, 1),
            "reasons": rec.reasons, "installed": installed,
            "machine": machine_text(hw, offload),
        }, indent=2))
        return 0
    print(f"Recommended: {choice.entry.name} ({choice.entry.id}), "
          f"{choice.entry.quantization}, {size_text(choice.entry.size)}")
    print(f"This machine: {machine_text(hw, offload)}")
    for reason in rec.reasons:
        print(f"  - {reason}")
    if installed:
        print(f"It is installed: `lexbrief models use {choice.entry.id}` makes it active.")
    else:
        print(f"Install it with `lexbrief models download {choice.entry.id} --use`.")
    return 0


# -- download / import ----------------------------------------------------------------------
class _DownloadLine:
    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.name = name
        self.tty = stream.isatty()
        self.last_tenth = -1

    def __call__(self, p: Any) -> None:
        eta = f", {p.eta:.0f} s left" if p.eta is not None else ""
        resumed = f" (resumed at {size_text(p.resumed_from)})" if p.resumed_from else ""
        line = (f"{self.name}: {size_text(p.downloaded)} of {size_text(p.total)} "
                f"({p.fraction:.0%}) at {p.speed / 1e6:.1f} MB/s{eta}{resumed}")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        elif int(p.fraction * 10) != self.last_tenth:  # a log, not a flood: every 10 %
            self.last_tenth = int(p.fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _set_active(path: Path) -> None:
    from lexbrief.settings import load_settings, save_settings

    settings = load_settings()
    settings.active_model = str(path)
    save_settings(settings)


def run_download(args: argparse.Namespace) -> int:
    from lexbrief.errors import Cancelled
    from lexbrief.model_files.catalog import find_entry
    from lexbrief.model_files.download import download_model

    entry = find_entry(args.id)
    line = None if args.quiet else _DownloadLine(sys.stderr, entry.file)
    try:
        model = download_model(entry, endpoint=args.endpoint, progress=line)
    except (KeyboardInterrupt, Cancelled):
        if line:
            line.done()
        print("\nlexbrief: download paused; run the same command again to resume it.",
              file=sys.stderr)
        return ExitCode.CANCELLED
    finally:
        if line:
            line.done()
    print(f"{entry.name}: verified (sha256 {model.sha256[:16]}…), installed as {model.path}")
    if args.use:
        _set_active(model.path)
        print(f"Active model: {model.id}")
    else:
        print(f"Make it the active model with `lexbrief models use {model.id}`.")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from lexbrief.machine import detect_hardware
    from lexbrief.model_files.fit import ModelShape, llama_gpu_offload, plan_fit
    from lexbrief.model_files.importer import import_model

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\x1b[2Kcopying {args.file.name}: {done / max(total, 1):.0%}")
            sys.stderr.flush()

    try:
        model, info = import_model(args.file, keep_in_place=args.keep_in_place,
                                   progress=progress)
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2K")
    plan = plan_fit(ModelShape.from_gguf(info), detect_hardware(),
                    gpu_offload=llama_gpu_offload())
    print(f"Imported {model.id}: {info.name} ({info.architecture}, {_params(info.parameters)} "
          f"parameters, {info.quantization}, trained context {info.context_length:,}, "
          f"{info.n_layers} layers, {info.n_head}/{info.n_head_kv} heads, chat template: "
          f"{'yes' if info.has_chat_template else 'no (a generic one is used)'})")
    print(f"  file {model.path}  sha256 {model.sha256[:16]}…")
    print(f"  on this machine: {plan.label}, ~{size_text(plan.estimate.total)}: {plan.reason}")
    if args.use:
        _set_active(model.path)
        print(f"Active model: {model.id}")
    return 0


# -- verify / remove / use -------------------------------------------------------------------
def run_verify(args: argparse.Namespace) -> int:
    from lexbrief.model_files.catalog import load_catalog
    from lexbrief.model_files.installed import (
        hash_file,
        load_installed,
        require_installed,
        verify_installed,
    )
    from lexbrief.model_files.resolve import STARTER_FILE, starter_model_path

    models = [require_installed(i) for i in args.ids] if args.ids else \
        list(load_installed().values())
    bad = 0
    for model in models:
        result = verify_installed(model)
        if result.status == "ok":
            print(f"OK        {model.id}  sha256 {model.sha256[:16]}…")
        elif result.status == "missing":
            bad += 1
            print(f"MISSING   {model.id}  {model.path} is gone")
        else:
            bad += 1
            where = (f"moved to {result.quarantined_to}" if result.quarantined_to
                     else f"left at {model.path} (not LexBrief's copy)")
            print(f"MISMATCH  {model.id}  sha256 {result.actual_sha256[:16]}…, expected "
                  f"{model.sha256[:16]}…: damaged, {where}")
    starter = starter_model_path()
    expected = next((e.sha256 for e in load_catalog().values()
                     if e.file == STARTER_FILE and e.sha256), "")
    if not args.ids and starter and expected:
        ok = hash_file(starter) == expected
        bad += not ok
        print(f"{'OK' if ok else 'MISMATCH':<9} starter (bundled)  {starter}")
    if not models and not (starter and not args.ids):
        print("No models are installed.")
    if bad:
        raise ModelError(f"{bad} model file(s) failed verification; download or import them "
                         "again.")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from lexbrief.model_files.installed import remove_installed, require_installed

    model = require_installed(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserFacingError(f"removing {model.id} needs confirmation; add --yes.")
        what = f"delete {model.path}" if model.managed else f"forget {model.path} (kept on disk)"
        answer = input(f"{what} ({size_text(model.size)})? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing removed.")
            return 0
    remove_installed(model.id)
    print(f"Removed {model.id}" + ("" if model.managed else f" (the file {model.path} is kept)"))
    return 0


def run_use(args: argparse.Namespace) -> int:
    from lexbrief.model_files.catalog import load_catalog
    from lexbrief.model_files.gguf_info import read_gguf_info
    from lexbrief.model_files.installed import find_installed
    from lexbrief.model_files.resolve import starter_model_path
    from lexbrief.settings import load_settings, save_settings

    starter = starter_model_path()
    if args.model == "starter" or (
            starter and installed_catalog_ids().get(args.model.lower()) == starter):
        settings = load_settings()
        settings.active_model = ""
        save_settings(settings)
        print("Active model: the bundled starter (SmolLM2-135M-Instruct).")
        return 0
    model = find_installed(args.model)
    if model is not None:
        if not model.path.is_file():
            raise ModelError(f"the file of {model.id} is missing ({model.path}); download or "
                             "import it again.")
        _set_active(model.path)
        print(f"Active model: {model.id} ({model.path})")
        return 0
    path = Path(args.model).expanduser()
    if path.is_file():
        info = read_gguf_info(path)  # refuses what llama.cpp could not load
        _set_active(path.resolve())
        print(f"Active model: {path.resolve()} ({info.name}, {info.quantization})")
        return 0
    if args.model.lower() in load_catalog():
        raise ModelError(f"{args.model} is not installed; download it with `lexbrief models "
                         f"download {args.model} --use`.")
    raise ModelError(f"'{args.model}' is neither an installed model nor a GGUF file; "
                     "`lexbrief models list` shows what is installed.")
