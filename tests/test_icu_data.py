"""packaging/icu_data.py: the bundle's smaller ICU data library, on the real libicudata of the
PySide6 wheel in this venv. Qt Core is run against the filtered library in a child process
(LD_LIBRARY_PATH comes before libicuuc's RUNPATH), and what Qt asks of ICU must give the same
answers as with the full data, for English and for the root data other locales fall back to.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lexbrief_packaging_icu_data",
                                                  ROOT / "packaging" / "icu_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


icu_data = _load()


def _wheel_icu() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations or not sys.platform.startswith(
            "linux"):
        return None
    found = sorted((Path(next(iter(spec.submodule_search_locations))) / "Qt" / "lib")
                   .glob("libicudata.so.*"))
    return found[0] if found else None


LIB = _wheel_icu()
needs_icu = pytest.mark.skipif(
    LIB is None or not shutil.which("readelf") or not (shutil.which("cc") or shutil.which("gcc")),
    reason="PySide6's bundled ICU is a Linux wheel's; readelf and cc write the library")

PROBE = r"""
import json
from PySide6.QtCore import QCollator, QLocale, QStringDecoder, QTimeZone
maps = [line.split()[-1] for line in open("/proc/self/maps") if "libicudata" in line]
out = {"icudata": maps[0] if maps else ""}
words = ["banana", "Zebra", "apple", "Apple", "éclair", "Ångström"]
out["sorted_en"] = sorted(words, key=QCollator(QLocale("en_US")).sortKey)
out["sorted_root_fallback"] = sorted(words, key=QCollator(QLocale("fr_FR")).sortKey)
numeric = QCollator(QLocale("en_GB"))
numeric.setNumericMode(True)
out["numeric"] = sorted(["exhibit 10", "exhibit 2", "exhibit 1"], key=numeric.sortKey)
out["upper_tr"] = QLocale("tr_TR").toUpper("istanbul")
out["upper_en"] = QLocale("en_US").toUpper("straße")
ny = QTimeZone(b"America/New_York")
long_name = QTimeZone.NameType.LongName
out["zone_en"] = ny.displayName(QTimeZone.TimeType.StandardTime, long_name, QLocale("en_US"))
out["zone_gb"] = QTimeZone(b"Europe/London").displayName(
    QTimeZone.TimeType.DaylightTime, long_name, QLocale("en_GB"))
out["zone_de"] = ny.displayName(QTimeZone.TimeType.StandardTime, long_name, QLocale("de_DE"))
out["windows_1252"] = QStringDecoder("windows-1252").isValid()
out["iso_8859_15"] = QStringDecoder("ISO-8859-15").isValid()
out["shift_jis"] = QStringDecoder("Shift_JIS").isValid()
print(json.dumps(out))
"""


def _probe(library_dir: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    if library_dir is not None:
        env["LD_LIBRARY_PATH"] = str(library_dir)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_icu
def test_the_package_round_trips_byte_for_byte() -> None:
    assert LIB is not None
    symbol, offset, size = icu_data.data_symbol(LIB)
    name, package = icu_data.read_library(LIB)
    assert name == symbol and len(package.items) > 1000
    with LIB.open("rb") as f:
        f.seek(offset)
        original = f.read(size)
    assert icu_data.serialize(package) == original


@needs_icu
def test_the_filter_keeps_root_english_and_the_tables(tmp_path: Path) -> None:
    assert LIB is not None
    _, package = icu_data.read_library(LIB)
    kept = {n.split("/", 1)[1] for n, _ in icu_data.filtered(package).items}
    for name in ("root.res", "en.res", "en_GB.res", "pool.res", "res_index.res",
                 "supplementalData.res", "likelySubtags.res", "zoneinfo64.res",
                 "metaZones.res", "cnvalias.icu", "coll/root.res", "coll/ucadata.icu",
                 "zone/en.res", "zone/root.res", "brkitr/root.res"):
        assert name in kept, name
    for name in ("de.res", "zh_Hant.res", "coll/zh.res", "zone/de.res", "brkitr/cjdict.dict",
                 "translit/root.res", "gb18030.cnv", "euc-tw-2014.cnv"):
        assert name not in kept, name
    assert "ibm-5348_P100-1997.cnv" in kept  # windows-1252 (a single-byte table)
    # what is kept is the original's bytes, and the written package parses back to it
    small = icu_data.filtered(package)
    assert icu_data.parse(icu_data.serialize(small)).items == small.items


@needs_icu
def test_qt_gives_the_same_answers_with_the_smaller_library(tmp_path: Path) -> None:
    assert LIB is not None
    out = tmp_path / LIB.name
    before, after, items_before, items_after = icu_data.shrink(LIB, out)
    assert after < before / 4 and items_after < items_before / 2
    assert icu_data.read_library(out)[1] == icu_data.filtered(icu_data.read_library(LIB)[1])
    full, small = _probe(None), _probe(tmp_path)
    assert Path(str(small["icudata"])) == out and Path(str(full["icudata"])) != out
    for key in ("sorted_en", "sorted_root_fallback", "numeric", "upper_tr", "upper_en",
                "zone_en", "zone_gb", "windows_1252", "iso_8859_15"):
        assert small[key] == full[key], key
    # the answers are ICU's, not a C-locale fallback's
    assert small["sorted_en"] == ["Ångström", "apple", "Apple", "banana", "éclair", "Zebra"]
    assert small["numeric"] == ["exhibit 1", "exhibit 2", "exhibit 10"]
    assert small["upper_tr"] == "İSTANBUL" and small["zone_en"] == "Eastern Standard Time"
    # what was dropped, and how it shows: German zone names fall back to English ones, and the
    # multi-byte converters are gone (LexBrief decodes files with Python, never with Qt)
    assert full["zone_de"] != full["zone_en"] and small["zone_de"] == small["zone_en"]
    assert full["shift_jis"] is True and small["shift_jis"] is False


def test_a_file_that_is_no_icu_package_is_refused() -> None:
    with pytest.raises(icu_data.IcuDataError):
        icu_data.parse(b"\x20\x00\xda\x27" + b"\0" * 60)
