"""How store records look in API responses: ISO-8601 times, secrets redacted, links to follow."""

from __future__ import annotations

from typing import Any

import msgspec

from stoker.core import spark_conf
from stoker.core.attempts import Claimed
from stoker.core.secret_refs import Resolved
from stoker.core.secrets import SECRET_OPTION_KEYS, redacted_view
from stoker.core.times import iso
from stoker.store.records.jobs import Job
from stoker.store.records.runs import Attempt, DeadLetter, PendingAttempt, Run
from stoker.tuning import policy as tuning_policy


def attempt_view(attempt: Attempt | PendingAttempt) -> dict[str, Any]:
    view = msgspec.structs.asdict(attempt)
    if isinstance(attempt, Attempt):
        for key in ("started_at", "heartbeat_at", "lease_expires_at", "finished_at"):
            view[key] = iso(view[key])
    return view


def run_view(run: Run) -> dict[str, Any]:
    view = {
        "id": run.id, "job": run.job, "job_id": run.job_id, "state": run.state,
        "batch_id": run.batch_id, "steps": run.steps, "params": run.params,
        "options": redacted_view(run.options, run.has_secrets),
        "idempotency_key": run.idempotency_key, "priority": run.priority,
        "attempt_count": run.attempt_count, "max_attempts": run.max_attempts,
        "queued_at": iso(run.queued_at), "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at), "cancel_requested": run.cancel_requested,
        "result": run.result, "error": run.error, "trigger": run.trigger,
        "scheduled_for": iso(run.scheduled_for), "interval_start": iso(run.interval_start),
        "interval_end": iso(run.interval_end),
        # Spark settings (docs/spark-conf.md): the run's own layers (job, run) as fixed at submit, and
        # what its latest attempt ran with, every layer and where each key came from (None: not yet).
        "conf": spark_conf.shown(run.conf),
        "effective_conf": _effective(run.effective_conf),
        "links": {"self": f"/api/v1/runs/{run.id}", "log": f"/api/v1/runs/{run.id}/log",
                  "cancel": f"/api/v1/runs/{run.id}/cancel"},
    }
    if (run.conf or {}).get("tuning"):  # settings from the tuning loop: why is on the job's tuning
        view["links"]["tuning"] = f"/api/v1/jobs/{run.job}/tuning"
    if run.batch_id and isinstance(run.options.get("container"), dict):  # a Stevedore detail
        view["links"]["stevedore_detail"] = f"/result/{run.batch_id}/detail/{run.id}/"
    if run.attempts is not None:
        view["attempts"] = [attempt_view(a) for a in run.attempts]
    return view


def _effective(conf: dict[str, dict[str, str]] | None) -> dict[str, dict[str, str]] | None:
    if conf is None:
        return None
    return {k: {**v, "value": spark_conf.redact(k, v.get("value", ""))} for k, v in conf.items()}


def conf_rows(run: Run) -> tuple[list[tuple[str, str, str]], bool]:
    """A run's Spark settings as (key, value, layer) rows: what its latest attempt ran with, else
    (False) its own layers as fixed at submit."""
    effective = _effective(run.effective_conf)
    shown = effective if effective is not None else spark_conf.shown(run.conf)
    return [(k, v["value"], v["source"]) for k, v in shown.items()], effective is not None


def job_view(job: Job) -> dict[str, Any]:
    conf = {k: spark_conf.redact(k, v) for k, v in job.conf.items()}
    return {**msgspec.structs.asdict(job), "conf": conf, "tuning": tuning_policy.stored(job.tuning).as_dict(),
            "created_at": iso(job.created_at), "updated_at": iso(job.updated_at),
            "links": {"self": f"/api/v1/jobs/{job.name}", "runs": f"/api/v1/jobs/{job.name}/runs",
                      "tuning": f"/api/v1/jobs/{job.name}/tuning"}}


def dead_letter_view(entry: DeadLetter) -> dict[str, Any]:
    return {**msgspec.structs.asdict(entry), "created_at": iso(entry.created_at),
            "links": {"run": f"/api/v1/runs/{entry.run_id}"}}


def claimed_view(claimed: Claimed, resolved: Resolved) -> dict[str, Any]:
    """An attempt as handed to the worker that holds it: the only answer with secret values. They
    were resolved as the attempt started (`SecretStore.resolve`): its options carry the values of
    its own sealed options and of the secrets it names, its steps their `{{secrets/…}}` filled in,
    and `redact` lists the values the worker hides from the attempt's log, error and result."""
    options = {k: v for k, v in claimed.options.items() if k not in SECRET_OPTION_KEYS}
    options.update(resolved.sections)
    return {
        "attempt_id": claimed.attempt_id, "run_id": claimed.run_id, "number": claimed.number,
        "job": claimed.job_name, "mode": claimed.mode, "lane": claimed.lane, "steps": resolved.steps,
        "params": claimed.params, "options": options, "timeout_seconds": claimed.timeout_seconds,
        "conf": claimed.conf, "team": claimed.team, "host": claimed.host, "host_endpoint": claimed.host_endpoint,
        "earlier_host_endpoint": claimed.earlier_host_endpoint,
        "lease_expires_at": iso(claimed.lease_expires_at), "redact": resolved.values,
        "links": {"heartbeat": f"/api/v1/attempts/{claimed.attempt_id}/heartbeat",
                  "finish": f"/api/v1/attempts/{claimed.attempt_id}/finish"},
    }
