"""Every table of Stoker, as SQLAlchemy Core tables on one MetaData. Alembic migrations create
exactly these (tests/unit/test_migrations.py compares them, on SQLite and PostgreSQL).

Times are float epoch seconds (UTC): one portable type for SQLite and PostgreSQL, cheap to compare in
the claim and reap queries.

- `core`: tokens, jobs, runs, attempts, dead letters, the outbox, settings, products, clusters and
  their nodes and history, leases, UI sessions;
- `events`: the Spark event collector's apps (with their summaries) and event chunks;
- `sinks`: the sinks' delivery cursors and the registered webhooks;
- `sate`: Sate's processing requests and executions;
- `containers`: the image of each container job;
- `schedules`: jobs' schedules and the ticks they fired, skipped or missed.
- `secrets`: named secrets, and the deliveries of job notifications;
- `hosts`: the machines that run cluster nodes and container tasks.
- `teams`: teams, their members' roles, and the audit log (every resource table has a `team_id`).

Importing this package defines them all: `metadata` always holds every table.
"""

from __future__ import annotations

from stoker.store.tables.containers import container_images
from stoker.store.tables.core import (
    attempts,
    cluster_history,
    cluster_nodes,
    clusters,
    dead_letters,
    jobs,
    leases,
    metadata,
    outbox,
    products,
    runs,
    settings_kv,
    tokens,
    ui_sessions,
)
from stoker.store.tables.events import spark_apps, spark_event_chunks
from stoker.store.tables.hosts import hosts
from stoker.store.tables.sate import sate_executions, sate_requests
from stoker.store.tables.schedules import schedule_ticks, schedules
from stoker.store.tables.secrets import notification_deliveries, secrets
from stoker.store.tables.sinks import sink_cursors, webhooks
from stoker.store.tables.teams import audit_log, memberships, teams

__all__ = [
    "attempts",
    "audit_log",
    "cluster_history",
    "cluster_nodes",
    "clusters",
    "container_images",
    "dead_letters",
    "hosts",
    "jobs",
    "leases",
    "memberships",
    "metadata",
    "notification_deliveries",
    "outbox",
    "products",
    "runs",
    "sate_executions",
    "sate_requests",
    "schedule_ticks",
    "schedules",
    "secrets",
    "settings_kv",
    "sink_cursors",
    "spark_apps",
    "spark_event_chunks",
    "teams",
    "tokens",
    "ui_sessions",
    "webhooks",
]
