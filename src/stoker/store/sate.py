"""Sate's records (seed-apis.md §5) and their transactions: a processing request becomes a run of
the job `sate` at its first execution, and each execution is one attempt of that run, named before
it starts. The gateway rules are the run's retry rules (RunStore.retry_in), held in the database:
the request row is locked while an execution is created, the run is re-queued by one conditional
UPDATE, and a refusal because the failures are used up is written to the dead-letter list and the
outbox in the same transaction, carrying the last execution as Sate published it.

The objects here are Sate's own records, in the shape Sate stored and published them (its
processing_requests service kept them in MongoDB and sent executions to Kafka as these documents).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, NotFound
from stoker.core.secrets import redacted_view
from stoker.core.states import attempt_id_for
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.runs import NewRun, RunStore
from stoker.store.tables import attempts, runs, sate_executions, sate_requests

SATE_JOB = "sate"
# No automatic retries (the client creates each execution), at most 3 failures, requests in parallel.
SATE_POLICY: dict[str, Any] = {
    "auto_retry": False, "max_attempts": 3, "max_concurrent_runs": 16, "backoff_seconds": 0,
    "description": "Sate processing requests (executions are created by the client)"}
# Sate's own result ids are its own; Stoker derives one per execution, stable across reads.
_RESULT_NAMESPACE = uuid.UUID("5a7e0000-0000-4000-8000-000000000000")


def sate_time(ts: float | None) -> str | None:
    """Sate's timestamps: '2020-11-07 16:31:58.103057' (UTC)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def request_object(request_id: str, body: dict[str, Any], has_secrets: bool) -> dict[str, Any]:
    """A processing request as Sate answers it: the body plus its id, secrets redacted."""
    payload = body.get("payload")
    if has_secrets and isinstance(payload, dict) and isinstance(payload.get("options"), dict):
        payload = {**payload, "options": redacted_view(payload["options"], True)}
    return {**body, "payload": payload, "id": request_id}


def execution_object(execution_id: str, body: dict[str, Any], created_at: float,
                     request: dict[str, Any]) -> dict[str, Any]:
    """An execution as Sate created, stored and published it: the body plus its id, creation date
    and the processing request it executes."""
    return {**body, "id": execution_id, "processing_request": request,
            "creation_date": sate_time(created_at)}


@dataclass(frozen=True)
class SateRequest:
    id: str
    body: dict[str, Any]
    secrets: str | None
    run_id: str | None
    team: str = DEFAULT_TEAM

    def view(self) -> dict[str, Any]:
        return request_object(self.id, self.body, self.secrets is not None)


