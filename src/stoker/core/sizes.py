"""Sizes as people read them, the same in the UI and the CLI."""

from __future__ import annotations


def human_size(n: int | None) -> str:
    """Bytes, 1024-based with one decimal: "2.9 KiB"; "—" for none."""
    if n is None:
        return "—"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
