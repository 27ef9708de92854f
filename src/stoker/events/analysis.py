"""What a Spark application did, aggregated on the server from its stored events: the jobs and
stages on a timeline, each stage's task durations (min, median, max; skew when the slowest task
takes far longer than the median), tasks done of total, input read, spill, shuffle and GC, failed
tasks and lost executors, and executor cores busy vs allocated over time. The browser gets these
aggregates, never the raw events.

A view can be of the whole application or of one job group: a warm session runs every run of a
worker in one application, each run in its own job group (executors/session_mode.py), and a run's
own work is the jobs of its group, their stages and those stages' tasks.

The tuning loop (tuning/) reads the same aggregate, with the few facts more it needs (CPU time,
bytes per task, failures, peak memory, join strategies, the app's settings): one fold of the events
for both.

One pass over the events, decoding only the fields read here (as summary.py does at ingest).
"""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stoker.events.summary import KILLED_REASONS, TASK_FIELDS, SummaryDelta

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
    records: int = msgspec.field(default=0, name="Records Read")


class _Metrics(msgspec.Struct, gc=False):
    input: _Input | None = msgspec.field(default=None, name="Input Metrics")
    gc_time: int = msgspec.field(default=0, name="JVM GC Time")
    run_time: int = msgspec.field(default=0, name="Executor Run Time")
    cpu_time: int = msgspec.field(default=0, name="Executor CPU Time")  # nanoseconds
    memory_spilled: int = msgspec.field(default=0, name="Memory Bytes Spilled")
    disk_spilled: int = msgspec.field(default=0, name="Disk Bytes Spilled")
    shuffle_read: _ShuffleRead | None = msgspec.field(default=None, name="Shuffle Read Metrics")
    shuffle_write: _ShuffleWrite | None = msgspec.field(default=None, name="Shuffle Write Metrics")


class _Peaks(msgspec.Struct, gc=False):
    """Peak executor memory (Spark's executor metrics, per task or per stage and executor)."""

    heap: int = msgspec.field(default=0, name="JVMHeapMemory")
    rss: int = msgspec.field(default=0, name="ProcessTreeJVMRSSMemory")
    python_rss: int = msgspec.field(default=0, name="ProcessTreePythonRSSMemory")


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


class _Exception(msgspec.Struct, gc=False):
    message: str = msgspec.field(default="", name="Message")


class _JobResult(msgspec.Struct, gc=False):
    result: str = msgspec.field(default="", name="Result")
    exception: _Exception | None = msgspec.field(default=None, name="Exception")


class _Properties(msgspec.Struct, gc=False):
    job_group: str | None = msgspec.field(default=None, name="spark.jobGroup.id")


class _Reason(msgspec.Struct, gc=False):
    """Why a task ended (Spark's TaskEndReason as JsonProtocol writes it)."""

    reason: str = msgspec.field(default="Success", name="Reason")
    class_name: str | None = msgspec.field(default=None, name="Class Name")
    description: str | None = msgspec.field(default=None, name="Description")
    executor: str | None = msgspec.field(default=None, name="Executor ID")
    loss_reason: str | None = msgspec.field(default=None, name="Loss Reason")


class _Event(msgspec.Struct, gc=False):
    event: str = msgspec.field(default="", name="Event")
    job_id: int | None = msgspec.field(default=None, name="Job ID")
    submission_time: int | None = msgspec.field(default=None, name="Submission Time")
    completion_time: int | None = msgspec.field(default=None, name="Completion Time")
    stage_ids: list[int] = msgspec.field(default_factory=list, name="Stage IDs")
    job_result: _JobResult | None = msgspec.field(default=None, name="Job Result")
    properties: _Properties | None = msgspec.field(default=None, name="Properties")
    stage_infos: list[_StageInfo] = msgspec.field(default_factory=list, name="Stage Infos")
    stage_id: int | None = msgspec.field(default=None, name="Stage ID")
    reason: _Reason | None = msgspec.field(default=None, name="Task End Reason")
    removed_reason: str | None = msgspec.field(default=None, name="Removed Reason")
    stage_info: _StageInfo | None = msgspec.field(default=None, name="Stage Info")
    task_info: _TaskInfo | None = msgspec.field(default=None, name="Task Info")
    task_metrics: _Metrics | None = msgspec.field(default=None, name="Task Metrics")
    timestamp: int | None = msgspec.field(default=None, name="Timestamp")
    executor_id: str | None = msgspec.field(default=None, name="Executor ID")
    executor_info: _ExecutorInfo | None = msgspec.field(default=None, name="Executor Info")
    task_peaks: _Peaks | None = msgspec.field(default=None, name="Task Executor Metrics")
    stage_peaks: _Peaks | None = msgspec.field(default=None, name="Executor Metrics")
    spark_properties: dict[str, str] | None = msgspec.field(default=None, name="Spark Properties")
    execution_id: int | None = msgspec.field(default=None, name="executionId")
    plan: str | None = msgspec.field(default=None, name="physicalPlanDescription")