class SateStore:
    """Sate's requests and executions as one team sees them (`team`; None: every team's, an
    admin's): another team's request or execution is not found; a request made is the team's."""

    def __init__(self, runs: RunStore, *, clock: Callable[[], float] = time.time, team: str | None = None) -> None:
        self.runs = runs
        self.db = runs.db
        self.clock = clock
        self.team = team

    def _mine(self, query: Any) -> Any:
        return query if self.team is None else query.where(sate_requests.c.team_id == self.team)

    def create_request(self, body: dict[str, Any], secrets: str | None) -> SateRequest:
        request = SateRequest(str(uuid.uuid4()), body, secrets, None, self.team or DEFAULT_TEAM)
        extra = {k: v for k, v in body.items() if k != "payload"} or None
        with self.db.write() as conn:
            conn.execute(sate_requests.insert().values(id=request.id, payload=body["payload"], extra=extra,
                                                       secrets=secrets, created_at=self.clock(),
                                                       team_id=self.team or DEFAULT_TEAM))
        return request

    def request(self, request_id: str) -> SateRequest:
        with self.db.read() as conn:
            row = conn.execute(self._mine(sa.select(sate_requests).where(sate_requests.c.id == request_id))).first()
        if row is None:
            raise NotFound(f"processing request {request_id} does not exist")
        return SateRequest(row.id, _body(row.payload, row.extra), row.secrets, row.run_id, row.team_id)

    def refusal(self, request_id: str) -> Conflict | None:
        """The gateway rules, before anything else of an execution is looked at: the refusal a new
        execution meets now, or None. A refusal because the failures are used up is recorded (dead
        letter and outbox) when this returns, so every refused execution is published once."""
        with self.db.write() as conn:
            row = self._lock(conn, request_id)
            if row.run_id is None:
                return None
            return self.runs.retry_refusal_in(conn, row.run_id, dead_letter=self._dead_letter(conn, row))

    def execute(self, request_id: str, body: dict[str, Any], new_run: NewRun) -> dict[str, Any]:
        """Create an execution: the request's run is submitted (first execution) or re-queued, all in
        one transaction with the request row locked; of concurrent executions exactly one passes.
        Raises the refusal (409) after committing what it recorded."""
        now = self.clock()
        with self.db.write() as conn:
            row = self._lock(conn, request_id)
            new_run = replace(new_run, secrets=row.secrets, idempotency_key=request_id, team=row.team_id)
            refusal: Conflict | None = None
            if row.run_id is None:
                job_row = self.runs.jobs.ensure(conn, SATE_JOB, team=row.team_id, **SATE_POLICY)
                [submitted] = self.runs.submit_in(conn, job_row, [new_run])
                run_id, number = submitted.run_id, 1
                conn.execute(sate_requests.update().where(sate_requests.c.id == request_id)
                             .values(run_id=run_id))
            else:
                run_id = row.run_id
                refusal = self.runs.retry_in(conn, run_id, steps=new_run.steps, lane=new_run.lane,
                                             dead_letter=self._dead_letter(conn, row))
                number = conn.execute(sa.select(runs.c.attempt_count)
                                      .where(runs.c.id == run_id)).scalar_one() + 1
            if refusal is None:
                execution_id = attempt_id_for(run_id, number)
                conn.execute(sate_executions.insert().values(
                    id=execution_id, request_id=request_id, number=number, body=body, created_at=now))
        if refusal is not None:
            raise refusal
        self.runs.wake_local()
        request = SateRequest(row.id, _body(row.payload, row.extra), row.secrets, run_id)
        return execution_object(execution_id, body, now, request.view())

    def results(self, *, request_id: str | None = None,
                execution_id: str | None = None) -> list[dict[str, Any]]:
        """Results of finished executions, oldest first, each as Sate's results API answered it."""
        query = (sa.select(sate_executions, sate_requests.c.payload, sate_requests.c.extra,
                           sate_requests.c.secrets, attempts.c.outcome, attempts.c.started_at,
                           attempts.c.finished_at, attempts.c.result)
                 .join(sate_requests, sate_requests.c.id == sate_executions.c.request_id)
                 .join(attempts, attempts.c.id == sate_executions.c.id)
                 .where(attempts.c.outcome.is_not(None)))
        if request_id is not None:
            query = query.where(sate_executions.c.request_id == request_id)
        if execution_id is not None:
            query = query.where(sate_executions.c.id == execution_id)
        with self.db.read() as conn:
            rows = conn.execute(self._mine(query).order_by(sate_executions.c.number)).all()
        return [{
            "id": str(uuid.uuid5(_RESULT_NAMESPACE, r.id)), "is_success": r.outcome == "succeeded",
            "processing_start_time": sate_time(r.started_at),
            "processing_end_time": sate_time(r.finished_at),
            "processing_total_seconds": round(r.finished_at - r.started_at, 6),
            "outputs": _outputs(r.result) if r.outcome == "succeeded" else {},
            "execution": execution_object(
                r.id, r.body, r.created_at,
                request_object(r.request_id, _body(r.payload, r.extra), r.secrets is not None)),
        } for r in rows]

    def execution_exists(self, execution_id: str) -> bool:
        query = (sa.select(sate_executions.c.id).join(sate_requests, sate_requests.c.id == sate_executions.c.request_id)
                 .where(sate_executions.c.id == execution_id))
        with self.db.read() as conn:
            return conn.execute(self._mine(query)).first() is not None

    def _lock(self, conn: Connection, request_id: str) -> Any:
        row = conn.execute(self._mine(sa.select(sate_requests).where(sate_requests.c.id == request_id))
                           .with_for_update()).first()
        if row is None:
            raise NotFound(f"processing request {request_id} does not exist")
        return row

    @staticmethod
    def _dead_letter(conn: Connection, request: Any) -> dict[str, Any]:
        """What a refused execution publishes: as Sate's gateway did, the request's last execution."""
        last = conn.execute(sa.select(sate_executions).where(sate_executions.c.request_id == request.id)
                            .order_by(sate_executions.c.number.desc()).limit(1)).first()
        message = None if last is None else execution_object(
            last.id, last.body, last.created_at,
            request_object(request.id, _body(request.payload, request.extra), request.secrets is not None))
        return {"request_id": request.id, "seed_message": message}


def _body(payload: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {"payload": payload, **(extra or {})}


def _outputs(result: Any) -> Any:
    if isinstance(result, dict) and result.get("type") == "outputs":
        return result["outputs"]
    return result or {}
