"""What a Spark application did, aggregated on the server from its stored events: the jobs and
stages on a timeline, each stage's task durations (min, median, max; skew when the slowest task
takes far longer than the median), spill, shuffle and GC, and executor cores busy vs allocated over
time. The browser gets these aggregates, never the raw events. The tuning loop (tuning/) reads the
same aggregate, with the few facts more it needs (CPU time, bytes per task, failures, peak memory,
join strategies, the app's settings): one fold of the events for both.

One pass over the events, decoding only the fields read here (as summary.py does at ingest).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

CORE_BUCKETS = 120
SKEW_RATIO = 3.0  # the slowest task ≥ 3 × the median (and ≥ 1 s longer) is skew worth a look
SKEW_MIN_MS = 1000


class _ShuffleRead(msgspec.Struct, gc=False):
    remote: int = msgspec.field(default=0, name="Remote Bytes Read")
    local: int = msgspec.field(default=0, name="Local Bytes Read")


class _ShuffleWrite(msgspec.Struct, gc=False):
    written: int = msgspec.field(default=0, name="Shuffle Bytes Written")


class _Input(msgspec.Struct, gc=False):
    bytes: int = msgspec.field(default=0, name="Bytes Read")


class _Metrics(msgspec.Struct, gc=False):
    gc_time: int = msgspec.field(default=0, name="JVM GC Time")
    run_time: int = msgspec.field(default=0, name="Executor Run Time")
    cpu_time: int = msgspec.field(default=0, name="Executor CPU Time")  # nanoseconds
    memory_spilled: int = msgspec.field(default=0, name="Memory Bytes Spilled")
    disk_spilled: int = msgspec.field(default=0, name="Disk Bytes Spilled")
    shuffle_read: _ShuffleRead | None = msgspec.field(default=None, name="Shuffle Read Metrics")
    shuffle_write: _ShuffleWrite | None = msgspec.field(default=None, name="Shuffle Write Metrics")
    input: _Input | None = msgspec.field(default=None, name="Input Metrics")


class _Peaks(msgspec.Struct, gc=False):
    """Peak executor memory (Spark's executor metrics, per task or per stage and executor)."""

    heap: int = msgspec.field(default=0, name="JVMHeapMemory")
    rss: int = msgspec.field(default=0, name="ProcessTreeJVMRSSMemory")
    python_rss: int = msgspec.field(default=0, name="ProcessTreePythonRSSMemory")


class _Reason(msgspec.Struct, gc=False):
    reason: str = msgspec.field(default="Success", name="Reason")
    class_name: str | None = msgspec.field(default=None, name="Class Name")
    description: str | None = msgspec.field(default=None, name="Description")
    loss_reason: str | None = msgspec.field(default=None, name="Loss Reason")


class _TaskInfo(msgspec.Struct, gc=False):
    launch: int = msgspec.field(default=0, name="Launch Time")
    finish: int = msgspec.field(default=0, name="Finish Time")
    executor: str = msgspec.field(default="", name="Executor ID")


class _StageInfo(msgspec.Struct, gc=False):
    stage_id: int = msgspec.field(default=-1, name="Stage ID")
    attempt: int = msgspec.field(default=0, name="Stage Attempt ID")
    name: str = msgspec.field(default="", name="Stage Name")
    tasks: int = msgspec.field(default=0, name="Number of Tasks")
    submitted: int | None = msgspec.field(default=None, name="Submission Time")
    completed: int | None = msgspec.field(default=None, name="Completion Time")
    failure: str | None = msgspec.field(default=None, name="Failure Reason")


class _ExecutorInfo(msgspec.Struct, gc=False):
    cores: int = msgspec.field(default=0, name="Total Cores")


class _JobResult(msgspec.Struct, gc=False):
    result: str = msgspec.field(default="", name="Result")


class _Event(msgspec.Struct, gc=False):
    event: str = msgspec.field(default="", name="Event")
    job_id: int | None = msgspec.field(default=None, name="Job ID")
    submission_time: int | None = msgspec.field(default=None, name="Submission Time")
    completion_time: int | None = msgspec.field(default=None, name="Completion Time")
    stage_ids: list[int] = msgspec.field(default_factory=list, name="Stage IDs")
    job_result: _JobResult | None = msgspec.field(default=None, name="Job Result")
    stage_id: int | None = msgspec.field(default=None, name="Stage ID")
    stage_info: _StageInfo | None = msgspec.field(default=None, name="Stage Info")
    task_info: _TaskInfo | None = msgspec.field(default=None, name="Task Info")
    task_metrics: _Metrics | None = msgspec.field(default=None, name="Task Metrics")
    timestamp: int | None = msgspec.field(default=None, name="Timestamp")
    executor_id: str | None = msgspec.field(default=None, name="Executor ID")
    executor_info: _ExecutorInfo | None = msgspec.field(default=None, name="Executor Info")
    removed_reason: str | None = msgspec.field(default=None, name="Removed Reason")
    task_end_reason: _Reason | None = msgspec.field(default=None, name="Task End Reason")
    task_peaks: _Peaks | None = msgspec.field(default=None, name="Task Executor Metrics")
    stage_peaks: _Peaks | None = msgspec.field(default=None, name="Executor Metrics")
    properties: dict[str, str] | None = msgspec.field(default=None, name="Spark Properties")
    execution_id: int | None = msgspec.field(default=None, name="executionId")
    plan: str | None = msgspec.field(default=None, name="physicalPlanDescription")


_decoder = msgspec.json.Decoder(_Event)
_TASK_START = b'{"Event":"SparkListenerTaskStart"'


@dataclass
class _Stage:
    stage_id: int
    name: str = ""
    tasks: int = 0
    submitted: int | None = None
    completed: int | None = None
    failure: str | None = None
    durations: list[int] = field(default_factory=list)
    gc_ms: int = 0
    spilled: int = 0
    shuffle_read: int = 0
    shuffle_write: int = 0
    run_ms: int = 0
    cpu_ms: float = 0.0
    memory_spilled: int = 0
    disk_spilled: int = 0
    input_bytes: int = 0
    task_bytes: list[int] = field(default_factory=list)  # each finished task's input + shuffle read


# A task failure that says the executor ran out of memory (the JVM's, a Python worker's, or the
# container's, killed with 137), or lost the executor: a guardrail against shrinking resources.
OOM_MARKS = ("OutOfMemoryError", "MemoryError", "exit code 137", "exit code 143", "Container killed",
             "GC overhead limit exceeded", "Java heap space")


@dataclass
class Failure:
    kind: str  # oom | executor_lost | task
    stage_id: int | None
    detail: str


@dataclass
class Aggregate:
    """An app's events folded in so far; more can be added as more chunks arrive (the order of
    arrival does not matter), so a live application is never aggregated from its first event again."""

    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    stages: dict[int, _Stage] = field(default_factory=dict)
    tasks: list[tuple[int, int]] = field(default_factory=list)  # (launch, finish) ms
    executors: dict[str, list[Any]] = field(default_factory=dict)  # id -> [cores, added, removed]
    app_start: int | None = None
    app_end: int | None = None
    properties: dict[str, str] = field(default_factory=dict)  # the app's Spark settings as it ran
    failures: list[Failure] = field(default_factory=list)
    peak_heap: dict[str, int] = field(default_factory=dict)  # executor id -> bytes
    peak_rss: dict[str, int] = field(default_factory=dict)  # executor id -> bytes (JVM + Python workers)
    plans: dict[int, str] = field(default_factory=dict)  # SQL execution id -> its latest physical plan

    def add(self, event: _Event) -> None:
        kind = event.event
        if kind == "SparkListenerTaskEnd" and event.task_info is not None:
            self._task_end(event, event.task_info)
        elif kind in ("SparkListenerStageSubmitted", "SparkListenerStageCompleted") and event.stage_info:
            info = event.stage_info
            stage = self.stages.setdefault(info.stage_id, _Stage(info.stage_id))
            stage.name, stage.tasks = info.name, info.tasks
            stage.submitted = info.submitted or stage.submitted
            stage.completed = info.completed or stage.completed
            stage.failure = info.failure or stage.failure
        # Events are folded in as they arrive, chunk by chunk, so an end may come before its start
        # (a later chunk holding older events): each side fills only its own fields.
        elif kind == "SparkListenerJobStart" and event.job_id is not None:
            job = self._job(event.job_id)
            job["start"], job["stage_ids"] = event.submission_time, event.stage_ids
        elif kind == "SparkListenerJobEnd" and event.job_id is not None:
            job = self._job(event.job_id)
            job["end"] = event.completion_time
            job["result"] = event.job_result.result if event.job_result else None
        elif kind == "SparkListenerExecutorAdded" and event.executor_id is not None:
            executor = self.executors.setdefault(event.executor_id, [0, None, None])
            executor[0] = event.executor_info.cores if event.executor_info else 0
            executor[1] = event.timestamp
        elif kind == "SparkListenerExecutorRemoved" and event.executor_id is not None:
            self.executors.setdefault(event.executor_id, [0, None, None])[2] = event.timestamp
            if event.removed_reason and any(m in event.removed_reason for m in OOM_MARKS):
                self.failures.append(Failure("oom", None, event.removed_reason[:300]))
        elif kind == "SparkListenerStageExecutorMetrics" and event.stage_peaks and event.executor_id:
            self._peaks(event.executor_id, event.stage_peaks)
        elif kind == "SparkListenerApplicationStart":
            self.app_start = event.timestamp
        elif kind == "SparkListenerApplicationEnd":
            self.app_end = event.timestamp
        elif kind == "SparkListenerEnvironmentUpdate" and event.properties:
            self.properties.update(event.properties)
        elif event.plan and event.execution_id is not None:  # SQL execution start, adaptive updates
            self.plans[event.execution_id] = event.plan

    def _peaks(self, executor: str, peaks: _Peaks) -> None:
        self.peak_heap[executor] = max(self.peak_heap.get(executor, 0), peaks.heap)
        self.peak_rss[executor] = max(self.peak_rss.get(executor, 0), peaks.rss + peaks.python_rss)

    def _job(self, job_id: int) -> dict[str, Any]:
        return self.jobs.setdefault(job_id, {"job_id": job_id, "start": None, "end": None, "stage_ids": [],
                                             "result": None})

    def add_pieces(self, pieces: Iterable[bytes]) -> None:
        for line in _lines(pieces):
            try:
                self.add(_decoder.decode(line))
            except msgspec.MsgspecError:
                continue  # an event of a shape this view does not read: it is still in the download

    def view(self, start_ms: int | None, end_ms: int | None) -> dict[str, Any]:
        return {"jobs": sorted(self.jobs.values(), key=lambda j: j["job_id"]),
                "stages": [_stage_view(s) for s in sorted(self.stages.values(), key=lambda s: s.stage_id)],
                "cores": cores_usage(self.tasks, self.executors, start_ms, end_ms)}

    def _task_end(self, event: _Event, info: _TaskInfo) -> None:
        stage = self.stages.setdefault(event.stage_id or 0, _Stage(event.stage_id or 0))
        if info.finish >= info.launch > 0:
            stage.durations.append(info.finish - info.launch)
            self.tasks.append((info.launch, info.finish))
        metrics = event.task_metrics
        if metrics is not None:
            stage.gc_ms += metrics.gc_time
            stage.spilled += metrics.memory_spilled + metrics.disk_spilled
            stage.memory_spilled += metrics.memory_spilled
            stage.disk_spilled += metrics.disk_spilled
            stage.run_ms += metrics.run_time
            stage.cpu_ms += metrics.cpu_time / 1e6
            read = 0
            if metrics.shuffle_read is not None:
                read = metrics.shuffle_read.remote + metrics.shuffle_read.local
                stage.shuffle_read += read
            if metrics.shuffle_write is not None:
                stage.shuffle_write += metrics.shuffle_write.written
            if metrics.input is not None:
                stage.input_bytes += metrics.input.bytes
                read += metrics.input.bytes
            stage.task_bytes.append(read)
        if event.task_peaks is not None:
            self._peaks(info.executor, event.task_peaks)
        reason = event.task_end_reason
        if reason is not None and reason.reason not in ("Success", "TaskKilled", "TaskCommitDenied"):
            text = " ".join(filter(None, (reason.reason, reason.class_name, reason.description, reason.loss_reason)))
            mark = next((m for m in OOM_MARKS if m in text), None)
            kind = "oom" if mark else "executor_lost" if reason.reason == "ExecutorLostFailure" else "task"
            self.failures.append(Failure(kind, event.stage_id, (f"{mark}: {text}" if mark else text)[:300]))


def _lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        for line in piece.split(b"\n"):
            if line and not line.startswith(_TASK_START):  # task starts add nothing a TaskEnd lacks
                yield line


def analyse(pieces: Iterable[bytes], *, start_ms: int | None = None, end_ms: int | None = None) -> dict[str, Any]:
    """Aggregate NDJSON pieces (as EventStore.stream_events yields them) into what the Spark page shows."""
    state = Aggregate()
    state.add_pieces(pieces)
    return state.view(start_ms, end_ms)


def _stage_view(stage: _Stage) -> dict[str, Any]:
    durations = sorted(stage.durations)
    view: dict[str, Any] = {
        "stage_id": stage.stage_id, "name": stage.name, "tasks": stage.tasks or len(durations),
        "submitted": stage.submitted, "completed": stage.completed, "failure": stage.failure,
        "gc_ms": stage.gc_ms, "spilled": stage.spilled, "shuffle_read": stage.shuffle_read,
        "shuffle_write": stage.shuffle_write, "min_ms": None, "median_ms": None, "max_ms": None, "skew": False,
    }
    if durations:
        median = statistics.median(durations)
        view.update(min_ms=durations[0], median_ms=int(median), max_ms=durations[-1],
                    skew=durations[-1] >= SKEW_RATIO * max(median, 1) and durations[-1] - median >= SKEW_MIN_MS)
    return view


def cores_usage(tasks: list[tuple[int, int]], executors: dict[str, list[Any]], start_ms: int | None,
                end_ms: int | None, buckets: int = CORE_BUCKETS) -> dict[str, Any]:
    """Cores busy (running tasks, one core each) vs cores allocated (live executors), averaged per
    time bucket, and the share of allocated core time that stayed idle."""
    times = [t for task in tasks for t in task] + [e[1] for e in executors.values() if e[1] is not None]
    begin = start_ms if start_ms is not None else (min(times) if times else None)
    finish = end_ms if end_ms is not None else (max(times) if times else None)
    if begin is None or finish is None or finish <= begin:
        return {"t": [], "busy": [], "allocated": [], "idle_share": None, "busy_core_ms": 0, "allocated_core_ms": 0}
    width = (finish - begin) / buckets
    busy = [0.0] * buckets
    allocated = [0.0] * buckets

    def spread(into: list[float], lo: int, hi: int, weight: float) -> None:
        lo, hi = max(lo, begin), min(hi, finish)
        if hi <= lo:
            return
        first, last = int((lo - begin) / width), min(buckets - 1, int((hi - begin) / width))
        for i in range(first, last + 1):
            b0 = begin + i * width
            overlap = min(hi, b0 + width) - max(lo, b0)
            if overlap > 0:
                into[i] += weight * overlap / width

    for launch, done in tasks:
        spread(busy, launch, done, 1.0)
    for cores, added, removed in executors.values():
        spread(allocated, added if added is not None else begin, removed if removed is not None else finish, cores)
    busy_area = sum(busy) * width
    allocated_area = sum(allocated) * width
    return {"t": [int(begin + (i + 0.5) * width) for i in range(buckets)],
            "busy": [round(v, 3) for v in busy], "allocated": [round(v, 3) for v in allocated],
            "idle_share": (1 - min(busy_area, allocated_area) / allocated_area) if allocated_area else None,
            "busy_core_ms": int(busy_area), "allocated_core_ms": int(allocated_area)}
