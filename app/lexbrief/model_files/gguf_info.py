"""What a GGUF file is, read from its header with the `gguf` package, without loading weights.

`check_header()` is instant (magic and version only); `read_gguf_info()` parses the metadata and
tensor table (about 2 s for a 50k-token vocabulary, so results are cached per file in
`<data folder>/models/.gguf-info.json`, keyed by path, size and modification time).
A file that is not GGUF, is truncated or damaged raises `InvalidModelFile` with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from lexbrief.errors import ModelError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
_HEADER = struct.Struct("<4sI")  # magic, version (little-endian files; see check_header)
_CACHE_NAME = ".gguf-info.json"
_CACHE_VERSION = 1
# llama.cpp's sliding-window layouts: every Nth layer attends to the whole context, the others
# only to the window. Other architectures are treated as full attention (a safe overestimate).
SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4}


class InvalidModelFile(ModelError):
    """Not a usable GGUF model: wrong format, unsupported version, truncated or damaged."""


@dataclass(frozen=True)
class GGUFInfo:
    path: str
    size: int  # bytes on disk
    version: int
    architecture: str
    name: str  # general.name
    size_label: str  # general.size_label, e.g. "1.5B"
    license: str
    parameters: int  # total elements of all tensors
    quantization: str  # "Q4_K_M", "Q4_1"... from general.file_type, else the dominant type
    context_length: int  # trained context
    chat_template: str
    n_layers: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    sliding_window: int  # 0 = none
    swa_pattern: int  # every Nth layer is global; 0 = no sliding window layers
    tensor_count: int
    weights_bytes: int  # all tensor data
    layer_bytes: int  # the largest repeating block (blk.N.*)
    output_bytes: int  # output.weight, or the token embeddings when they are tied
    embedding_bytes: int  # token_embd.weight
    tied_output: bool  # no output.weight: the token embeddings double as the output layer
    data_end: int  # where the last tensor ends: the size a complete file has at least

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)


def check_header(path: Path) -> int:
    """The GGUF version, after checking the magic bytes; raises InvalidModelFile."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
    except IsADirectoryError as exc:
        raise InvalidModelFile(f"{path} is a folder, not a GGUF model file.") from exc
    except FileNotFoundError as exc:
        raise InvalidModelFile(f"model file not found: {path}") from exc
    except OSError as exc:
        raise InvalidModelFile(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if len(head) < _HEADER.size:
        raise InvalidModelFile(
            f"{path.name} is not a GGUF model: it is only {len(head)} bytes long.")
    magic, version = _HEADER.unpack(head)
    if magic != GGUF_MAGIC:
        raise InvalidModelFile(
            f"{path.name} is not a GGUF model file (it does not start with 'GGUF'); LexBrief "
            "runs GGUF models such as the ones llama.cpp uses.")
    if version not in SUPPORTED_VERSIONS:
        if version > 0xFFFF and struct.unpack(">I", struct.pack("<I", version))[0] in (2, 3):
            raise InvalidModelFile(
                f"{path.name} is a big-endian GGUF file, which llama.cpp cannot run on this "
                "computer.")
        raise InvalidModelFile(
            f"{path.name} is GGUF version {version}; llama.cpp reads versions 2 and 3 (version 1 "
            "files must be converted again).")
    return version


def _value(field: Any) -> Any:
    if field is None:
        return None
    value = field.contents()
    return value


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, list):  # per-layer values (a few architectures): the largest
        value = max((v for v in value if isinstance(v, int | float)), default=default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _parse(path: Path, version: int) -> GGUFInfo:
    import gguf
    import numpy as np

    size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, IndexError, KeyError, struct.error, OverflowError) as exc:
        raise InvalidModelFile(
            f"{path.name} is truncated or damaged: its GGUF header does not match the data "
            f"({size:,} bytes on disk). Download or copy it again.") from exc
    except OSError as exc:
        raise InvalidModelFile(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    try:
        kv = reader.fields
        arch = str(_value(kv.get("general.architecture")) or "")
        if not arch:
            raise InvalidModelFile(
                f"{path.name} has no 'general.architecture' key: it is not a language model "
                "GGUF (perhaps a LoRA adapter or a vision projector).")

        def key(name: str, default: Any = None) -> Any:
            value = _value(kv.get(f"{arch}.{name}"))
            return default if value is None else value

        n_embd = _int(key("embedding_length"))
        n_head = _int(key("attention.head_count"))
        n_head_kv = _int(key("attention.head_count_kv"), n_head) or n_head
        head_dim = n_embd // n_head if n_head else 0
        tokens = kv.get("tokenizer.ggml.tokens")
        n_vocab = _int(key("vocab_size")) or (len(tokens.data) if tokens is not None else 0)
        sliding = _int(key("attention.sliding_window"))
        pattern = _int(key("attention.sliding_window_pattern")) or SWA_PATTERNS.get(arch, 0)

        data_end = 0
        weights = 0
        parameters = 0
        per_layer: dict[int, int] = {}
        by_type: dict[str, int] = {}
        named: dict[str, int] = {}
        for t in reader.tensors:
            n_bytes = int(t.n_bytes)
            weights += n_bytes
            parameters += int(t.n_elements)
            data_end = max(data_end, int(t.data_offset) + n_bytes)
            type_name = gguf.GGMLQuantizationType(int(t.tensor_type)).name
            by_type[type_name] = by_type.get(type_name, 0) + n_bytes
            match = re.match(r"blk\.(\d+)\.", t.name)
            if match:
                layer = int(match.group(1))
                per_layer[layer] = per_layer.get(layer, 0) + n_bytes
            else:
                named[t.name] = n_bytes
        file_type = kv.get("general.file_type")
        quantization = ""
        if file_type is not None:
            try:
                quantization = gguf.LlamaFileType(_int(_value(file_type))).name
                quantization = quantization.removeprefix("MOSTLY_").replace("GUESSED", "")
            except ValueError:
                quantization = ""
        if not quantization and by_type:
            quantization = max(by_type, key=lambda k: by_type[k])
        n_layers = _int(key("block_count")) or len(per_layer)
        info = GGUFInfo(
            path=str(path), size=size, version=version, architecture=arch,
            name=str(_value(kv.get("general.name")) or path.stem),
            size_label=str(_value(kv.get("general.size_label")) or ""),
            license=str(_value(kv.get("general.license")) or ""),
            parameters=parameters, quantization=quantization,
            context_length=_int(key("context_length")),
            chat_template=str(_value(kv.get("tokenizer.chat_template")) or ""),
            n_layers=n_layers, n_embd=n_embd, n_ff=_int(key("feed_forward_length")),
            n_head=n_head, n_head_kv=n_head_kv,
            head_dim_k=_int(key("attention.key_length"), head_dim) or head_dim,
            head_dim_v=_int(key("attention.value_length"), head_dim) or head_dim,
            n_vocab=n_vocab, sliding_window=sliding if pattern else 0,
            swa_pattern=pattern if sliding else 0, tensor_count=len(reader.tensors),
            weights_bytes=weights, layer_bytes=max(per_layer.values(), default=0),
            output_bytes=named.get("output.weight", named.get("token_embd.weight", 0)),
            embedding_bytes=named.get("token_embd.weight", 0),
            tied_output="output.weight" not in named,
            data_end=data_end,
        )
    except (ValueError, IndexError, KeyError, TypeError, np.exceptions.AxisError) as exc:
        raise InvalidModelFile(
            f"{path.name} is damaged: its GGUF metadata cannot be read ({exc}).") from exc
    finally:
        del reader  # a memory map: release it before the file is moved or removed
    if info.data_end > size:
        raise InvalidModelFile(
            f"{path.name} is truncated: it has {size:,} bytes but its header announces "
            f"{info.data_end:,}. Download or copy it again.")
    if info.n_layers <= 0 or info.n_embd <= 0 or info.tensor_count == 0:
        raise InvalidModelFile(
            f"{path.name} has no transformer layers: it is not a language model LexBrief can "
            "run.")
    return info


def _cache_path() -> Path:
    from lexbrief.model_files.resolve import installed_models_dir

    return installed_models_dir() / _CACHE_NAME


def _cache_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _store_cache(key: str, info: GGUFInfo) -> None:
    entries = _load_cache()
    entries = {k: v for k, v in entries.items() if Path(k.split("|")[0]).exists()}
    entries[key] = asdict(info)
    path = _cache_path()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"version": _CACHE_VERSION, "entries": entries}),
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a cache: never worth failing for
        log.debug("GGUF info cache not written: %s", exc)
        tmp.unlink(missing_ok=True)


def read_gguf_info(path: str | os.PathLike[str], *, use_cache: bool = True) -> GGUFInfo:
    """Metadata of a GGUF model; raises InvalidModelFile with a plain reason."""
    path = Path(path)
    version = check_header(path)
    key = _cache_key(path)
    if use_cache:
        cached = _load_cache().get(key)
        if isinstance(cached, dict):
            try:
                known = {f.name for f in fields(GGUFInfo)}
                return GGUFInfo(**{k: v for k, v in cached.items() if k in known})
            except TypeError:
                pass
    info = _parse(path, version)
    if use_cache:
        _store_cache(key, info)
    return info
