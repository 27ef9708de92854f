"""Findings from one run's events, each with its evidence: the numbers and the stages they come
from (docs/tuning.md explains each heuristic). Pure: an `Aggregate` of the run's events in, findings
out; the recommendation (recommend.py) decides what to change."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from stoker.events.analysis import SKEW_MIN_MS, SKEW_RATIO, Aggregate
from stoker.tuning.profile import Profile

MB = 1024 * 1024
IDLE_SHARE = 0.40  # allocated core time left idle past this share is worth shrinking
DRIVER_BOUND_SHARE = 0.50  # the app's time with no task running anywhere
SMALL_TASK_BYTES = 8 * MB  # a task reading less than this (and finishing fast) is mostly overhead
SMALL_TASK_MS = 300
BIG_TASK_BYTES = 256 * MB  # a task reading more than this risks spill and stragglers
GC_SHARE = 0.10  # of task run time
MEMORY_HEADROOM = 0.40  # peak heap under this share of the executor's memory
BROADCAST_MAX_BYTES = 16 * MB  # a shuffled join side up to this size (as written to shuffle) may be broadcast
SIZE_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": MB, "mb": MB, "g": 1024 * MB, "gb": 1024 * MB,
              "t": 1024**4, "tb": 1024**4}


@dataclass(frozen=True)
class Finding:
    kind: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    stages: list[int] = field(default_factory=list)
    guardrail: bool = False  # forbids shrinking resources

    def as_dict(self) -> dict[str, Any]:
        """As JSON holds it: evidence keyed by stage id gets string keys."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def size_bytes(text: str | None, default: int, *, unit: str = "b") -> int:
    """A Spark size setting in bytes ("4g", "10MB", "-1"; a bare number in `unit`)."""
    if text is None:
        return default
    value = text.strip().lower()
    digits = value.lstrip("-").rstrip("bkmgt")
    if not digits.isdigit():
        return default
    suffix = value[len(value.rstrip("bkmgt")):] or unit
    sign = -1 if value.startswith("-") else 1
    return sign * int(digits) * SIZE_UNITS.get(suffix, 1)


def _median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else 0.0