_decoder = msgspec.json.Decoder(_Event)
_TASK_START = b'{"Event":"SparkListenerTaskStart"'


FAILURES_KEPT = 5  # per stage: the first failed tasks' reasons (a stage failing 10,000 times says it once)


@dataclass
class _Stage:
    stage_id: int
    name: str = ""
    tasks: int = 0
    attempt: int = 0
    submitted: int | None = None
    completed: int | None = None
    failure: str | None = None
    # Its tasks' launch and finish times (ms), side by side: arrays, so ingest extends them in bulk.
    launches: array[int] = field(default_factory=lambda: array("q"))
    finishes: array[int] = field(default_factory=lambda: array("q"))
    done: int = 0  # tasks that succeeded
    failed_tasks: int = 0
    killed_tasks: int = 0
    input_bytes: int = 0
    input_records: int = 0
    gc_ms: int = 0
    spilled: int = 0
    shuffle_read: int = 0
    shuffle_write: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # the first FAILURES_KEPT
    # The tuning loop's figures, from whole events (not ingest's per-task integers).
    run_ms: int = 0
    cpu_ms: float = 0.0
    memory_spilled: int = 0
    disk_spilled: int = 0
    task_bytes: list[int] = field(default_factory=list)  # each finished task's input + shuffle read

    @property
    def durations(self) -> list[int]:
        """Each task's duration (ms), of those with both times known."""
        return [finish - launch for launch, finish in self.spans()]

    def spans(self) -> list[tuple[int, int]]:
        """(launch, finish) of its tasks with both times known."""
        return [(launch, finish) for launch, finish in zip(self.launches, self.finishes, strict=True)
                if finish >= launch > 0]


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
    # id -> [cores, added, removed, why removed]
    executors: dict[str, list[Any]] = field(default_factory=dict)
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
            stage.name, stage.tasks, stage.attempt = info.name, info.tasks, max(stage.attempt, info.attempt)
            stage.submitted = info.submitted or stage.submitted
            stage.completed = info.completed or stage.completed
            stage.failure = info.failure or stage.failure
        # Events are folded in as they arrive, chunk by chunk, so an end may come before its start
        # (a later chunk holding older events): each side fills only its own fields.
        elif kind == "SparkListenerJobStart" and event.job_id is not None:
            job = self._job(event.job_id)
            job["start"], job["stage_ids"] = event.submission_time, event.stage_ids
            job["group"] = event.properties.job_group if event.properties is not None else None
            for info in event.stage_infos:  # every stage the job may run, submitted or not yet
                stage = self.stages.setdefault(info.stage_id, _Stage(info.stage_id))
                stage.name, stage.tasks = stage.name or info.name, stage.tasks or info.tasks
        elif kind == "SparkListenerJobEnd" and event.job_id is not None:
            job = self._job(event.job_id)
            job["end"] = event.completion_time
            result = event.job_result
            job["result"] = result.result if result else None
            job["error"] = result.exception.message if result and result.exception else None
        elif kind == "SparkListenerExecutorAdded" and event.executor_id is not None:
            executor = self.executors.setdefault(event.executor_id, [0, None, None, None])
            executor[0] = event.executor_info.cores if event.executor_info else 0
            executor[1] = event.timestamp
        elif kind == "SparkListenerExecutorRemoved" and event.executor_id is not None:
            executor = self.executors.setdefault(event.executor_id, [0, None, None, None])
            executor[2], executor[3] = event.timestamp, event.removed_reason
            if event.removed_reason and any(m in event.removed_reason for m in OOM_MARKS):
                self.failures.append(Failure("oom", None, event.removed_reason[:300]))
        elif kind == "SparkListenerStageExecutorMetrics" and event.stage_peaks and event.executor_id:
            self._peaks(event.executor_id, event.stage_peaks)
        elif kind == "SparkListenerApplicationStart":
            self.app_start = event.timestamp
        elif kind == "SparkListenerApplicationEnd":
            self.app_end = event.timestamp
        elif kind == "SparkListenerEnvironmentUpdate" and event.spark_properties:
            self.properties.update(event.spark_properties)
        elif event.plan and event.execution_id is not None:  # SQL execution start, adaptive updates
            self.plans[event.execution_id] = event.plan

    def _peaks(self, executor: str, peaks: _Peaks) -> None:
        self.peak_heap[executor] = max(self.peak_heap.get(executor, 0), peaks.heap)
        self.peak_rss[executor] = max(self.peak_rss.get(executor, 0), peaks.rss + peaks.python_rss)

    def _job(self, job_id: int) -> dict[str, Any]:
        return self.jobs.setdefault(job_id, {"job_id": job_id, "group": None, "start": None, "end": None,
                                             "stage_ids": [], "result": None, "error": None})

    def add_pieces(self, pieces: Iterable[bytes]) -> None:
        for line in _lines(pieces):
            try:
                self.add(_decoder.decode(line))
            except msgspec.MsgspecError:
                continue  # an event of a shape this view does not read: it is still in the download

    @property
    def tasks(self) -> list[tuple[int, int]]:
        return [span for stage in self.stages.values() for span in stage.spans()]

    def view(self, start_ms: int | None, end_ms: int | None, *, group: str | None = None,
             counts_only: bool = False) -> dict[str, Any]:
        """The whole app's view, or (`group`) that of one job group's jobs, their stages and tasks,
        on the group's own time range; the executors are the app's (their cores are shared).
        `counts_only`: the stages' counters without task durations or the cores series, which take
        a pass over every task (progress needs only the counters, once a second)."""
        if group is None:
            jobs, stages = list(self.jobs.values()), list(self.stages.values())
        else:
            jobs = [j for j in self.jobs.values() if j["group"] == group]
            ids = {stage_id for j in jobs for stage_id in j["stage_ids"]}
            stages = [self.stages[i] for i in ids if i in self.stages]
        skipped = _skipped(jobs, self.stages)
        view: dict[str, Any] = {
            "jobs": sorted(jobs, key=lambda j: j["job_id"]),
            "stages": [_stage_view(s, skipped=s.stage_id in skipped, durations=not counts_only)
                       for s in sorted(stages, key=lambda s: s.stage_id)],
            "cores": None,
            "executors_lost": [{"executor": e, "at": v[2], "reason": v[3]} for e, v in sorted(self.executors.items())
                               if v[2] is not None and _lost(v[3])]}
        if counts_only:
            return view
        spans = [span for stage in stages for span in stage.spans()]
        if group is not None:
            times = [t for j in jobs for t in (j["start"], j["end"]) if t is not None]
            times += [t for span in spans for t in span]
            start_ms = min(times) if times else None
            end_ms = None if any(j["end"] is None for j in jobs) else (max(times) if times else None)
        view["cores"] = cores_usage(spans, self.executors, start_ms, end_ms)
        return view

    def add_delta(self, delta: SummaryDelta) -> None:
        """Fold in what ingest's one decode of a payload kept (events/summary.py): its TaskEnds as
        integers and its job, stage and executor events, without reading the payload again."""
        for raw in delta.other_events:
            try:
                self.add(_decoder.decode(raw))
            except msgspec.MsgspecError:
                continue
        records = delta.task_records
        if not records:
            return
        failures = {index: rest for index, *rest in delta.task_failures}
        stage_ids = records[0::TASK_FIELDS]
        # Slices of an array are C loops: a payload's tasks are folded in per stage, not per task
        # (this runs at ingest for every watched application, and for every chunk at a first view).
        for stage_id in set(stage_ids):
            first, count = stage_ids.index(stage_id), stage_ids.count(stage_id)
            # A stage's tasks mostly end side by side in a payload: then they are one slice; only
            # stages running at once, their tasks interleaved, are picked out task by task.
            rows = None if stage_ids[first:first + count].count(stage_id) == count else \
                [i for i, s in enumerate(stage_ids) if s == stage_id]

            def column(k: int, first: int = first, count: int = count, rows: list[int] | None = rows) -> array[int]:
                if rows is None:
                    return records[first * TASK_FIELDS + k:(first + count) * TASK_FIELDS:TASK_FIELDS]
                return array("q", (records[i * TASK_FIELDS + k] for i in rows))

            stage = self.stages.get(stage_id)
            if stage is None:
                stage = self.stages[stage_id] = _Stage(stage_id)
            stage.launches.extend(column(1))
            stage.finishes.extend(column(2))
            outcomes = column(3)
            done, killed = outcomes.count(0), outcomes.count(1)
            stage.done += done
            stage.killed_tasks += killed
            stage.failed_tasks += len(outcomes) - done - killed
            stage.gc_ms += sum(column(4))
            stage.spilled += sum(column(5))
            stage.shuffle_read += sum(column(6))
            stage.shuffle_write += sum(column(7))
            stage.input_bytes += sum(column(8))
            stage.input_records += sum(column(9))
            for index, (reason, class_name, message, executor) in failures.items():
                if stage_ids[index] == stage_id and len(stage.failures) < FAILURES_KEPT:
                    stage.failures.append({"reason": reason, "executor": executor or None, "class_name": class_name,
                                           "message": str(message or reason)[:2000]})

    def _task_end(self, event: _Event, info: _TaskInfo) -> None:
        stage = self.stages.setdefault(event.stage_id or 0, _Stage(event.stage_id or 0))
        reason = event.reason.reason if event.reason is not None else "Success"
        outcome = 0 if reason == "Success" else 1 if reason in KILLED_REASONS else 2
        metrics = event.task_metrics
        gc = spilled = read = written = in_bytes = in_records = 0
        if metrics is not None:
            gc, spilled = metrics.gc_time, metrics.memory_spilled + metrics.disk_spilled
            if metrics.input is not None:
                in_bytes, in_records = metrics.input.bytes, metrics.input.records
            if metrics.shuffle_read is not None:
                read = metrics.shuffle_read.remote + metrics.shuffle_read.local
            if metrics.shuffle_write is not None:
                written = metrics.shuffle_write.written
        failure = _failure(event.reason, info) if outcome == 2 and event.reason is not None else None
        self._fold_task(stage, info.launch, info.finish, outcome, gc, spilled, read, written, in_bytes, in_records,
                        failure)
        if metrics is not None:
            stage.memory_spilled += metrics.memory_spilled
            stage.disk_spilled += metrics.disk_spilled
            stage.run_ms += metrics.run_time
            stage.cpu_ms += metrics.cpu_time / 1e6
            stage.task_bytes.append(read + in_bytes)
        if event.task_peaks is not None:
            self._peaks(info.executor, event.task_peaks)
        if outcome == 2 and event.reason is not None:
            why = event.reason
            text = " ".join(filter(None, (why.reason, why.class_name, why.description, why.loss_reason)))
            mark = next((m for m in OOM_MARKS if m in text), None)
            kind = "oom" if mark else "executor_lost" if why.reason == "ExecutorLostFailure" else "task"
            self.failures.append(Failure(kind, event.stage_id, (f"{mark}: {text}" if mark else text)[:300]))

    @staticmethod
    def _fold_task(stage: _Stage, launch: int, finish: int, outcome: int, gc: int, spilled: int, read: int,
                   written: int, in_bytes: int, in_records: int, failure: dict[str, Any] | None) -> None:
        stage.launches.append(launch)
        stage.finishes.append(finish)
        if outcome == 0:
            stage.done += 1
        elif outcome == 1:
            stage.killed_tasks += 1
        else:
            stage.failed_tasks += 1
            if failure is not None and len(stage.failures) < FAILURES_KEPT:
                stage.failures.append(failure)
        stage.gc_ms += gc
        stage.spilled += spilled
        stage.input_bytes += in_bytes
        stage.input_records += in_records
        stage.shuffle_read += read
        stage.shuffle_write += written


