"""A smaller ICU data library for the Linux bundle (issue 18 item 6).

PySide6's Linux wheels carry ICU 73 for Qt Core: `libicudata.so.73` is 32 MB, one read-only
symbol (`icudt73_dat`) holding ICU's "common data" package: 3,921 items, every locale's
display names, collation, time-zone names, calendars, 190 character-set tables, dictionaries
for Chinese/Japanese/Thai/Khmer/Lao/Burmese line breaking, transliterators...

Qt Core calls only four ICU services (its undefined ICU symbols): case mapping
(`u_strToUpper/Lower`: the case tables are compiled into libicuuc, not the data file),
collation (`ucol_*`), time-zone display names (`ucal_*`) and character-set converters
(`ucnv_*`). Of the data file, those read the locale tree, `coll/`, `zone/`, the zone tables
and the `.cnv` converter tables. LexBrief's text is English legal documents, and it reads
files with Python, never through Qt's converters. So this keeps:

- every item that is not a locale (the tables behind locales, zones, plural rules,
  normalization, `cnvalias.icu`, break rules...);
- of each locale tree (main, `coll/`, `zone/`, `curr/`, `lang/`, `region/`, `unit/`,
  `rbnf/`, `brkitr/`): `root`, English (`en`, `en_*`) and the trees' own `pool`/`res_index`;
- the single-byte converter tables (Windows, ISO-8859, Mac, DOS, EBCDIC code pages: a few kB
  each);

and drops the other locales (another language falls back to ICU's root data: Unicode
collation order, English-style zone names), the multi-byte converter tables (CJK encodings:
Qt's own UTF-8/16/32 and Latin-1 converters do not need them), the line-breaking
dictionaries and the transliterators (Qt calls no `ubrk_*` or `utrans_*`).

The filtered package is written back as a shared library with the same soname and symbol
(`cc -shared` over an assembler `.incbin`), in place of the bundle's copy. The format is ICU's
"CmnD" common data: the original header, then a table of contents (item count; per item the
offsets of its name and its data, from the table's start), names sorted as before, each
item's data 16-byte aligned (ICU's own packager aligns the same way).

    python packaging/icu_data.py LIBICUDATA [OUT]   # prints the sizes; OUT defaults to in place
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ALIGN = 16
PAD = b"\xaa"  # what ICU's packager fills alignment gaps with
MULTI_BYTE_TABLE = 16 * 1024  # a converter table above this is a multi-byte (CJK) encoding
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*$")  # en, en_GB, zh_Hant_TW, sr_Latn...
KEPT_LOCALES = re.compile(r"^(root|en|en_[A-Za-z0-9_]+)$")
DROPPED_TREES = ("translit/",)
DROPPED_SUFFIXES = (".dict",)  # brkitr dictionaries


class IcuDataError(Exception):
    """The library is not what this tool understands (another ICU layout or version)."""


@dataclass(frozen=True)
class Package:
    header: bytes
    items: list[tuple[str, bytes]]  # (name such as "icudt73l/coll/root.res", data)

    @property
    def prefix(self) -> str:
        return self.items[0][0].split("/", 1)[0] if self.items else ""


def _readelf(args: list[str], lib: Path) -> str:
    return subprocess.run(["readelf", "-W", *args, str(lib)], capture_output=True, text=True,
                          check=True).stdout


def data_symbol(lib: Path) -> tuple[str, int, int]:
    """(name, file offset, size) of the library's one ICU data symbol (`icudtNN_dat`)."""
    symbol = None
    for line in _readelf(["--dyn-syms"], lib).splitlines():
        fields = line.split()
        if len(fields) >= 8 and re.fullmatch(r"icudt\d+_dat", fields[7]):
            symbol = (fields[7], int(fields[1], 16), int(fields[2], 0))
    if symbol is None:
        raise IcuDataError(f"{lib}: no icudtNN_dat symbol")
    name, address, size = symbol
    for line in _readelf(["-l"], lib).splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD":
            offset, vaddr, filesz = int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)
            if vaddr <= address < vaddr + filesz:
                return name, address - vaddr + offset, size
    raise IcuDataError(f"{lib}: {name} lies in no loaded segment")


