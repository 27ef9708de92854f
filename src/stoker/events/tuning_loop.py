"""The tuning loop (docs/tuning.md): reads each finished run of a tuned job once (its Spark app's
collected events: profile and findings), judges the trial it belonged to, and decides the layer the
job's next runs get. The rules are tuning/ (pure); this module only reads and writes.

Per job and input-size bucket: `baseline` (runs as written) → a recommendation becomes a `trial`
(its settings the tuning layer of the next runs) → the next run judges it: `kept` (phase `tuned`,
a second trial may follow) or `rolled_back` (the layer goes back; the change is never proposed
again for that bucket). At most MAX_EXPLORATORY trials per bucket."""

from __future__ import annotations

import logging
import time
from typing import Any

from stoker.core import spark_conf
from stoker.core.periodic import Periodic
from stoker.events.store import EventStore
from stoker.store.tuning import FinishedRun, ProfiledRun, State, Trial, TuningStore
from stoker.tuning import policy as tuning_policy
from stoker.tuning.diagnosis import Finding, diagnose
from stoker.tuning.profile import bucket, fold, profile
from stoker.tuning.recommend import recommend
from stoker.tuning.verify import OBJECTIVE_FIGURE, judge, noise

log = logging.getLogger(__name__)

MAX_EXPLORATORY = 2  # trials per bucket: the budget of exploratory runs
EVENTS_GRACE_SECONDS = 120.0  # a finished run whose app has not ended by then is read as it is


