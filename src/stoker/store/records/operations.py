"""Records of how the service itself is doing: the cluster duties' lease, the sinks' delivery
cursors and lag, the dashboard's counts (store/leases.py, store/sink_cursors.py,
store/dashboard.py read them)."""

from __future__ import annotations

import msgspec


class LeaseHolder(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds a named lease, since and until when (database time), and whether it expired."""

    name: str
    holder: str
    acquired_at: float
    expires_at: float
    expired: bool


class CursorState(msgspec.Struct, frozen=True, kw_only=True):
    """A sink's delivery cursor: up to which outbox event it delivered, and its failures."""

    position: int
    failures: int
    last_error: str | None
    delivered_at: float | None
    owner: str | None  # the process delivering through it now


class SinkLag(msgspec.Struct, frozen=True, kw_only=True):
    """How far a sink is behind the outbox: events not yet delivered, and its last error."""

    name: str
    behind: int
    failures: int
    last_error: str | None
    delivered_at: float | None


class MinuteCount(msgspec.Struct, frozen=True, kw_only=True):
    """Runs that finished in one minute (starting `at`), by how they ended."""

    at: float
    succeeded: int
    failed: int


class RunningAttempt(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    number: int
    worker_id: str
    executor: str | None
    started_at: float
    heartbeat_at: float
    job: str
