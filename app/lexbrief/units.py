"""How LexBrief writes sizes, everywhere: decimal units for files, disks and downloads (as disks
and download pages do), MiB for process memory (as `top` and llama.cpp's logs do)."""

from __future__ import annotations


def size_text(n: float) -> str:
    """'512 B', '12 KB', '340 MB', '1.5 GB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if unit == "GB" else f"{n / scale:.0f} {unit}"
    return f"{n:.0f} B"


def mib_text(n: float | None) -> str:
    """'123 MiB', or 'n/a' when unknown."""
    return "n/a" if n is None else f"{n / 2**20:,.0f} MiB"
