"""Tables of the Spark event collector, on the store's one MetaData (migration 0002_events mirrors them).

One row per spark app (`job_name`, `run_id`) carries the summary that ingest keeps current, so a
duration or a summary is one primary-key read. Events live in chunks: one row per stored payload,
holding the events' raw bytes newline-joined (exactly as received) and their `generated_at` times,
with the chunk's time range so export can merge chunks without decoding the ones that do not overlap.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata, team_id

spark_apps = sa.Table(
    "spark_apps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_name", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("first_seen_at", sa.Float, nullable=False),  # epoch seconds, Stoker's clock
    sa.Column("last_seen_at", sa.Float, nullable=False),  # any payload, heartbeats included
    sa.Column("event_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
    # The summary; times in epoch milliseconds as Spark writes them.
    sa.Column("app_name", sa.Text),
    sa.Column("app_id", sa.String(200)),
    sa.Column("spark_version", sa.String(50)),
    sa.Column("start_ms", sa.BigInteger),
    sa.Column("end_ms", sa.BigInteger),
    # NULL while running or when its ApplicationEnd ended it; "heartbeat timeout" when it fell
    # silent (its driver died) and Stoker ended it. Any later payload from it clears both.
    sa.Column("ended_by", sa.String(40)),
    sa.Column("jobs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_jobs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_stages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tasks", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failed_tasks", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("killed_tasks", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("executors_added", sa.Integer, nullable=False, server_default="0"),
    sa.Column("executors_removed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("task_time_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("gc_time_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("shuffle_read_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("shuffle_write_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("spilled_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("input_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("input_records", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_records", sa.BigInteger, nullable=False, server_default="0"),
    team_id(),  # a run's app is its run's team's; an app posted from outside, the ingest token's
    sa.UniqueConstraint("job_name", "run_id", name="uq_spark_apps_job_run"),
)

spark_event_chunks = sa.Table(
    "spark_event_chunks",
    metadata,
    # id is the arrival order: it breaks ties between chunks with equal times.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("spark_app_id", sa.Integer, sa.ForeignKey("spark_apps.id"), nullable=False),
    sa.Column("payload_counter", sa.BigInteger, nullable=False),
    sa.Column("message_counter", sa.BigInteger, nullable=False),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("min_generated_at", sa.BigInteger, nullable=False),
    sa.Column("max_generated_at", sa.BigInteger, nullable=False),
    sa.Column("ordered", sa.Boolean, nullable=False),  # times non-decreasing within the chunk
    sa.Column("codec", sa.String(16), nullable=False, server_default="none"),
    sa.Column("times", sa.LargeBinary, nullable=False),  # int64 little-endian, one per event
    # the payload as received (codec payload+gzip | payload+zstd), or NDJSON (zstd | none)
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    # What the app's analysis folds in of these events (events/digest.py, zstd), written with the
    # chunk so a first view reads no event's JSON; NULL for chunks stored before migration 0019
    # and for redacted bodies (their events are read instead).
    sa.Column("digest", sa.LargeBinary),
    # A listener retry repeats the counters of a stored payload: the constraint stores it once.
    sa.UniqueConstraint("spark_app_id", "payload_counter", "message_counter",
                        name="uq_spark_event_chunks_payload"),
)
sa.Index("ix_spark_event_chunks_app_time", spark_event_chunks.c.spark_app_id,
         spark_event_chunks.c.min_generated_at, spark_event_chunks.c.id)
