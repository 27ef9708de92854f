"""How far a running run is: its current stages with tasks done of total, rows and bytes read so
far, elapsed time, and an estimate of the time left as a range — from the task counts of the
stages Spark has planned so far and from the job's earlier runs — never one precise-looking number.

Pure: the caller hands in the run's Spark view (events/run_work.py), the attempt's start and the
durations of the job's earlier successful runs.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

# The pace of the tasks done so far only says so much about the rest: later tasks may be slower
# (skew, spill) or faster (a warm cache), and stages not planned yet may follow. The stage-based
# range is this wide around the pace's own figure.
PACE_LOW, PACE_HIGH = 0.75, 1.5
HISTORY_MIN_RUNS = 1
MIN_ELAPSED_S = 1.0  # before a second of work the pace means nothing
CURRENT_STAGES = 5  # the progress shows at most this many stages (the active ones first)
STAGE_FIELDS = ("stage_id", "name", "status", "done", "tasks", "failed_tasks", "input_bytes", "input_records")


def progress_view(run_id: str, state: str, spark: dict[str, Any], *, started_at: float | None, now: float,
                  earlier: list[float]) -> dict[str, Any]:
    """The progress of run `run_id`, in `state`, from its Spark view `spark`; `started_at` is
    when its current attempt started (epoch s), `earlier` the durations (s) of the job's earlier
    successful runs."""
    stages = spark["stages"]
    totals = spark["totals"]
    planned = sum(s["tasks"] for s in stages if s["status"] != "skipped")
    done = sum(min(s["done"], s["tasks"]) for s in stages)
    elapsed = max(0.0, now - started_at) if started_at is not None else None
    running = state == "RUNNING"
    fraction = done / planned if planned else None
    active = [s for s in stages if s["status"] == "active"]
    shown = (active + [s for s in reversed(stages) if s["status"] != "active"])[:CURRENT_STAGES]
    return {
        "run_id": run_id, "state": state, "attempt": spark["attempt"],
        "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "stages": [{k: s[k] for k in STAGE_FIELDS} for s in sorted(shown, key=lambda s: s["stage_id"])],
        "stages_done": sum(1 for s in stages if s["status"] == "complete"), "stages_known": len(stages),
        "active_stages": len(active),
        "tasks": {"done": done, "planned": planned, "failed": totals["failed_tasks"]},
        "fraction": None if fraction is None else round(fraction, 3),
        "rows_read": totals["input_records"], "bytes_read": totals["input_bytes"],
        "totals": totals,
        "estimate": estimate_left(elapsed, fraction, earlier) if running and elapsed is not None else None,
    }


def estimate_left(elapsed: float, fraction: float | None, earlier: list[float]) -> dict[str, Any] | None:
    """The time left as a range (seconds, rounded to what such a guess can say) and what it rests on:
    the job's earlier runs (their 10th to 90th percentile of durations, less the time elapsed) and
    the pace of the tasks done (elapsed × undone / done, widened). Both: the range covering both.
    None when neither says anything (no earlier run, nothing done yet, or later than ever)."""
    ranges: list[tuple[float, float]] = []
    basis: list[str] = []
    if len(earlier) >= HISTORY_MIN_RUNS:
        low, high = _spread(sorted(earlier))
        if elapsed < high:
            ranges.append((max(0.0, low - elapsed), high - elapsed))
            basis.append(f"{len(earlier)} earlier run{'s' if len(earlier) != 1 else ''}")
    if fraction is not None and 0 < fraction < 1 and elapsed >= MIN_ELAPSED_S:
        pace = elapsed * (1 - fraction) / fraction
        ranges.append((pace * PACE_LOW, pace * PACE_HIGH))
        basis.append("tasks done so far")
    if not ranges:
        return None
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    return {"low_s": rounded(low, down=True), "high_s": max(rounded(high), rounded(low, down=True)),
            "basis": " and ".join(basis), "text": describe(rounded(low, down=True), rounded(high))}


def _spread(durations: list[float]) -> tuple[float, float]:
    if len(durations) < 5:
        return durations[0], durations[-1]
    deciles = statistics.quantiles(durations, n=10)
    return deciles[0], deciles[-1]


def rounded(seconds: float, *, down: bool = False) -> int:
    """To 5 s under 2 min, to 30 s under 10 min, to a minute under an hour, else 5 minutes."""
    step = 5 if seconds < 120 else 30 if seconds < 600 else 60 if seconds < 3600 else 300
    steps = round(seconds / step, 6)  # 90.00000001 s is 90 s, not 95
    whole = math.floor(steps) if down else math.ceil(steps)
    return int(whole * step)


def describe(low: int, high: int) -> str:
    """"about 1–2 min left", "under 5 s left"."""
    if high <= 5:
        return "under 5 s left"
    unit, div = ("s", 1) if high < 120 else ("min", 60) if high < 7200 else ("h", 3600)
    lo, hi = round(low / div), max(1, round(high / div))
    if lo >= hi:
        return f"about {hi} {unit} left"
    return f"about {lo}–{hi} {unit} left"