class TuningLoop:
    def __init__(self, store: TuningStore, events: EventStore) -> None:
        self.store = store
        self.events = events

    def round(self) -> int:
        """Advance every tuned job; returns how many runs were read."""
        done = 0
        for job_id, name, mode, raw in self.store.tuned_jobs():
            policy = tuning_policy.stored(raw)
            if policy.on:
                done += self.refresh(job_id, name, mode, policy)
        return done

    def refresh(self, job_id: str, name: str, mode: str, policy: tuning_policy.TuningPolicy) -> int:
        """Read the job's finished runs not read yet, oldest first; stop at one whose events are
        still arriving (its verdict must come before the next run's)."""
        done = 0
        for run in self.store.unprofiled(job_id):
            events = self._events_of(run)
            if events is None:
                return done
            self._read(job_id, mode, policy, run, events)
            done += 1
        return done

    def _events_of(self, run: FinishedRun) -> list[bytes] | None:
        """The run's app's events; [] when it has none (or they never finished arriving); None to wait."""
        waited = time.time() - run.finished_at
        apps = self.events.apps_of([run.spark_app_id]) if run.spark_app_id else []
        if not apps:
            return [] if waited > EVENTS_GRACE_SECONDS or not run.spark_app_id else None
        app = self.events.app(apps[-1].job_name, apps[-1].run_id)
        if app.end_ms is None and app.ended_by is None and waited <= EVENTS_GRACE_SECONDS:
            return None
        return list(self.events.stream_events(app.id))

    def _read(self, job_id: str, mode: str, policy: tuning_policy.TuningPolicy, run: FinishedRun,
              events: list[bytes]) -> None:
        agg = fold(events)
        prof = profile(agg)
        succeeded = run.state == "SUCCEEDED"
        trials = self.store.trials(job_id)
        trial = _trial_of(run, trials)
        if prof is None:  # no events to learn from (a warm session's shared app, or none arrived)
            self.store.record_run(job_id, ProfiledRun(run.run_id, 0, trial.id if trial else None, succeeded,
                                                      {}, [], run.finished_at))
            return
        findings = diagnose(agg, prof)
        states = self.store.states(job_id)
        where = bucket(prof.input_bytes, [s.bucket for s in states])
        figures = {**prof.as_dict(), "succeeded": succeeded}
        profiled = ProfiledRun(run.run_id, where, trial.id if trial else None, succeeded, figures,
                               [f.as_dict() for f in findings], run.finished_at)
        if not self.store.record_run(job_id, profiled):
            return
        state = next((s for s in states if s.bucket == where), None) or State(
            job_id, where, "baseline", None, {})
        history = [r for r in self.store.runs(job_id) if r.bucket == where and r.profile]
        baseline = [r.profile for r in history if r.trial_id is None]
        state = self._judge(policy, state, trials, history, baseline, profiled)
        if (succeeded and state.phase in ("baseline", "tuned") and state.exploratory_runs < MAX_EXPLORATORY
                and baseline):
            state = self._propose(job_id, mode, policy, state, run, agg, prof, findings, history, baseline, trials)
        self.store.save_state(state)

    def _judge(self, policy: tuning_policy.TuningPolicy, state: State, trials: list[Trial],
               history: list[ProfiledRun], baseline: list[dict[str, Any]], run: ProfiledRun) -> State:
        """The verdict on the trial this run belonged to (a trial is judged on its first run; a kept
        one is judged again by each later run, and rolled back if one fails or is too slow)."""
        if state.trial_id is None or run.trial_id != state.trial_id:
            return state
        trial = next(t for t in trials if t.id == state.trial_id)
        kept = [t for t in trials if t.status == "kept" and t.bucket == state.bucket and t.id != trial.id]
        reference_id = kept[-1].id if kept else None
        reference = [r.profile for r in history if r.trial_id == reference_id] if reference_id else baseline
        if trial.status == "trial":
            verdict = judge(policy, reference, [run.profile], original=baseline)
        else:  # a kept trial: only failures and slowdowns undo it now
            verdict = judge(policy, baseline, [run.profile], original=baseline)
            if verdict.cause not in ("failed", "slower"):
                return state
        self.store.decide(trial, keep=verdict.keep, measured=verdict.measured, verdict=verdict.reason)
        if verdict.keep:
            return State(state.job_id, state.bucket, "tuned", trial.id, state.layer, state.rejected,
                         state.exploratory_runs)
        back = kept[-1].prediction.get("layer", {}) if kept else {}
        return State(state.job_id, state.bucket, "tuned" if kept else "baseline", reference_id, dict(back),
                     [*state.rejected, trial.conf], state.exploratory_runs)

    def _propose(self, job_id: str, mode: str, policy: tuning_policy.TuningPolicy, state: State, run: FinishedRun,
                 agg: Any, prof: Any, findings: list[Finding], history: list[ProfiledRun],
                 baseline: list[dict[str, Any]], trials: list[Trial]) -> State:
        own = spark_conf.merged({k: v for k, v in run.conf.items() if k != "tuning"})
        guardrails = [Finding(f["kind"], f["summary"], f["evidence"], f["stages"], f["guardrail"])
                      for r in history for f in r.findings if f.get("guardrail")]
        figure = OBJECTIVE_FIGURE[policy.objective]
        rec = recommend(agg, prof, findings, policy, tunable=tuning_policy.tunable_keys(policy, own),
                        runtime_only=mode == "session", history=guardrails, rejected=state.rejected,
                        noise=noise([b[figure] for b in baseline if b.get("succeeded")]), workers=run.workers)
        if rec is None:
            return state
        evidence = [f.as_dict() for f in findings if f.kind in rec.findings or f.guardrail]
        layer = {**state.layer, **rec.conf}
        prediction = {**rec.prediction, "layer": layer, "reasons": rec.reasons}
        if policy.mode == "advise":
            last = next((t for t in reversed(trials) if t.status == "advised" and t.bucket == state.bucket), None)
            if last is None or last.conf != rec.conf:
                self.store.add_trial(job_id, state.bucket, "advised", rec.conf, rec.before, evidence, prediction)
            return state
        trial = self.store.add_trial(job_id, state.bucket, "trial", rec.conf, rec.before, evidence, prediction)
        log.info("tuning job %s (bucket %d): trial %d sets %s", job_id, state.bucket, trial.number, rec.conf)
        return State(job_id, state.bucket, "trial", trial.id, layer, state.rejected, state.exploratory_runs + 1)


def _trial_of(run: FinishedRun, trials: list[Trial]) -> Trial | None:
    """The trial whose layer the run ran with: the latest one with exactly that layer."""
    layer = run.conf.get("tuning") or {}
    if not layer:
        return None
    found = [t for t in trials if t.status != "advised" and t.prediction.get("layer") == layer]
    return found[-1] if found else None


class TuningDuty(Periodic):
    def __init__(self, loop: TuningLoop, interval_seconds: float = 3.0) -> None:
        super().__init__("tuning", lambda: interval_seconds, loop.round)