def diagnose(agg: Aggregate, prof: Profile) -> list[Finding]:
    findings: list[Finding] = []
    props = agg.properties
    cores = max(prof.cores, 1)
    stages = [s for s in sorted(agg.stages.values(), key=lambda s: s.stage_id) if s.durations]

    # Idle cores: task time (executors' run time: a task's launch-to-finish span also holds the
    # driver's scheduling delays) ÷ allocated core time, the driver-only time apart (no executor
    # count fixes a driver's own work, but executors held through it are idle all the same).
    if prof.core_ms > 0:
        busy = min(prof.task_ms, prof.core_ms)
        idle = 1 - busy / prof.core_ms
        in_jobs = prof.core_ms - cores * prof.driver_only_ms
        busy_in_jobs = min(1.0, busy / in_jobs) if in_jobs > 0 else None
        if idle >= IDLE_SHARE:
            findings.append(Finding("idle_cores", f"{idle:.0%} of the allocated core time was idle", {
                "task_core_s": round(busy / 1000, 2), "allocated_core_s": round(prof.core_ms / 1000, 2),
                "idle_share": round(idle, 3), "cores": cores, "driver_only_s": round(prof.driver_only_ms / 1000, 2),
                "busy_share_while_tasks_ran": round(busy_in_jobs, 3) if busy_in_jobs is not None else None}))
    if prof.duration_ms and prof.driver_only_ms / prof.duration_ms >= DRIVER_BOUND_SHARE:
        findings.append(Finding("driver_bound", f"no task ran for {prof.driver_only_ms / prof.duration_ms:.0%} of the "
                                "app's time: the driver's own work, which no executor speeds up", {
                                    "driver_only_s": round(prof.driver_only_ms / 1000, 2),
                                    "duration_s": round(prof.duration_ms / 1000, 2)}))

    # Partitions, both directions: bytes per task (input + shuffle read).
    many = [s for s in stages if len(s.durations) >= 2 * cores and _median(s.task_bytes) < SMALL_TASK_BYTES
            and _median(s.durations) < SMALL_TASK_MS]
    if many:
        findings.append(Finding("too_many_partitions", f"{len(many)} stage(s) ran many small tasks: "
                                f"{max(len(s.durations) for s in many)} tasks on {cores} cores", {
                                    "tasks": {s.stage_id: len(s.durations) for s in many},
                                    "median_task_bytes": {s.stage_id: int(_median(s.task_bytes)) for s in many},
                                    "median_task_ms": {s.stage_id: int(_median(s.durations)) for s in many},
                                    "shuffle_read_bytes": {s.stage_id: s.shuffle_read for s in many}},
                                [s.stage_id for s in many]))
    few = [s for s in stages if _median(s.task_bytes) > BIG_TASK_BYTES
           or (s.spilled > 0 and s.shuffle_read > 0)]
    if few:
        findings.append(Finding("too_few_partitions", f"{len(few)} stage(s) gave each task too much data", {
            "median_task_bytes": {s.stage_id: int(_median(s.task_bytes)) for s in few},
            "tasks": {s.stage_id: len(s.durations) for s in few},
            "spilled_bytes": {s.stage_id: s.spilled for s in few}}, [s.stage_id for s in few]))

    spilled = [s for s in stages if s.spilled > 0]
    if spilled:
        findings.append(Finding("spill", f"{sum(s.spilled for s in spilled) / MB:.0f} MB spilled in "
                                f"{len(spilled)} stage(s)", {
                                    "memory_spilled_per_task": {s.stage_id: s.memory_spilled // len(s.durations)
                                                                for s in spilled},
                                    "disk_spilled_per_task": {s.stage_id: s.disk_spilled // len(s.durations)
                                                              for s in spilled}},
                                [s.stage_id for s in spilled]))

    # Skew that AQE's skew join can split: a shuffle-reading stage whose slowest task is far slower
    # than the median and read far more bytes (a slow first task of a scan is the JIT warming up).
    skewed = []
    for s in stages:
        if len(s.durations) < 3 or s.shuffle_read == 0:
            continue
        median, longest = _median(s.durations), max(s.durations)
        bytes_ratio = max(s.task_bytes or [0]) / max(_median(s.task_bytes), 1)
        if longest >= SKEW_RATIO * max(median, 1) and longest - median >= SKEW_MIN_MS and bytes_ratio >= SKEW_RATIO:
            skewed.append((s, median, longest))
    if skewed:
        findings.append(Finding("skew", f"{len(skewed)} stage(s) waited on one slow task", {
            "max_over_median_ms": {s.stage_id: round(longest / max(median, 1), 1) for s, median, longest in skewed},
            "max_ms": {s.stage_id: longest for s, _m, longest in skewed},
            "max_over_median_bytes": {s.stage_id: round(max(s.task_bytes or [0]) / max(_median(s.task_bytes), 1), 1)
                                      for s, _m, _l in skewed},
            "shuffle_read_bytes": {s.stage_id: s.shuffle_read for s, _m, _l in skewed}},
            [s.stage_id for s, _m, _l in skewed]))

    if prof.task_ms and prof.gc_ms / prof.task_ms >= GC_SHARE and prof.gc_ms >= 1000:
        worst = sorted(stages, key=lambda s: s.gc_ms, reverse=True)[:3]
        findings.append(Finding("gc", f"garbage collection took {prof.gc_ms / prof.task_ms:.0%} of task time", {
            "gc_s": round(prof.gc_ms / 1000, 2), "task_s": round(prof.task_ms / 1000, 2),
            "gc_ms_by_stage": {s.stage_id: s.gc_ms for s in worst}}, [s.stage_id for s in worst]))

    memory = executor_memory(agg)
    if prof.peak_heap_bytes:
        evidence = {"peak_heap_bytes": prof.peak_heap_bytes, "peak_process_bytes": prof.peak_rss_bytes,
                    "executor_memory_bytes": memory, "share": round(prof.peak_heap_bytes / memory, 3)}
        if prof.peak_heap_bytes < MEMORY_HEADROOM * memory:
            findings.append(Finding("memory_headroom", f"executors peaked at {prof.peak_heap_bytes / MB:.0f} MB of "
                                    f"heap out of {memory / MB:.0f} MB", evidence))

    candidates = broadcast_candidates(agg)
    if candidates:
        threshold = size_bytes(props.get("spark.sql.autoBroadcastJoinThreshold"), 10 * MB)
        findings.append(Finding("broadcast", f"a sort-merge join shuffled a side of {min(candidates.values()) / MB:.1f}"
                                " MB that could be broadcast", {
                                    "shuffle_write_bytes": candidates, "broadcast_threshold_bytes": threshold},
                                sorted(candidates)))

    for failure in agg.failures:
        guard = failure.kind in ("oom", "executor_lost")
        findings.append(Finding("failure", f"{failure.kind}: {failure.detail[:160]}", {
            "kind": failure.kind, "detail": failure.detail},
            [failure.stage_id] if failure.stage_id is not None else [], guardrail=guard))
    return findings


def executor_memory(agg: Aggregate) -> int:
    """The heap each executor had: spark.executor.memory (a bare number is MiB), or in local mode
    the driver's, where the tasks run."""
    props = agg.properties
    if props.get("spark.master", "").startswith("local"):
        return size_bytes(props.get("spark.driver.memory"), 1024 * MB, unit="m")
    return size_bytes(props.get("spark.executor.memory"), 1024 * MB, unit="m")


def broadcast_candidates(agg: Aggregate) -> dict[int, int]:
    """When a plan holds a sort-merge join: the scan stages (shuffle writers that read no shuffle,
    the sides of a join over its sources) small enough to broadcast, while a bigger one exists (the
    other side): stage id -> bytes written to shuffle. AQE runs each side as a job of its own, so
    the sides are looked for over the whole app."""
    if not any("SortMergeJoin" in plan for plan in agg.plans.values()):
        return {}
    sides = [s for s in agg.stages.values() if s.shuffle_write > 0 and s.shuffle_read == 0]
    if len(sides) < 2:
        return {}
    biggest = max(s.shuffle_write for s in sides)
    return {s.stage_id: s.shuffle_write for s in sides
            if s.shuffle_write <= BROADCAST_MAX_BYTES and s.shuffle_write * 4 <= biggest}
