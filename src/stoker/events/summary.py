"""Per-app summary, accumulated while an event is checked at ingest.

Each event is decoded once, into a struct that names only the fields the summary reads: msgspec
still checks the whole text is valid JSON but skips the rest without building Python objects,
which is what keeps ingest of 5 KB TaskEnd events cheap.

The same decode also yields what the kept analysis of an app (events/analysis.py) folds in: a
TaskEnd as a few integers (`task_records`), and the rare job, stage and executor events as their
text (`other_events`). A watched run's progress then costs no second pass over its events.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field, fields

import msgspec


class _ShuffleRead(msgspec.Struct, gc=False):
    remote: int = msgspec.field(default=0, name="Remote Bytes Read")
    local: int = msgspec.field(default=0, name="Local Bytes Read")


class _ShuffleWrite(msgspec.Struct, gc=False):
    written: int = msgspec.field(default=0, name="Shuffle Bytes Written")


class _Input(msgspec.Struct, gc=False):
    bytes: int = msgspec.field(default=0, name="Bytes Read")
    records: int = msgspec.field(default=0, name="Records Read")


class _Output(msgspec.Struct, gc=False):
    bytes: int = msgspec.field(default=0, name="Bytes Written")
    records: int = msgspec.field(default=0, name="Records Written")


class _TaskMetrics(msgspec.Struct, gc=False):
    run_time: int = msgspec.field(default=0, name="Executor Run Time")
    gc_time: int = msgspec.field(default=0, name="JVM GC Time")
    memory_spilled: int = msgspec.field(default=0, name="Memory Bytes Spilled")
    disk_spilled: int = msgspec.field(default=0, name="Disk Bytes Spilled")
    shuffle_read: _ShuffleRead | None = msgspec.field(default=None, name="Shuffle Read Metrics")
    shuffle_write: _ShuffleWrite | None = msgspec.field(default=None, name="Shuffle Write Metrics")
    input: _Input | None = msgspec.field(default=None, name="Input Metrics")
    output: _Output | None = msgspec.field(default=None, name="Output Metrics")


class _Reason(msgspec.Struct, gc=False):
    reason: str = msgspec.field(default="", name="Reason")
    class_name: str | None = msgspec.field(default=None, name="Class Name")
    description: str | None = msgspec.field(default=None, name="Description")
    executor: str | None = msgspec.field(default=None, name="Executor ID")
    loss_reason: str | None = msgspec.field(default=None, name="Loss Reason")


class _TaskInfo(msgspec.Struct, gc=False):
    launch: int = msgspec.field(default=0, name="Launch Time")
    finish: int = msgspec.field(default=0, name="Finish Time")
    executor: str = msgspec.field(default="", name="Executor ID")


class _JobResult(msgspec.Struct, gc=False):
    result: str = msgspec.field(default="", name="Result")


class _StageInfo(msgspec.Struct, gc=False):
    failure: str | None = msgspec.field(default=None, name="Failure Reason")


class _Event(msgspec.Struct, gc=False):
    event: str = msgspec.field(default="", name="Event")
    app_name: str | None = msgspec.field(default=None, name="App Name")
    app_id: str | None = msgspec.field(default=None, name="App ID")
    timestamp: int | None = msgspec.field(default=None, name="Timestamp")
    spark_version: str | None = msgspec.field(default=None, name="Spark Version")
    job_result: _JobResult | None = msgspec.field(default=None, name="Job Result")
    stage_info: _StageInfo | None = msgspec.field(default=None, name="Stage Info")
    task_end_reason: _Reason | None = msgspec.field(default=None, name="Task End Reason")
    task_metrics: _TaskMetrics | None = msgspec.field(default=None, name="Task Metrics")
    stage_id: int = msgspec.field(default=0, name="Stage ID")
    task_info: _TaskInfo | None = msgspec.field(default=None, name="Task Info")


_event_decoder = msgspec.json.Decoder(_Event)


class _Kind(msgspec.Struct, gc=False):
    event: str = msgspec.field(default="", name="Event")


# Half of an app's events are TaskStarts, which add nothing to the summary: when an event begins as
# Spark writes one, it is only checked (and its type confirmed: a later duplicate "Event" key wins).
_TASK_START = '{"Event":"SparkListenerTaskStart"'
_PREFIX = len(_TASK_START)
_kind_decoder = msgspec.json.Decoder(_Kind)


@dataclass
class SummaryDelta:
    """What one payload adds to its app's summary row (counters add up; facts overwrite)."""

    app_name: str | None = None
    app_id: str | None = None
    spark_version: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    jobs: int = 0
    failed_jobs: int = 0
    stages: int = 0
    failed_stages: int = 0
    tasks: int = 0
    failed_tasks: int = 0
    killed_tasks: int = 0  # TaskKilled and TaskCommitDenied: stopped on purpose, not failures
    executors_added: int = 0
    executors_removed: int = 0
    task_time_ms: int = 0
    gc_time_ms: int = 0
    shuffle_read_bytes: int = 0
    shuffle_write_bytes: int = 0
    spilled_bytes: int = 0
    input_bytes: int = 0
    input_records: int = 0
    output_bytes: int = 0
    output_records: int = 0
    # For the kept analysis: TASK_FIELDS integers per TaskEnd; failed tasks' reasons (task index,
    # reason, class, message, executor); the text of job, stage and executor events.
    task_records: array[int] = field(default_factory=lambda: array("q"))
    task_failures: list[tuple[int, str, str | None, str | None, str | None]] = field(default_factory=list)
    other_events: list[str | bytes] = field(default_factory=list)

    FACTS = ("app_name", "app_id", "spark_version", "start_ms", "end_ms")
    FOR_ANALYSIS = ("task_records", "task_failures", "other_events")

    def counters(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in self.FACTS and f.name not in self.FOR_ANALYSIS}

    def facts(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.FACTS if getattr(self, name) is not None}


