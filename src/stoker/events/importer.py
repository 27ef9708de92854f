"""Importing Spark event logs as collector payloads, through the same checks and store as `/collect`.

An event log has no arrival times, so each event's `generated_at` is the latest time it or any event
before it carries (`Timestamp`, `Submission Time`, a task's finish or launch time …): never
decreasing, so the export order is exactly the file's order. Payload counters are the payload's
position in the log, so importing the same log twice stores it once.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import orjson

from stoker.events.eventlog import iter_lines


class _TaskInfo(msgspec.Struct):
    launch: int = msgspec.field(default=0, name="Launch Time")
    finish: int = msgspec.field(default=0, name="Finish Time")


class _StageInfo(msgspec.Struct):
    submitted: int | None = msgspec.field(default=None, name="Submission Time")
    completed: int | None = msgspec.field(default=None, name="Completion Time")


class _Times(msgspec.Struct):
    event: str = msgspec.field(default="", name="Event")
    app_id: str | None = msgspec.field(default=None, name="App ID")
    timestamp: int | None = msgspec.field(default=None, name="Timestamp")
    submitted: int | None = msgspec.field(default=None, name="Submission Time")
    completed: int | None = msgspec.field(default=None, name="Completion Time")
    time: int | None = None
    task: _TaskInfo | None = msgspec.field(default=None, name="Task Info")
    stage: _StageInfo | None = msgspec.field(default=None, name="Stage Info")


_times = msgspec.json.Decoder(_Times)


def event_time(line: bytes) -> int | None:
    """The latest epoch-ms time an event line carries, or None."""
    try:
        e = _times.decode(line)
    except msgspec.MsgspecError:
        return None
    found = [t for t in (e.timestamp, e.submitted, e.completed, e.time) if t]
    if e.task is not None:
        found += [t for t in (e.task.launch, e.task.finish) if t]
    if e.stage is not None:
        found += [t for t in (e.stage.submitted, e.stage.completed) if t]
    return max(found) if found else None


def find_app_id(path: Path, scan_lines: int = 10_000) -> str | None:
    for n, line in enumerate(iter_lines(path)):
        if b"SparkListenerApplicationStart" in line:
            try:
                return _times.decode(line).app_id
            except msgspec.MsgspecError:
                return None
        if n > scan_lines:
            break
    return None


def default_run_id(path: Path) -> str:
    found = find_app_id(path)
    if found:
        return found
    name = path.name.removeprefix("eventlog_v2_").removesuffix(".inprogress")
    return name.split(".")[0]


def payloads(path: Path, job_name: str, run_id: str, *, batch_size: int = 1000,
             progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The log as collector payloads (JSON bytes), `batch_size` events each."""
    pending: list[bytes] = []  # events seen before the first time-bearing one
    batch: list[dict[str, object]] = []
    current: int | None = None
    counter = messages = 0

    def flush() -> bytes:
        nonlocal counter, messages
        counter += 1
        messages += len(batch)
        body = orjson.dumps({
            "job_name": job_name, "run_id": run_id, "sent_at": int(time.time() * 1000),
            "counters": {"message_counter": messages, "payload_counter": counter},
            "messages": batch,
        })
        batch.clear()
        return body

    for n, line in enumerate(iter_lines(path), 1):
        if progress is not None and n % 1000 == 0:
            progress(1000)
        found = event_time(line)
        if found is not None:
            current = found if current is None else max(current, found)
        if current is None:
            pending.append(line)
            continue
        for event in (*pending, line):
            batch.append({"message_type": "spark-event", "generated_at": current,
                          "content": event.decode()})
            if len(batch) >= batch_size:
                yield flush()
        pending.clear()
    for event in pending:  # a log without any time at all: keep its order at time 0
        batch.append({"message_type": "spark-event", "generated_at": 0, "content": event.decode()})
    if batch:
        yield flush()


@dataclass
class ImportResult:
    run_id: str
    events: int = 0
    payloads: int = 0
    duplicates: int = 0


def import_log(path: Path, job_name: str, send: Callable[[bytes], tuple[str, int]], *,
               run_id: str | None = None, batch_size: int = 1000,
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Feed a log's payloads to `send` (direct store or HTTP), which answers (status, events)."""
    result = ImportResult(run_id or default_run_id(path))
    for body in payloads(path, job_name, result.run_id, batch_size=batch_size, progress=progress):
        status, events = send(body)
        result.payloads += 1
        result.events += events
        result.duplicates += status == "duplicate"
    return result


def direct_sender(store) -> Callable[[bytes], tuple[str, int]]:  # type: ignore[no-untyped-def]
    from stoker.events.payload import parse_payload

    def send(body: bytes) -> tuple[str, int]:
        ingested = store.ingest(parse_payload(body), body)
        return ingested.status, ingested.events

    return send


def http_sender(client, url: str, token: str, retries: int = 5) -> Callable[[bytes], tuple[str, int]]:  # type: ignore[no-untyped-def]
    """Post gzipped payloads to `<url>/collect`; transient failures are retried with the same body."""

    def send(body: bytes) -> tuple[str, int]:
        data = gzip.compress(body, 6)
        for attempt in range(retries + 1):
            try:
                response = client.post(f"{url.rstrip('/')}/collect", content=data,
                                       headers={"Authorization": f"Bearer {token}",
                                                "Content-Encoding": "gzip",
                                                "Content-Type": "application/json"})
            except Exception:
                if attempt == retries:
                    raise
                time.sleep(0.5 * 2 ** attempt)
                continue
            if response.status_code < 500 or attempt == retries:
                response.raise_for_status()
                ack = response.json()
                return ack["status"], ack["events"]
            time.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")

    return send
