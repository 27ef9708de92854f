"""Run events, written in the same transaction as the state change they describe, and read back
(in seq order, for the sinks) as `Event` records."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from stoker.core.states import RunState
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database
from stoker.store.notify import CHANNEL
from stoker.store.tables import outbox, runs

log = logging.getLogger(__name__)

RunEventName = Literal["queued", "running", "retrying", "succeeded", "failed", "dead_letter",
                       "cancel_requested", "cancelled"]
EVENT_NAMES: tuple[RunEventName, ...] = get_args(RunEventName)

# The state a run is in after each event (docs/events-and-sinks.md's table is tested against it).
# A dead letter leaves the run as it was: FAILED, or CANCELLED for a refused retry of a run that was
# cancelled during its last allowed attempt.
STATE_AFTER: dict[RunEventName, tuple[RunState, ...]] = {
    "queued": (RunState.QUEUED,),
    "running": (RunState.RUNNING,),
    "retrying": (RunState.QUEUED,),
    "succeeded": (RunState.SUCCEEDED,),
    "failed": (RunState.FAILED,),
    "dead_letter": (RunState.FAILED, RunState.CANCELLED),
    "cancel_requested": (RunState.RUNNING,),
    "cancelled": (RunState.CANCELLED,),
}


def run_event(event: RunEventName, *, run_id: str, job_id: str, job: str, state: RunState,
              attempt: int | None = None, **fields: Any) -> dict[str, Any]:
    """The one way to make a run event: every event names its run (`run_id`), its job (`job_id`
    and the name `job`), the run's state after it, and the attempt it concerns where there is one
    (the one claimed, ended, asked to stop, or — for a retry's `queued` — the one that will run).
    `fields` add what the event tells besides (outcome, error, reason, available_at …)."""
    if state not in STATE_AFTER[event]:
        raise ValueError(f"a {event!r} event leaves a run {'/'.join(s.value for s in STATE_AFTER[event])}, "
                         f"not {state.value}")
    payload: dict[str, Any] = {"run_id": run_id, "job_id": job_id, "job": job, "event": event,
                               "state": state.value}
    if attempt is not None:
        payload["attempt"] = attempt
    payload.update(fields)
    return payload


def record_events(conn: Connection, now: float, events: Iterable[Mapping[str, Any]]) -> None:
    """Append events (made by `run_event`) to the outbox, each in its run's team (the streams and
    webhooks of that team alone deliver it)."""
    rows = [
        {"run_id": e["run_id"], "job_id": e["job_id"], "event": e["event"], "payload": dict(e),
         "created_at": now, "team_of_run": e["run_id"]}
        for e in events
    ]
    if rows:
        # (An event of a run not in the runs table, as some tests write, is the default team's.)
        team = sa.select(runs.c.team_id).where(runs.c.id == sa.bindparam("team_of_run")).scalar_subquery()
        conn.execute(outbox.insert().values(team_id=sa.func.coalesce(team, DEFAULT_TEAM)), rows)


def notify_work_arrived(conn: Connection) -> None:
    """On PostgreSQL, wake claimers in other processes when this transaction commits: called where
    work arrives (submit, re-queue, retry, cancel request, and an attempt's end, which frees a job
    slot). Claims do not notify, so a worker is not woken by its own claims. Publishers and
    long-pollers in other processes wake on the same notifications (the finish of a run they wait
    for among them) and poll briefly otherwise. (NOTIFYs of one transaction on one channel arrive
    once.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


@dataclass(frozen=True)
class Event:
    """One outbox row as every sink sees it: turned into one JSON document."""

    seq: int  # the outbox seq: the event id everywhere (SSE id, webhook delivery id, NATS dedupe)
    run_id: str | None  # None for cluster events
    job_id: str | None
    event: str
    payload: dict[str, Any]
    created_at: float
    team: str = "default"  # whose it is: only that team's streams and webhooks deliver it

    def document(self) -> dict[str, Any]:
        """The payload plus its identity; the same shape on the stream, webhooks and NATS."""
        return {**self.payload, "seq": self.seq, "event": self.event, "run_id": self.run_id,
                "job_id": self.job_id, "created_at": self.created_at}

    def body(self) -> bytes:
        return orjson.dumps(self.document())

    def nats_body(self) -> bytes:
        """What NATS carries: a seed API's own message when the event has one (a refused Sate
        execution, as Sate published it to its dead_letter_queue topic: its consumers read it
        unchanged; the event's identity is in the headers), else the document."""
        message = self.payload.get("seed_message")
        return self.body() if message is None else orjson.dumps(message)

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(seq=row.seq, run_id=row.run_id, job_id=row.job_id, event=row.event,
                   payload=dict(row.payload or {}), created_at=row.created_at, team=row.team_id)


# ---- reading (sinks/feed.py decides up to where it is safe to read) ------------------------------
def head(db: Database) -> int:
    """The highest seq visible now (0 when the outbox is empty)."""
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one())


def seqs_after(db: Database, known: int, limit: int) -> list[int]:
    """The visible seqs above `known`, in order, at most `limit` of them."""
    with db.read() as conn:
        return list(conn.execute(
            sa.select(outbox.c.seq).where(outbox.c.seq > known).order_by(outbox.c.seq).limit(limit)
        ).scalars().all())


def settled_head(db: Database) -> int | None:
    """PostgreSQL: the highest seq once no transaction holds an unpublished one (`LOCK TABLE outbox
    IN SHARE MODE` conflicts with every inserting transaction's lock), waiting at most 500 ms for
    the lock; None when a long writer kept it (try later)."""
    try:
        with db.write() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '500ms'"))
            conn.execute(sa.text(f"LOCK TABLE {outbox.name} IN SHARE MODE"))
            newest = conn.execute(sa.select(sa.func.max(outbox.c.seq))).scalar()
    except OperationalError as exc:  # a long writer holds it: keep the old horizon, try later
        log.info("outbox horizon not settled this time (%s)", exc.orig)
        return None
    return int(newest or 0)


def read_events(db: Database, after: int, upto: int, *, limit: int,
                job_ids: Collection[str] | None = None, run_id: str | None = None,
                team: str | None = None) -> list[Event]:
    """Events with after < seq <= upto, oldest first, at most `limit`, optionally of some jobs or
    of one run, or of one team."""
    query = (sa.select(outbox).where(outbox.c.seq > after, outbox.c.seq <= upto)
             .order_by(outbox.c.seq).limit(limit))
    if team is not None:
        query = query.where(outbox.c.team_id == team)
    if job_ids is not None:
        query = query.where(outbox.c.job_id.in_(list(job_ids)))
    if run_id is not None:
        query = query.where(outbox.c.run_id == run_id)
    with db.read() as conn:
        return [Event.from_row(r) for r in conn.execute(query)]
