"""A run's measured figures, from its Spark app's events (one fold: events/analysis.py `Aggregate`):
what the tuning loop optimises and judges a change by."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from stoker.events.analysis import Aggregate, cores_usage


@dataclass(frozen=True)
class Profile:
    duration_ms: int  # the app's wall time
    core_ms: int  # allocated core time: each executor's cores × how long it lived, within the app
    busy_core_ms: int  # core time running tasks
    driver_only_ms: int  # app time with no task running anywhere (the driver's own work, or waiting)
    cpu_ms: int  # executors' CPU time in tasks
    task_ms: int  # executors' run time in tasks
    gc_ms: int
    input_bytes: int
    shuffle_bytes: int
    spilled_bytes: int
    tasks: int
    cores: int  # most cores allocated at once
    peak_heap_bytes: int  # the largest executor heap seen (0: not reported)
    peak_rss_bytes: int  # the largest executor process tree (JVM + Python workers; 0: not reported)
    failures: int
    oom: bool  # a failure says memory ran out (or an executor was lost): never shrink after it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def core_seconds(self) -> float:
        return self.core_ms / 1000

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ms / 1000


def fold(pieces: Iterable[bytes]) -> Aggregate:
    state = Aggregate()
    state.add_pieces(pieces)
    return state


def span(agg: Aggregate) -> tuple[int, int] | None:
    """The app's [start, end] in epoch ms: its own start and end events, else its tasks' times."""
    times = [t for task in agg.tasks for t in task]
    start = agg.app_start if agg.app_start is not None else (min(times) if times else None)
    end = agg.app_end if agg.app_end is not None else (max(times) if times else None)
    if start is None or end is None or end <= start:
        return None
    return start, end


def driver_only_ms(tasks: list[tuple[int, int]], start: int, end: int) -> int:
    """Time in [start, end] when no task ran: the union of task intervals, subtracted."""
    covered, reach = 0, start
    for launch, finish in sorted(tasks):
        launch, finish = max(launch, reach), min(finish, end)
        if finish > launch:
            covered += finish - launch
            reach = finish
    return (end - start) - covered


def max_cores(executors: dict[str, list[Any]]) -> int:
    """The most cores live at once (executors added and removed over time)."""
    edges = sorted([(e[1] or 0, e[0]) for e in executors.values()] +
                   [(e[2], -e[0]) for e in executors.values() if e[2] is not None])
    best = live = 0
    for _t, change in edges:
        live += change
        best = max(best, live)
    return best


def profile(agg: Aggregate) -> Profile | None:
    """The figures of one app; None when its events say too little (no start, no tasks)."""
    window = span(agg)
    if window is None:
        return None
    start, end = window
    usage = cores_usage(agg.tasks, agg.executors, start, end)
    stages = agg.stages.values()
    return Profile(
        duration_ms=end - start, core_ms=usage["allocated_core_ms"], busy_core_ms=usage["busy_core_ms"],
        driver_only_ms=driver_only_ms(agg.tasks, start, end),
        cpu_ms=int(sum(s.cpu_ms for s in stages)), task_ms=sum(s.run_ms for s in stages),
        gc_ms=sum(s.gc_ms for s in stages), input_bytes=sum(s.input_bytes for s in stages),
        shuffle_bytes=sum(s.shuffle_read for s in stages), spilled_bytes=sum(s.spilled for s in stages),
        tasks=len(agg.tasks), cores=max_cores(agg.executors),
        peak_heap_bytes=max(agg.peak_heap.values(), default=0), peak_rss_bytes=max(agg.peak_rss.values(), default=0),
        failures=len(agg.failures), oom=any(f.kind in ("oom", "executor_lost") for f in agg.failures))


BUCKET_SCALE = 20  # a bucket's key: 20 × ln(the input bytes of the run that opened it)
SAME_SIZE = 1.5  # a run within ×1.5 of a bucket's opening input belongs to it


def bucket(input_bytes: int, known: Iterable[int] = ()) -> int:
    """The input-size bucket a run belongs to: the known bucket whose opening run read within ×1.5
    of its input (the nearest), else a new one keyed by its own input. Days of ±30% share a bucket
    wherever they fall (no fixed grid to straddle); a day with 3× the data opens its own. Inputs
    Spark reports no bytes for (generated data) are bucket 0."""
    key = math.log(max(input_bytes, 1)) * BUCKET_SCALE
    near = [k for k in known if abs(key - k) <= math.log(SAME_SIZE) * BUCKET_SCALE]
    return min(near, key=lambda k: abs(key - k)) if near else math.floor(key)