def parse(blob: bytes) -> Package:
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[8] != 0:
        raise IcuDataError("not a little-endian ICU common data package (CmnD)")
    toc = blob[header_size:]
    (count,) = struct.unpack_from("<I", toc, 0)
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_offset, data_offset) in enumerate(entries):
        end = entries[i + 1][1] if i + 1 < count else len(toc)
        name = toc[name_offset:toc.index(b"\0", name_offset)].decode("ascii")
        items.append((name, toc[data_offset:end]))
    return Package(blob[:header_size], items)


def read_library(lib: Path) -> tuple[str, Package]:
    name, offset, size = data_symbol(lib)
    with lib.open("rb") as f:
        f.seek(offset)
        return name, parse(f.read(size))


def serialize(package: Package) -> bytes:
    count = len(package.items)
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in package.items)
    names_start = 4 + 8 * count
    data_start = -(-(names_start + len(names)) // ALIGN) * ALIGN
    # The table's start lies at header_size; ICU headers are 16-byte multiples, so aligning
    # offsets within the table aligns them in memory too.
    if len(package.header) % ALIGN:
        raise IcuDataError("header size is not a multiple of 16")
    entries, blobs, name_at, data_at = [], [], names_start, data_start
    for name, data in package.items:
        entries.append(struct.pack("<II", name_at, data_at))
        name_at += len(name) + 1
        padded = data + PAD * (-len(data) % ALIGN)
        blobs.append(padded)
        data_at += len(padded)
    toc = struct.pack("<I", count) + b"".join(entries) + names
    toc += PAD * (data_start - len(toc))
    return package.header + toc + b"".join(blobs)


def keep(name: str, data: bytes) -> bool:
    """Whether the bundle keeps this item (name without the `icudtNNl/` prefix)."""
    if name.startswith(DROPPED_TREES) or name.endswith(DROPPED_SUFFIXES):
        return False
    if name.endswith(".cnv"):
        return len(data) <= MULTI_BYTE_TABLE
    if name.endswith(".res"):
        base = name.rsplit("/", 1)[-1][:-4]
        return base == "res_index" or not LOCALE.match(base) or bool(KEPT_LOCALES.match(base))
    return True


def filtered(package: Package) -> Package:
    return Package(package.header, [(n, d) for n, d in package.items
                                    if keep(n.split("/", 1)[1], d)])


def write_library(symbol: str, soname: str, blob: bytes, out: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise IcuDataError("no C compiler (cc) to write the library")
    with tempfile.TemporaryDirectory() as tmp:
        dat, asm = Path(tmp) / "data.dat", Path(tmp) / "data.S"
        dat.write_bytes(blob)
        asm.write_text(f"""\t.section .rodata
\t.globl {symbol}
\t.type {symbol}, @object
\t.balign {ALIGN}
{symbol}:
\t.incbin "{dat}"
\t.size {symbol}, . - {symbol}
\t.section .note.GNU-stack,"",@progbits
""", encoding="ascii")
        built = Path(tmp) / soname
        subprocess.run([compiler, "-shared", "-nostdlib", "-Wl,-soname," + soname,
                        "-Wl,-z,noexecstack", "-o", str(built), str(asm)], check=True)
        built.chmod(out.stat().st_mode & 0o777 if out.exists() else 0o755)
        shutil.move(str(built), out)


def soname(lib: Path) -> str:
    match = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", _readelf(["-d"], lib))
    if not match:
        raise IcuDataError(f"{lib}: no soname")
    return match.group(1)


def shrink(lib: Path, out: Path | None = None) -> tuple[int, int, int, int]:
    """Write the filtered library to `out` (default: in place). Returns (bytes before, bytes
    after, items before, items after)."""
    out = out or lib
    symbol, package = read_library(lib)
    small = filtered(package)
    name, before = soname(lib), lib.stat().st_size
    write_library(symbol, name, serialize(small), out)
    return before, out.stat().st_size, len(package.items), len(small.items)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    lib = Path(argv[0]).resolve()
    out = Path(argv[1]) if len(argv) == 2 else lib
    before, after, n_before, n_after = shrink(lib, out)
    print(f"{lib.name}: {before / 1e6:.1f} MB, {n_before} items -> {after / 1e6:.1f} MB, "
          f"{n_after} items ({out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
