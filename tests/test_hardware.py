"""The hardware inventory (lexbrief.machine) and `lexbrief hw`."""

from __future__ import annotations

import json
import sys

import pytest

from lexbrief.machine import detect_hardware
from lexbrief.machine.cpu import _linux_cpuinfo
from lexbrief.machine.gpu import GIB, metal_working_set, nvidia_gpus

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
"""
ARM = """processor\t: 0
BogoMIPS\t: 48.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp i8mm
"""


def cli(*argv: str) -> int:
    """The CLI in this process; its log file is closed after each command."""
    import logging

    from lexbrief.ui.cli.main import main

    try:
        return main(list(argv))
    finally:
        logger = logging.getLogger("lexbrief")
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()  # a closed FileHandler reopens its file on the next record


def test_this_machine_is_described_consistently() -> None:
    hw = detect_hardware()
    assert 0 < hw.memory.available <= hw.memory.total
    assert 1 <= hw.cpu.physical_cores <= hw.cpu.logical_cores
    assert hw.cpu.model and hw.os
    json.dumps(hw.as_dict())  # plain data, for `lexbrief hw --json` and telemetry
    for gpu in hw.gpus:
        assert 0 <= gpu.memory_free <= gpu.memory_total
    if not hw.gpus:
        assert hw.notes  # says why there is no GPU


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_linux_cpu_features_are_read_from_proc_cpuinfo() -> None:
    model, features = _linux_cpuinfo(X86)
    assert model.startswith("Intel(R) Core(TM) i7-8650U")
    assert features == ("sse4_2", "avx", "avx2", "fma", "f16c")
    model, features = _linux_cpuinfo(ARM)
    assert features == ("neon", "dotprod", "i8mm", "fp16")


def test_nvidia_detection_never_raises() -> None:
    gpus, note = nvidia_gpus()
    if not gpus:  # no package, driver or GPU: the reason is given, never an empty answer
        assert note.strip()
    else:
        assert all(g.name for g in gpus)


def test_metal_working_set_follows_macos_rules() -> None:
    assert metal_working_set(16 * GIB) == int(16 * GIB * 2 / 3)
    assert metal_working_set(64 * GIB) == int(64 * GIB * 0.75)


def test_hw_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("hw") == 0
    out = capsys.readouterr().out
    for label in ("System", "CPU", "Memory", "GPU", "llama.cpp", "Plan"):
        assert any(line.startswith(label) for line in out.splitlines()), label
    assert cli("hw", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hardware"]["cpu"]["physical_cores"] >= 1
    assert isinstance(report["llama_cpp"]["gpu_offload"], bool)
    assert report["plan"]["reason"]


def test_models_recommend_command_names_a_model_with_reasons(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("models", "recommend") == 0
    out = capsys.readouterr().out
    assert out.startswith("Recommended: ") and out.count("\n  - ") >= 3
    assert cli("models", "recommend", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fit"] in ("gpu", "partial", "cpu") and report["reasons"]
    assert cli("models", "list") == 0
    assert "recommended" in capsys.readouterr().out
