"""Records of the Spark applications the collector heard from (store/spark_events.py reads them)."""

from __future__ import annotations

import msgspec


class SparkApp(msgspec.Struct, frozen=True, kw_only=True):
    """An app's row: who sent it (job, run), when, and the summary ingest keeps up to date. Times
    of the summary are epoch milliseconds as Spark writes them; `*_seen_at` are Stoker's clock."""

    id: int
    job_name: str
    run_id: str
    first_seen_at: float
    last_seen_at: float  # any payload, heartbeats included
    event_count: int
    chunk_count: int
    app_name: str | None
    app_id: str | None
    spark_version: str | None
    start_ms: int | None
    end_ms: int | None
    ended_by: str | None  # None while running or ended by its ApplicationEnd; why Stoker ended it
    jobs: int
    failed_jobs: int
    stages: int
    failed_stages: int
    tasks: int
    failed_tasks: int
    killed_tasks: int
    executors_added: int
    executors_removed: int
    task_time_ms: int
    gc_time_ms: int
    shuffle_read_bytes: int
    shuffle_write_bytes: int
    spilled_bytes: int
    input_bytes: int
    input_records: int
    output_bytes: int
    output_records: int


class SparkAppRun(msgspec.Struct, frozen=True, kw_only=True):
    """A job's app as its list of runs shows it."""

    run_id: str
    first_seen_at: float
    last_seen_at: float
    event_count: int
    start_ms: int | None
    end_ms: int | None


class SparkAppRef(msgspec.Struct, frozen=True, kw_only=True):
    """Where a run's attempt's Spark application is stored (by its Spark application id)."""

    job_name: str
    run_id: str
    app_id: str | None
    event_count: int
