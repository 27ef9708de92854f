"""The tuning loop's rows (docs/tuning.md): profiled runs, trials, per-bucket state, and the
outbox events `job.tuned` / `job.tuning_rolled_back`, each written in the transaction that decides."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stoker.core.states import RunState
from stoker.store.clusters import worker_sizes
from stoker.store.db import Database, insert_unless_exists
from stoker.store.tables import attempts, jobs, outbox, runs, tuning_runs, tuning_state, tuning_trials

TUNING_EVENTS = ("job.tuned", "job.tuning_rolled_back")
FINISHED = (RunState.SUCCEEDED.value, RunState.FAILED.value)


@dataclass(frozen=True)
class FinishedRun:
    """A finished run of a tuned job that the loop has not read yet."""

    run_id: str
    state: str
    finished_at: float
    conf: dict[str, dict[str, str]]  # its own layers (job, run, tuning), fixed at submit
    effective_conf: dict[str, dict[str, str]]  # what its latest attempt ran with (key -> value, source)
    spark_app_id: str | None  # its latest attempt's Spark application
    # (cores, memory MiB) of each worker of the cluster it ran on: what a proposed executor must fit
    workers: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ProfiledRun:
    run_id: str
    bucket: int
    trial_id: str | None
    succeeded: bool
    profile: dict[str, Any]
    findings: list[dict[str, Any]]
    finished_at: float


@dataclass(frozen=True)
class Trial:
    id: str
    job_id: str
    bucket: int
    number: int
    status: str  # advised | trial | kept | rolled_back
    conf: dict[str, str]
    before: dict[str, Any]
    findings: list[dict[str, Any]]
    prediction: dict[str, Any]
    measured: dict[str, Any] | None
    verdict: str | None
    created_at: float
    decided_at: float | None


@dataclass(frozen=True)
class State:
    job_id: str
    bucket: int
    phase: str  # baseline | trial | tuned
    trial_id: str | None
    layer: dict[str, str]
    rejected: list[dict[str, str]] = field(default_factory=list)
    exploratory_runs: int = 0


def _trial(row: Any) -> Trial:
    return Trial(row.id, row.job_id, row.bucket, row.number, row.status, row.conf, row.before, row.findings,
                 row.prediction, row.measured, row.verdict, row.created_at, row.decided_at)


def _state(row: Any) -> State:
    return State(row.job_id, row.bucket, row.phase, row.trial_id, row.layer or {}, row.rejected or [],
                 row.exploratory_runs)


class TuningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ------------------------------------------------------------------------------------
    def tuned_jobs(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(id, name, mode, policy) of every job with a tuning policy (off ones included: the caller
        reads the policy)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(jobs.c.id, jobs.c.name, jobs.c.mode, jobs.c.tuning)
                                .where(jobs.c.tuning.is_not(None)).order_by(jobs.c.name)).all()
        return [(r.id, r.name, r.mode, r.tuning) for r in rows if r.tuning]

    def unprofiled(self, job_id: str, limit: int = 20) -> list[FinishedRun]:
        """Finished runs of the job not profiled yet, oldest first, with their latest attempt's app."""
        latest = (sa.select(attempts.c.spark_app_id).where(attempts.c.run_id == runs.c.id)
                  .order_by(attempts.c.number.desc()).limit(1).scalar_subquery())
        query = (sa.select(runs.c.id, runs.c.state, runs.c.finished_at, runs.c.conf, runs.c.effective_conf,
                           runs.c.options, latest.label("spark_app_id"))
                 .where(runs.c.job_id == job_id, runs.c.state.in_(FINISHED),
                        ~sa.exists().where(tuning_runs.c.run_id == runs.c.id))
                 .order_by(runs.c.finished_at).limit(limit))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        clusters = [(r.options or {}).get("cluster") for r in rows]
        sizes = {c: tuple(worker_sizes(self.db, c)) for c in set(clusters) if isinstance(c, str)}
        return [FinishedRun(r.id, r.state, r.finished_at or 0.0, r.conf or {}, r.effective_conf or {},
                            r.spark_app_id, sizes.get(c, ()) if isinstance(c, str) else ())
                for r, c in zip(rows, clusters, strict=True)]

    def runs(self, job_id: str, limit: int = 200) -> list[ProfiledRun]:
        """The job's profiled runs, oldest first (the newest `limit`)."""
        t = tuning_runs.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(tuning_runs).where(t.job_id == job_id)
                                .order_by(t.finished_at.desc()).limit(limit)).all()
        return [ProfiledRun(r.run_id, r.bucket, r.trial_id, r.succeeded, r.profile, r.findings, r.finished_at)
                for r in reversed(rows)]

    def trials(self, job_id: str) -> list[Trial]:
        with self.db.read() as conn:
            return [_trial(r) for r in conn.execute(sa.select(tuning_trials).where(tuning_trials.c.job_id == job_id)
                                                     .order_by(tuning_trials.c.number))]

    def states(self, job_id: str) -> list[State]:
        with self.db.read() as conn:
            return [_state(r) for r in conn.execute(sa.select(tuning_state).where(tuning_state.c.job_id == job_id)
                                                     .order_by(tuning_state.c.bucket))]

    def layer_for_next_run(self, job_id: str) -> tuple[dict[str, str], str | None]:
        """The tuning layer a run submitted now gets, and its trial: the state of the bucket of the
        job's latest profiled run (the next day is most like the last one); none before any."""
        t = tuning_runs.c
        with self.db.read() as conn:
            latest = conn.execute(sa.select(t.bucket).where(t.job_id == job_id)
                                  .order_by(t.finished_at.desc()).limit(1)).first()
            if latest is None:
                return {}, None
            row = conn.execute(sa.select(tuning_state).where(tuning_state.c.job_id == job_id,
                                                             tuning_state.c.bucket == latest.bucket)).first()
        if row is None:
            return {}, None
        return dict(row.layer or {}), row.trial_id

    # -- writing ------------------------------------------------------------------------------------
    def record_run(self, job_id: str, run: ProfiledRun) -> bool:
        """Record a profiled run; False when it was recorded already (another replica's loop read it
        at the same moment: that one goes on to judge and propose, this one stops)."""
        values = {"run_id": run.run_id, "job_id": job_id, "bucket": run.bucket, "trial_id": run.trial_id,
                  "succeeded": run.succeeded, "profile": run.profile, "findings": run.findings,
                  "finished_at": run.finished_at, "analysed_at": time.time()}
        with self.db.write() as conn:
            inserted = conn.execute(insert_unless_exists(conn, tuning_runs, values, ["run_id"])
                                    .returning(tuning_runs.c.run_id)).first()
        return inserted is not None

    def save_state(self, state: State) -> None:
        values = {"phase": state.phase, "trial_id": state.trial_id, "layer": state.layer,
                  "rejected": state.rejected, "exploratory_runs": state.exploratory_runs, "updated_at": time.time()}
        key = (tuning_state.c.job_id == state.job_id) & (tuning_state.c.bucket == state.bucket)
        with self.db.write() as conn:
            if conn.execute(sa.update(tuning_state).where(key).values(**values)).rowcount == 0:
                conn.execute(tuning_state.insert().values(job_id=state.job_id, bucket=state.bucket, **values))

    def add_trial(self, job_id: str, bucket: int, status: str, conf: Mapping[str, str], before: Mapping[str, Any],
                  findings: list[dict[str, Any]], prediction: dict[str, Any]) -> Trial:
        now = time.time()
        with self.db.write() as conn:
            number = (conn.execute(sa.select(sa.func.max(tuning_trials.c.number))
                                   .where(tuning_trials.c.job_id == job_id)).scalar() or 0) + 1
            values = {"id": str(uuid.uuid4()), "job_id": job_id, "bucket": bucket, "number": number,
                      "status": status, "conf": dict(conf), "before": dict(before), "findings": findings,
                      "prediction": prediction, "created_at": now}
            conn.execute(tuning_trials.insert().values(**values))
            row = conn.execute(sa.select(tuning_trials).where(tuning_trials.c.id == values["id"])).one()
        return _trial(row)

    def decide(self, trial: Trial, *, keep: bool, measured: dict[str, Any], verdict: str) -> None:
        """A trial kept or rolled back, and its outbox event, in one transaction."""
        now = time.time()
        event = "job.tuned" if keep else "job.tuning_rolled_back"
        with self.db.write() as conn:
            conn.execute(sa.update(tuning_trials).where(tuning_trials.c.id == trial.id).values(
                status="kept" if keep else "rolled_back", measured=measured, verdict=verdict, decided_at=now))
            name = conn.execute(sa.select(jobs.c.name).where(jobs.c.id == trial.job_id)).scalar()
            payload = {"job_id": trial.job_id, "job": name, "event": event, "trial": trial.number,
                       "trial_id": trial.id, "bucket": trial.bucket, "conf": trial.conf, "before": trial.before,
                       "verdict": verdict, "measured": measured}
            conn.execute(outbox.insert().values(run_id=None, job_id=trial.job_id, event=event, payload=payload,
                                                created_at=now))