def _skipped(jobs: list[dict[str, Any]], stages: dict[int, _Stage]) -> set[int]:
    """The stages jobs planned but will never run, their output existing already (a shuffle an
    earlier job wrote): those of an ended job never submitted, and those never submitted while a
    later stage of the same job was (Spark numbers a job's parent stages before their children
    and runs parents first, so a child running means its unsubmitted parents are skipped)."""
    skipped: set[int] = set()
    for job in jobs:
        ids = job["stage_ids"]
        submitted = [i for i in ids if i in stages and stages[i].submitted is not None]
        latest = max(submitted, default=-1)
        for i in ids:
            unsubmitted = i not in stages or stages[i].submitted is None
            if unsubmitted and (job["end"] is not None or i < latest):
                skipped.add(i)
    return skipped


def _failure(reason: _Reason, info: _TaskInfo) -> dict[str, Any]:
    """A failed task as the run page explains it: where (executor) and what Spark said."""
    message = reason.description or reason.loss_reason or reason.reason
    return {"reason": reason.reason, "executor": reason.executor or info.executor or None,
            "class_name": reason.class_name, "message": message[:2000]}


def _lost(why: str | None) -> bool:
    """An executor removed for a failure, not by the app's own end or dynamic allocation."""
    if not why:
        return False
    quiet = ("Executor killed by driver", "SparkContext is stopping", "is idle", "decommission")
    return not any(word.lower() in why.lower() for word in quiet)


