"""The installers' OCR recogniser with its MatMul weights stored as int8 (issue 18 item 6).

PP-OCRv6's small recogniser is 21.2 MB, 9.0 MB of it one 120 x 18,710 output layer (a MatMul)
and 0.9 MB the other twelve MatMuls. ONNX Runtime's dynamic quantization stores those weights
as int8, one scale per output channel, and quantizes the activations per call; the convolutions
stay float. Measured on the OCR benchmark's five corpus pages in four renders (clean 300 dpi,
JPEG q30, 100 dpi, blur 1.5 px), alternated with the float model in one session: the same mean
character error rate ignoring white space (0.46 %, worst page 2.0 %), 3.10 % vs 3.08 % with white
space, mean confidence 0.9889 vs 0.9890 (docs/BENCHMARKS.md).

    python packaging/ocr_models.py MODELS_DIR   # with the build venv's Python (onnx installed)

replaces MODELS_DIR/PP-OCRv6_rec_small.onnx with PP-OCRv6_rec_small.int8.onnx (the name
lexbrief.read.ocr prefers), made once per source model and kept in
`~/.cache/lexbrief/ocr-models/<sha256 of the source>/`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

SOURCE = "PP-OCRv6_rec_small.onnx"
TARGET = "PP-OCRv6_rec_small.int8.onnx"  # as lexbrief.read.ocr.REC_MODEL_INT8


def cache_dir(digest: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "lexbrief" / "ocr-models" / digest[:16]


def quantized(source: Path) -> Path:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out = cache_dir(digest) / TARGET
    if out.is_file():
        return out
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    quantize_dynamic(source, partial, op_types_to_quantize=["MatMul"], per_channel=True,
                     weight_type=QuantType.QInt8)
    partial.replace(out)  # never a half-written model under the real name
    return out


def replace_recogniser(models: Path) -> tuple[int, int]:
    """(bytes before, bytes after) of the recogniser in `models`; (0, 0) if already done."""
    source = models / SOURCE
    if not source.is_file():
        if (models / TARGET).is_file():
            return 0, 0
        raise SystemExit(f"packaging/ocr_models.py: no {SOURCE} in {models}")
    small = quantized(source)
    shutil.copyfile(small, models / TARGET)
    before = source.stat().st_size
    source.unlink()
    return before, small.stat().st_size


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    before, after = replace_recogniser(Path(argv[0]))
    print(f"OCR recogniser: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB (int8 MatMuls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
