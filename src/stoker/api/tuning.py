"""A job's tuning (docs/tuning.md): its policy, where it stands per input-size bucket (the layer its
next runs get, the baseline's figures and noise), every trial with its evidence, prediction,
measured figures and verdict, and the figures of each profiled run (what the UI charts)."""

from __future__ import annotations

import statistics
from typing import Any

from fastapi import APIRouter

from stoker.api.auth import Reader
from stoker.api.deps import JobStoreDep, TuningStoreDep
from stoker.core.times import iso
from stoker.store.records.jobs import Job
from stoker.store.tuning import ProfiledRun, Trial, TuningStore
from stoker.tuning import policy as tuning_policy
from stoker.tuning.verify import noise

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

FIGURES = ("core_ms", "cpu_ms", "duration_ms")


@router.get("/{job}/tuning", summary="A job's tuning: its policy, the configuration its next runs get and the "
            "baseline's, every trial (settings changed, findings with their evidence, prediction, measured "
            "figures, verdict) and each profiled run's core-seconds, CPU-seconds and duration",
)
def get_tuning(job: str, jobs: JobStoreDep, store: TuningStoreDep, principal: Reader) -> dict[str, Any]:
    return tuning_view(jobs.get(job, principal.sees), store)  # another team's job: 404


def tuning_view(job: Job, store: TuningStore) -> dict[str, Any]:
    policy = tuning_policy.stored(job.tuning)
    runs = store.runs(job.id)
    trials = store.trials(job.id)
    numbers = {t.id: t.number for t in trials}
    states = store.states(job.id)
    latest = runs[-1].bucket if runs else None
    notes = []
    if policy.on and job.mode == "session":
        notes.append("runs in a warm session share one Spark app: tuning changes only runtime SQL settings, "
                     "and measures each run only when it has an app of its own (mode submit)")
    return {
        "job": job.name, "policy": policy.as_dict(), "notes": notes,
        "current": next((s.layer for s in states if s.bucket == latest), {}) if policy.mode == "auto" else {},
        "buckets": [{"bucket": s.bucket, "phase": s.phase, "layer": s.layer,
                     "trial": numbers.get(s.trial_id) if s.trial_id else None,
                     "rejected": s.rejected, "exploratory_runs": s.exploratory_runs,
                     "baseline": _baseline([r for r in runs if r.bucket == s.bucket and r.trial_id is None])}
                    for s in states],
        "trials": [_trial_view(t) for t in trials],
        "runs": [_run_view(r, numbers) for r in runs],
        "links": {"job": f"/api/v1/jobs/{job.name}", "runs": f"/api/v1/jobs/{job.name}/runs",
                  "page": f"/ui/jobs/{job.name}/tuning"},
    }


def _baseline(runs: list[ProfiledRun]) -> dict[str, Any]:
    good = [r.profile for r in runs if r.succeeded and r.profile]
    out: dict[str, Any] = {"runs": len(runs)}
    for name in FIGURES:
        values = [p[name] for p in good]
        out[name] = int(statistics.median(values)) if values else None
    out["noise"] = round(noise([p["core_ms"] for p in good]), 3) if good else None
    return out


def _trial_view(t: Trial) -> dict[str, Any]:
    prediction = {k: v for k, v in t.prediction.items() if k not in ("layer", "reasons")}
    return {"number": t.number, "id": t.id, "bucket": t.bucket, "status": t.status, "conf": t.conf,
            "before": t.before, "reasons": t.prediction.get("reasons", {}), "layer": t.prediction.get("layer", {}),
            "findings": t.findings, "prediction": prediction, "measured": t.measured, "verdict": t.verdict,
            "created_at": iso(t.created_at), "decided_at": iso(t.decided_at)}


def _run_view(r: ProfiledRun, numbers: dict[str, int]) -> dict[str, Any]:
    p = r.profile
    return {"run_id": r.run_id, "bucket": r.bucket, "trial": numbers.get(r.trial_id) if r.trial_id else None,
            "succeeded": r.succeeded, "finished_at": iso(r.finished_at),
            "core_s": round(p["core_ms"] / 1000, 3) if p else None,
            "cpu_s": round(p["cpu_ms"] / 1000, 3) if p else None,
            "duration_s": round(p["duration_ms"] / 1000, 3) if p else None,
            "input_bytes": p.get("input_bytes") if p else None,
            "findings": [f["kind"] for f in r.findings],
            "links": {"run": f"/api/v1/runs/{r.run_id}"}}
