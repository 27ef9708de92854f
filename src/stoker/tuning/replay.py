"""Sparklens' method: replay each stage's tasks on a different number of cores to predict the
app's wall time there. Tasks keep their measured durations and their order; each goes to the core
that frees first. Time outside Spark jobs (the driver's own work) does not change with cores.

The replay is calibrated per job on the run itself (measured wall ÷ replay at the cores it had), so
at the current cores it predicts exactly what was measured, and elsewhere it scales that."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from stoker.events.analysis import Aggregate
from stoker.tuning.profile import span


def stage_time(durations: list[int], cores: int) -> int:
    """Wall time of one stage's tasks, in their order, on `cores` cores."""
    if not durations:
        return 0
    free = [0] * min(max(cores, 1), len(durations))
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


@dataclass(frozen=True)
class Replay:
    measured_ms: int
    cores: int  # what the run had
    driver_ms: int  # time outside every job
    predictions: dict[int, int]  # cores -> predicted wall ms


def _union(intervals: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for lo, hi in sorted(intervals):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total


def replay(agg: Aggregate, cores: int, candidates: list[int]) -> Replay | None:
    window = span(agg)
    if window is None or cores < 1:
        return None
    start, end = window
    jobs = [j for j in agg.jobs.values() if j["start"] is not None and j["end"] is not None and j["end"] >= j["start"]]
    in_jobs = _union([(max(j["start"], start), min(j["end"], end)) for j in jobs])
    driver_ms = (end - start) - in_jobs
    walls = sum(j["end"] - j["start"] for j in jobs)
    predictions: dict[int, int] = {}
    for n in sorted(set(candidates) | {cores}):
        scaled = 0.0
        for job in jobs:
            stages = [agg.stages[s] for s in job["stage_ids"] if s in agg.stages and agg.stages[s].durations]
            now = sum(stage_time(s.durations, cores) for s in stages)
            then = sum(stage_time(s.durations, n) for s in stages)
            wall = job["end"] - job["start"]
            scaled += wall * then / now if now else wall
        # jobs that ran at once (AQE's, a join's sides) overlap: scale the time jobs covered
        predictions[n] = driver_ms + (int(in_jobs * scaled / walls) if walls else 0)
    return Replay(end - start, cores, driver_ms, predictions)
