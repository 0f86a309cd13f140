"""The one module that imports the binding (`llama_cpp`; the package's other modules take it
from here), and what the loaded llama.cpp library is and does: its CPU backend (installers' runtime
dispatch, issue 6), whether it can offload to a GPU, and its native log chatter."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from lexbrief.errors import ModelError

log = logging.getLogger(__name__)

__all__ = ["Jinja2ChatFormatter", "llama_cpp"]  # for the package's other modules


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """llama.cpp prints load chatter on stderr even when asked not to; keep the CLI clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def backend_report(probe_model: Path | None = None) -> dict[str, object]:
    """What this llama.cpp build can do, for the hardware plan (lexbrief.model_files.fit) and
    `lexbrief hw`: whether it can offload layers to a GPU, and the CPU features it uses."""
    ensure_cpu_backend(probe_model)  # issue 6: installers' runtime CPU dispatch (below)
    return {
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
    }


# == runtime CPU dispatch (issue 6: installers) ==============================================
# Installers ship llama.cpp built with GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS: no CPU code is
# linked in, and one `libggml-cpu-<variant>.so` must be loaded before the first model. Which
# one is decided by `cpu_dispatch` (probed once in a child, then remembered); it is
# loaded here, through the libggml copy libllama links. A wheel holds copies, not symlinks:
# `libggml.so` is another copy, and a backend registered there is invisible to llama.cpp.
# An ordinary build (the dev venv) has no variant files, and all this does nothing.
_cpu_backend_lock = threading.Lock()
_cpu_backend_loaded: dict[str, str] = {}  # {"variant": name, or "" for an ordinary build}


def load_cpu_backend(library: Path) -> None:
    """Register one CPU backend module with the libggml that libllama uses."""
    folder = Path(llama_cpp.llama_cpp._base_path)
    names = ("libggml.so.0", "libggml.0.dylib", "ggml.dll", "libggml.so", "libggml.dylib")
    ggml_path = next((folder / n for n in names if (folder / n).is_file()), None)
    if ggml_path is None:
        raise ModelError(f"llama.cpp's libggml is missing from {folder}")
    ggml = ctypes.CDLL(str(ggml_path), mode=ctypes.RTLD_GLOBAL)  # already loaded: same handle
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    if not ggml.ggml_backend_load(os.fsencode(library)):
        raise ModelError(f"llama.cpp cannot load its CPU backend {library}")


def ensure_cpu_backend(model_path: Path | None = None) -> str | None:
    """Load the CPU backend once per process, if this llama.cpp needs one; the variant's name
    (None for an ordinary build, or while no model is known to probe with)."""
    from lexbrief.engine.llama_cpp import cpu_dispatch as cpu_backend

    with _cpu_backend_lock:
        if "variant" in _cpu_backend_loaded:
            return _cpu_backend_loaded["variant"] or None
        folder = Path(llama_cpp.llama_cpp._base_path)
        files = cpu_backend.variant_files(folder)
        if not files:
            _cpu_backend_loaded["variant"] = ""
            return None
        choice = cpu_backend.select_variant(
            folder, model_path)
        if choice is None:
            return None
        with quiet_native_logs():  # ggml says "load_backend: loaded CPU backend from ..."
            load_cpu_backend(files[choice.variant])
        log.info("CPU backend: %s (%s)", choice.variant, choice.source)
        _cpu_backend_loaded["variant"] = choice.variant
        return choice.variant
# == end of runtime CPU dispatch ==============================================================