def decode_event_into(raw: str | bytes, delta: SummaryDelta) -> str | None:
    """Check `raw` is one JSON object and add what it says to `delta`; return a problem or None."""
    try:
        if raw[:_PREFIX] == _TASK_START and _kind_decoder.decode(raw).event == "SparkListenerTaskStart":
            return None
        event = _event_decoder.decode(raw)
    except msgspec.ValidationError:
        # Valid JSON whose summary fields have unusual types (or not an object): decide which.
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            return f"is not valid JSON: {exc}"
        if not isinstance(value, dict):
            return f"must be a JSON object, got {type(value).__name__}"
        return None
    except msgspec.DecodeError as exc:
        return f"is not valid JSON: {exc}"
    _add(event, delta, raw)
    return None


# Spark's own status store counts these apart (numKilledTasks): a speculative copy killed because
# another finished first, or a commit another attempt won, is no failure of the application.
KILLED_REASONS = frozenset({"TaskKilled", "TaskCommitDenied"})


# A TaskEnd as the kept analysis folds it: stage, launch, finish, outcome (0 succeeded, 1 killed,
# 2 failed), GC ms, bytes spilled, shuffle read, shuffle write, input bytes, input records.
TASK_FIELDS = 10
_ANALYSED = frozenset({"SparkListenerJobStart", "SparkListenerJobEnd", "SparkListenerStageSubmitted",
                       "SparkListenerStageCompleted", "SparkListenerExecutorAdded", "SparkListenerExecutorRemoved"})


def _add(event: _Event, delta: SummaryDelta, raw: str | bytes) -> None:
    kind = event.event
    if kind == "SparkListenerTaskEnd":
        delta.tasks += 1
        reason = event.task_end_reason.reason if event.task_end_reason is not None else "Success"
        outcome = 0
        if reason in KILLED_REASONS:
            delta.killed_tasks += 1
            outcome = 1
        elif reason != "Success":
            delta.failed_tasks += 1
            outcome = 2
        gc = spilled = shuffle_read = shuffle_write = input_bytes = input_records = 0
        metrics = event.task_metrics
        if metrics is not None:
            gc, spilled = metrics.gc_time, metrics.memory_spilled + metrics.disk_spilled
            delta.task_time_ms += metrics.run_time
            delta.gc_time_ms += gc
            delta.spilled_bytes += spilled
            if metrics.shuffle_read is not None:
                shuffle_read = metrics.shuffle_read.remote + metrics.shuffle_read.local
                delta.shuffle_read_bytes += shuffle_read
            if metrics.shuffle_write is not None:
                shuffle_write = metrics.shuffle_write.written
                delta.shuffle_write_bytes += shuffle_write
            if metrics.input is not None:
                input_bytes, input_records = metrics.input.bytes, metrics.input.records
                delta.input_bytes += input_bytes
                delta.input_records += input_records
            if metrics.output is not None:
                delta.output_bytes += metrics.output.bytes
                delta.output_records += metrics.output.records
        info = event.task_info
        launch, finish = (info.launch, info.finish) if info is not None else (0, 0)
        if outcome == 2 and event.task_end_reason is not None:
            why = event.task_end_reason
            delta.task_failures.append((len(delta.task_records) // TASK_FIELDS, reason, why.class_name,
                                        why.description or why.loss_reason,
                                        why.executor or (info.executor if info is not None else None)))
        delta.task_records.extend((event.stage_id, launch, finish, outcome, gc, spilled, shuffle_read,
                                   shuffle_write, input_bytes, input_records))
        return
    if kind in _ANALYSED:
        delta.other_events.append(raw)
    if kind == "SparkListenerTaskStart":
        pass
    elif kind == "SparkListenerStageCompleted":
        delta.stages += 1
        if event.stage_info is not None and event.stage_info.failure is not None:
            delta.failed_stages += 1
    elif kind == "SparkListenerJobStart":
        delta.jobs += 1
    elif kind == "SparkListenerJobEnd":
        if event.job_result is not None and event.job_result.result != "JobSucceeded":
            delta.failed_jobs += 1
    elif kind == "SparkListenerExecutorAdded":
        delta.executors_added += 1
    elif kind == "SparkListenerExecutorRemoved":
        delta.executors_removed += 1
    elif kind == "SparkListenerApplicationStart":
        delta.app_name = event.app_name
        delta.app_id = event.app_id
        delta.start_ms = event.timestamp
    elif kind == "SparkListenerApplicationEnd":
        delta.end_ms = event.timestamp
    elif kind == "SparkListenerLogStart":
        delta.spark_version = event.spark_version
