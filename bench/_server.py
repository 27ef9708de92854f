"""What the benchmarks share: the one process harness (tests/harness.py, re-exported here: a real
`stoker serve` started and stopped around a benchmark) and the tables and files of their results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/harness.py, shared with the e2e tests

from harness import TOKEN, HistoryServer, Server, UvicornServer, free_port, payload_bytes, stoker_server  # noqa: E402

__all__ = ["TOKEN", "HistoryServer", "Server", "UvicornServer", "free_port", "payload_bytes", "percentile",
           "print_table", "process_cpu_seconds", "stoker_server", "write_results"]

RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def write_results(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(x)) for x in [h, *[r[i] for r in rows]]) for i, h in enumerate(headers)]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))


def process_cpu_seconds(proc: Any) -> float:
    """User + system CPU seconds of a process (a psutil.Process) and all its children."""
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total
