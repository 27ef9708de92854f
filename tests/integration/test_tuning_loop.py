"""The tuning loop over the real store (the rollback on SQLite and PostgreSQL): runs of a job whose Spark apps'
events are the recorded logs of real runs (tests/data/tuning), read by the loop as the collector
stored them. A trial kept and announced (`job.tuned`); a trial that fails rolled back and never
proposed again (`job.tuning_rolled_back`); mode off and advise change no run."""

from __future__ import annotations

import pytest

from conftest import make_services
from stoker.api.views import run_view
from stoker.core.spark_conf import merged
from tuning_days import Days


def test_a_trial_that_beats_the_baseline_is_kept_and_announced(services, tmp_path):
    days = Days(services, tmp_path, "nightly", {"mode": "auto"})
    days.finish("over_partitioned")  # day 1, as written: 400 shuffle partitions, AQE off
    (trial,) = days.store.trials(days.job_id)
    assert trial.status == "trial" and trial.conf["spark.sql.adaptive.enabled"] == "true"
    assert int(trial.conf["spark.sql.shuffle.partitions"]) < 400
    assert "too_many_partitions" in {f["kind"] for f in trial.findings}
    assert set(trial.prediction) >= {"core_ms", "cpu_ms", "duration_ms"}

    day2 = days.submit()  # the next run carries the trial's settings as its tuning layer, and says so
    assert day2.conf["tuning"] == trial.conf
    assert merged(day2.conf)["spark.sql.shuffle.partitions"] == trial.conf["spark.sql.shuffle.partitions"]
    shown = run_view(day2)
    assert shown["conf"]["spark.sql.shuffle.partitions"]["source"] == "tuning"
    assert shown["links"]["tuning"] == "/api/v1/jobs/nightly/tuning"  # why: the trial's evidence there
    services.runs.cancel(day2.id)

    days.finish("skew")  # a run with that layer whose app used far fewer core-seconds
    decided = days.store.trials(days.job_id)[0]
    assert decided.status == "kept", decided.verdict
    assert decided.measured["core_ms"]["trial"] < decided.measured["core_ms"]["baseline"]
    (event,) = days.outbox()
    assert event["event"] == "job.tuned" and event["job"] == "nightly" and event["conf"] == trial.conf
    (state,) = days.store.states(days.job_id)
    assert state.phase in ("tuned", "trial") and state.layer.items() >= trial.conf.items()


@pytest.fixture
def both_backends(tmp_path, backend_url):
    """Services on SQLite, then on a PostgreSQL database of their own."""
    s = make_services(tmp_path / "data", backend_url)
    yield s
    s.close()


def test_a_trial_that_fails_is_rolled_back_and_not_tried_again_for_that_size(both_backends, tmp_path):
    services = both_backends
    days = Days(services, tmp_path, "nightly", {"mode": "auto"})
    days.finish("over_partitioned")
    (trial,) = days.store.trials(days.job_id)
    days.finish("over_partitioned", outcome="failed")  # its first run with the change fails
    rolled = days.store.trials(days.job_id)[0]
    assert rolled.status == "rolled_back" and "failed" in (rolled.verdict or "")
    (event,) = days.outbox()
    assert event["event"] == "job.tuning_rolled_back" and event["trial_id"] == trial.id
    (state,) = days.store.states(days.job_id)
    assert state.phase == "baseline" and state.layer == {} and state.rejected == [trial.conf]

    after = days.submit()  # back to the job as written
    assert "tuning" not in (after.conf or {})
    services.runs.cancel(after.id)
    days.finish("over_partitioned")  # the same findings again: the rolled-back change is not proposed again
    assert [t.id for t in days.store.trials(days.job_id)] == [trial.id]


def test_mode_off_changes_nothing_and_advise_only_recommends(services, tmp_path):
    off = Days(services, tmp_path, "plain", None)
    off.finish("over_partitioned")
    assert off.store.runs(off.job_id) == [] and off.store.trials(off.job_id) == []
    plain = off.submit()
    assert not plain.conf
    services.runs.cancel(plain.id)

    advised = Days(services, tmp_path, "advised", {"mode": "advise"})
    advised.finish("over_partitioned")
    (trial,) = advised.store.trials(advised.job_id)
    assert trial.status == "advised" and trial.conf
    assert not advised.submit().conf  # nothing applied


def test_the_api_shows_policy_trials_with_evidence_and_each_run_s_figures(services, tmp_path):
    from fastapi.testclient import TestClient

    from conftest import ADMIN_TOKEN
    from stoker.app import Background, create_app

    days = Days(services, tmp_path, "nightly", {"mode": "auto"})
    days.finish("over_partitioned")
    days.finish("skew")
    app = create_app(services, background=Background(services, embedded_worker=False, schedules=False,
                                                     cluster_duties=False))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        shown = client.get("/api/v1/jobs/nightly/tuning").json()
        assert client.get("/api/v1/jobs/nope/tuning").status_code == 404
    assert shown["policy"]["mode"] == "auto"
    first = shown["trials"][0]
    assert first["status"] == "kept" and first["before"]["spark.sql.shuffle.partitions"] == "400"
    assert first["reasons"]["spark.sql.shuffle.partitions"].startswith("too_many_partitions")
    assert {f["kind"] for f in first["findings"]} >= {"too_many_partitions"}
    assert first["prediction"]["core_ms"]["low"] <= first["prediction"]["core_ms"]["high"]
    assert first["measured"]["core_ms"]["trial"] < first["measured"]["core_ms"]["baseline"]
    baseline_run, trial_run = shown["runs"]
    assert baseline_run["trial"] is None and trial_run["trial"] == 1
    assert trial_run["core_s"] < baseline_run["core_s"] and baseline_run["duration_s"] > 0
    (bucket,) = shown["buckets"]
    assert bucket["baseline"]["runs"] == 1 and bucket["baseline"]["core_ms"] == int(baseline_run["core_s"] * 1000)
    assert shown["current"].items() >= first["conf"].items()
