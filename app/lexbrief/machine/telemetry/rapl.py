"""CPU package energy from Intel/AMD RAPL counters under /sys/class/powercap (Linux).

Each top-level zone `intel-rapl:N` named `package-N` has `energy_uj`, a microjoule counter that
wraps around at `max_energy_range_uj`; the kernel uses this driver (and these names) for AMD
Zen CPUs too. `intel-rapl-mmio:*` zones repeat the package counter through another interface
and are skipped so that nothing is counted twice; sub-zones (core, uncore, dram) are not added.

Since Linux 5.10 `energy_uj` is readable only by root (CVE-2020-8694, "Platypus"), so on most
desktops an ordinary user gets permission denied: that is reported with how to allow it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

POWERCAP_ROOT = Path("/sys/class/powercap")

PERMISSION_HINT = (
    "the RAPL energy counters are readable only by root (Linux 5.10 and later, since "
    "CVE-2020-8694); to let LexBrief measure CPU energy run "
    "`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` (lasts until reboot); "
    "until then energy is estimated"
)

_TOP_ZONE = re.compile(r"intel-rapl:\d+")


def _read_text(path: Path) -> str:
    """One sysfs file. A seam for tests (permission denied cannot be faked as root)."""
    return path.read_text(encoding="ascii").strip()


@dataclass
class RaplZone:
    name: str  # e.g. "package-0"
    path: Path
    max_range_uj: int
    last_uj: int | None = None
    total_uj: int = 0  # accumulated since the first reading, wrap-around included


class RaplReader:
    """Accumulates the package counters; read at least once per wrap period (hours)."""

    def __init__(self, root: Path = POWERCAP_ROOT) -> None:
        self.root = root
        self.zones: list[RaplZone] = []
        self.unavailable: str | None = None
        self._probe()

    def _probe(self) -> None:
        if not self.root.is_dir():
            self.unavailable = (f"no RAPL energy counters: {self.root} does not exist (not Linux, "
                                "a virtual machine, or a CPU or kernel without RAPL)")
            return
        found = sorted((p for p in self.root.iterdir() if _TOP_ZONE.fullmatch(p.name)),
                       key=lambda p: int(p.name.split(":")[1]))
        if not found:
            self.unavailable = (f"no RAPL energy counters: {self.root} has no intel-rapl zones "
                                "(a virtual machine, or the intel_rapl driver is not loaded)")
            return
        try:
            for path in found:
                name = _read_text(path / "name")
                if not name.startswith("package"):
                    continue  # psys and others overlap the packages
                max_range = int(_read_text(path / "max_energy_range_uj"))
                if max_range <= 0:
                    raise ValueError(f"max_energy_range_uj is {max_range}")
                self.zones.append(RaplZone(name, path, max_range))
            if not self.zones:
                self.unavailable = "no RAPL package zone under " + str(self.root)
                return
            self.read_joules()  # the first reading: catches permission denied right away
        except PermissionError:
            self.zones = []
            self.unavailable = PERMISSION_HINT
        except (OSError, ValueError) as exc:
            self.zones = []
            self.unavailable = f"the RAPL counters cannot be read ({exc})"

    @property
    def available(self) -> bool:
        return self.unavailable is None

    def read_joules(self) -> float | None:
        """Package energy in joules accumulated since the first reading (all packages)."""
        if self.unavailable is not None:
            return None
        try:
            values = [int(_read_text(zone.path / "energy_uj")) for zone in self.zones]
        except PermissionError:
            self.unavailable = PERMISSION_HINT
            return None
        except (OSError, ValueError) as exc:
            self.unavailable = f"the RAPL counters cannot be read ({exc})"
            return None
        for zone, value in zip(self.zones, values, strict=True):
            if zone.last_uj is not None:
                zone.total_uj += unwrap_delta(zone.last_uj, value, zone.max_range_uj)
            zone.last_uj = value
        return sum(zone.total_uj for zone in self.zones) / 1e6


def unwrap_delta(previous: int, current: int, max_range: int) -> int:
    """Microjoules between two readings of a counter that wraps to 0 after `max_range`."""
    delta = current - previous
    if delta < 0:
        delta += max_range
    return delta