def _lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        for line in piece.split(b"\n"):
            if line and not line.startswith(_TASK_START):  # task starts add nothing a TaskEnd lacks
                yield line


def analyse(pieces: Iterable[bytes], *, start_ms: int | None = None, end_ms: int | None = None,
            group: str | None = None) -> dict[str, Any]:
    """Aggregate NDJSON pieces (as EventStore.stream_events yields them) into what the Spark page shows."""
    state = Aggregate()
    state.add_pieces(pieces)
    return state.view(start_ms, end_ms, group=group)


def _stage_view(stage: _Stage, *, skipped: bool = False, durations: bool = True) -> dict[str, Any]:
    took = sorted(finish - launch for launch, finish in stage.spans()) if durations else []
    if stage.completed is not None:
        status = "failed" if stage.failure else "complete"
    else:
        status = "active" if stage.submitted is not None else "skipped" if skipped else "pending"
    view: dict[str, Any] = {
        "stage_id": stage.stage_id, "name": stage.name, "tasks": stage.tasks or len(stage.launches),
        "status": status, "attempt": stage.attempt, "done": stage.done, "failed_tasks": stage.failed_tasks,
        "killed_tasks": stage.killed_tasks, "submitted": stage.submitted, "completed": stage.completed,
        "failure": stage.failure, "input_bytes": stage.input_bytes, "input_records": stage.input_records,
        "gc_ms": stage.gc_ms, "spilled": stage.spilled, "shuffle_read": stage.shuffle_read,
        "shuffle_write": stage.shuffle_write, "failures": stage.failures,
        "min_ms": None, "median_ms": None, "max_ms": None, "skew": False,
    }
    if took:
        median = statistics.median(took)
        view.update(min_ms=took[0], median_ms=int(median), max_ms=took[-1],
                    skew=took[-1] >= SKEW_RATIO * max(median, 1) and took[-1] - median >= SKEW_MIN_MS)
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
    for cores, added, removed, *_why in executors.values():
        spread(allocated, added if added is not None else begin, removed if removed is not None else finish, cores)
    busy_area = sum(busy) * width
    allocated_area = sum(allocated) * width
    return {"t": [int(begin + (i + 0.5) * width) for i in range(buckets)],
            "busy": [round(v, 3) for v in busy], "allocated": [round(v, 3) for v in allocated],
            "idle_share": (1 - min(busy_area, allocated_area) / allocated_area) if allocated_area else None,
            "busy_core_ms": int(busy_area), "allocated_core_ms": int(allocated_area)}
