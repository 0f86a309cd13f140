"""Adding a GGUF file from disk or a USB stick (air-gapped laptops).

The file is checked first (GGUF magic and version, metadata and tensor table read with the
`gguf` package, size against what the header announces), so a truncated copy or a file that
only has a .gguf name is refused with the reason. Then it is copied into the models folder
(hashed on the way, written to `.partial/` and moved into place atomically) or, with
`keep_in_place`, registered where it is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from lexbrief.cancel import NEVER, CancelToken
from lexbrief.errors import StorageError
from lexbrief.model_files.catalog import load_catalog
from lexbrief.model_files.gguf_info import GGUFInfo, read_gguf_info
from lexbrief.model_files.installed import (
    HASH_CHUNK,
    InstalledModel,
    hash_file,
    load_installed,
    partial_dir,
    register,
)
from lexbrief.model_files.resolve import installed_models_dir

CopyProgress = Callable[[int, int], None]  # (bytes done, total)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return slug or "model"


def _copy_hashing(source: Path, target: Path, progress: CopyProgress | None,
                  cancel: CancelToken) -> str:
    total = source.stat().st_size
    free = shutil.disk_usage(target.parent).free
    if total + 64 * 1024 * 1024 > free:
        raise StorageError(f"not enough disk space to import {source.name}: it needs "
                           f"{total / 1e9:.2f} GB and {target.parent} has {free / 1e9:.2f} GB "
                           "free.")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(HASH_CHUNK):
                cancel.check()
                dst.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise StorageError(f"{source.name} cannot be copied into {target.parent}: "
                           f"{exc.strerror or exc}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def import_model(source: str | os.PathLike[str], *, keep_in_place: bool = False,
                 progress: CopyProgress | None = None,
                 cancel: CancelToken = NEVER) -> tuple[InstalledModel, GGUFInfo]:
    """Check a GGUF file and install it; raises InvalidModelFile with the reason if it is
    not a complete GGUF model."""
    path = Path(source).expanduser().resolve()
    info = read_gguf_info(path)  # refuses non-GGUF, truncated and damaged files
    size = path.stat().st_size
    catalog = load_catalog()

    if keep_in_place:
        sha = hash_file(path, (lambda done: progress(done, size)) if progress else None)
    else:
        name = path.name if path.suffix.lower() == ".gguf" else f"{path.stem}.gguf"
        part = partial_dir() / f"{name}.import.part"
        sha = _copy_hashing(path, part, progress, cancel)

    for model in load_installed().values():  # the same bytes are already installed
        if model.sha256 == sha and model.path.is_file():
            if not keep_in_place:
                part.unlink(missing_ok=True)
            return model, info

    entry = next((e for e in catalog.values() if e.sha256 and e.sha256 == sha), None) or \
        next((e for e in catalog.values()
              if e.file.lower() == path.name.lower() and not e.sha256), None)
    taken = load_installed()
    model_id = entry.id if entry and entry.id not in taken else _slug(path.stem)
    base, n = model_id, 2
    while model_id in taken:
        model_id, n = f"{base}-{n}", n + 1

    if keep_in_place:
        file = str(path)
    else:
        target = installed_models_dir() / name
        n = 2
        while target.exists():
            target = installed_models_dir() / f"{Path(name).stem}-{n}.gguf"
            n += 1
        os.replace(part, target)
        file = target.name
    model = register(InstalledModel(
        id=model_id, file=file, sha256=sha, size=size, source="import",
        catalog_id=entry.id if entry else "", repo=entry.repo if entry else ""))
    return model, info
