"""The tuning loop's heuristics on event logs of real Spark runs (tests/data/tuning, recorded by
record_logs.py there: one small local app per pathology), and its replay, recommendation and
verdict rules (docs/tuning.md)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from stoker.events.analysis import Aggregate
from stoker.tuning.diagnosis import MB, Finding, diagnose, size_bytes
from stoker.tuning.policy import TUNABLE, TuningPolicy, tunable_keys
from stoker.tuning.profile import Profile, bucket, driver_only_ms, fold, profile
from stoker.tuning.recommend import recommend
from stoker.tuning.replay import replay, stage_time
from stoker.tuning.verify import judge, noise

DATA = Path(__file__).resolve().parents[1] / "data" / "tuning"
AUTO = TuningPolicy(mode="auto")
ALL = frozenset(TUNABLE)


def load(name: str) -> tuple[Aggregate, Profile, dict[str, Finding]]:
    agg = fold([gzip.decompress((DATA / f"{name}.jsonl.gz").read_bytes())])
    prof = profile(agg)
    assert prof is not None
    return agg, prof, {f.kind: f for f in diagnose(agg, prof)}


def test_a_profile_measures_allocated_core_time_cpu_and_the_driver_only_time():
    agg, prof, _ = load("idle")
    assert prof.cores == 2
    assert agg.app_start is not None and agg.app_end is not None
    assert prof.duration_ms == agg.app_end - agg.app_start
    # the one executor (the local driver, 2 cores) lived from its start to the app's end
    added = agg.executors["driver"][1]
    assert prof.core_ms == pytest.approx(2 * (agg.app_end - added), rel=0.01)
    assert prof.driver_only_ms == driver_only_ms(agg.tasks, agg.app_start, agg.app_end) > 0.5 * prof.duration_ms
    assert 0 < prof.cpu_ms <= prof.task_ms
    assert prof.peak_heap_bytes > 10 * MB  # executor metrics were recorded (logStageExecutorMetrics)


def test_idle_cores_and_driver_time_are_told_apart():
    _agg, prof, found = load("idle")
    idle = found["idle_cores"].evidence
    assert idle["idle_share"] > 0.9 and idle["allocated_core_s"] == round(prof.core_ms / 1000, 2)
    assert found["driver_bound"].evidence["driver_only_s"] == round(prof.driver_only_ms / 1000, 2)


def test_too_many_partitions_names_the_stage_and_its_bytes_per_task():
    _agg, _prof, found = load("over_partitioned")
    many = found["too_many_partitions"]
    (stage,) = many.stages
    assert many.evidence["tasks"][stage] == 400  # spark.sql.shuffle.partitions=400, AQE off
    assert many.evidence["median_task_bytes"][stage] < 1 * MB
    assert "skew" not in found  # the scan's slow first task is the JIT warming up, not skew


def test_skew_needs_a_slow_task_that_also_read_far_more_bytes():
    _agg, _prof, found = load("skew")
    skew = found["skew"]
    (stage,) = skew.stages
    assert skew.evidence["max_over_median_ms"][stage] >= 3
    assert skew.evidence["max_over_median_bytes"][stage] >= 3


def test_broadcast_candidates_are_the_small_side_of_a_sort_merge_join():
    agg, _prof, found = load("broadcast")
    candidate = found["broadcast"]
    assert any("SortMergeJoin" in plan for plan in agg.plans.values())
    (stage,) = candidate.stages
    assert candidate.evidence["shuffle_write_bytes"][stage] < 1 * MB
    assert candidate.evidence["broadcast_threshold_bytes"] == -1  # as the job wrote it


def test_spill_is_measured_per_task_memory_and_disk():
    _agg, prof, found = load("spill")
    spill = found["spill"]
    (stage,) = spill.stages
    assert spill.evidence["memory_spilled_per_task"][stage] > 0
    assert spill.evidence["disk_spilled_per_task"][stage] > 0
    assert prof.spilled_bytes > 10 * MB


def test_an_out_of_memory_failure_is_a_guardrail_and_gc_share_is_measured():
    _agg, prof, found = load("oom_jvm")
    assert prof.oom and found["failure"].guardrail
    assert "OutOfMemoryError" in found["failure"].evidence["detail"]
    assert found["gc"].evidence["gc_s"] / found["gc"].evidence["task_s"] >= 0.10
    _agg, prof, found = load("oom")  # a Python worker's MemoryError counts the same
    assert prof.oom and found["failure"].guardrail and "MemoryError" in found["failure"].evidence["detail"]


def test_stage_replay_packs_tasks_on_the_core_that_frees_first():
    assert stage_time([4, 4, 4, 4], 4) == 4
    assert stage_time([4, 4, 4, 4], 2) == 8
    assert stage_time([10, 1, 1, 1], 2) == 10
    assert stage_time([], 3) == 0


def test_replay_predicts_the_measured_time_at_the_run_s_cores_and_longer_on_fewer():
    agg, prof, _ = load("broadcast")
    timeline = replay(agg, prof.cores, [1])
    assert timeline is not None
    assert timeline.predictions[prof.cores] == prof.duration_ms
    assert prof.duration_ms < timeline.predictions[1] < 2 * prof.duration_ms  # the driver's time stays


def _standalone(agg: Aggregate) -> Aggregate:
    """The same run as if on a Spark standalone cluster (where the executor count may change)."""
    agg.properties["spark.master"] = "spark://10.0.0.1:7077"
    agg.properties["spark.executor.cores"] = "1"
    return agg


def test_idle_cores_on_a_cluster_recommend_fewer_cores_with_a_prediction():
    agg, prof, found = load("idle")
    rec = recommend(_standalone(agg), prof, list(found.values()), AUTO, tunable=ALL, runtime_only=False)
    assert rec is not None and rec.conf["spark.cores.max"] == "1"
    assert "idle_cores" in rec.findings and "replaying" in rec.reasons["spark.cores.max"]
    core = rec.prediction["core_ms"]
    assert core["low"] <= core["expected"] < prof.core_ms  # half the cores, nearly the same time
    assert rec.prediction["duration_ms"]["expected"] <= prof.duration_ms * 1.05


def test_an_oom_in_the_history_forbids_shrinking():
    agg, prof, found = load("idle")
    _a, _p, failed = load("oom_jvm")
    rec = recommend(_standalone(agg), prof, list(found.values()), AUTO, tunable=ALL, runtime_only=False,
                    history=[failed["failure"]])
    assert rec is None or ("spark.cores.max" not in rec.conf and "spark.executor.memory" not in rec.conf)


def test_a_rolled_back_change_is_not_proposed_again():
    agg, prof, found = load("idle")
    rec = recommend(_standalone(agg), prof, list(found.values()), AUTO, tunable=ALL, runtime_only=False,
                    rejected=[{"spark.cores.max": "1"}])
    assert rec is None or "spark.cores.max" not in rec.conf


def test_gc_asks_for_more_heap_but_never_more_than_a_worker_offers():
    agg, prof, found = load("oom_jvm")  # its GC share is a finding (above)
    agg = _standalone(agg)
    agg.properties["spark.executor.memory"] = "512m"
    gc = [found["gc"]]
    unknown = recommend(agg, prof, gc, AUTO, tunable=ALL, runtime_only=False)
    assert unknown is not None and unknown.conf["spark.executor.memory"] == "768m"  # x1.5: no sizes known
    roomy = recommend(agg, prof, gc, AUTO, tunable=ALL, runtime_only=False, workers=[(1, 4096), (1, 4096)])
    assert roomy is not None and roomy.conf["spark.executor.memory"] == "768m"
    capped = recommend(agg, prof, gc, AUTO, tunable=ALL, runtime_only=False, workers=[(1, 640), (1, 640)])
    assert capped is not None and capped.conf["spark.executor.memory"] == "640m"  # all a worker has
    # workers of 512 MiB host no larger executor: nothing to propose (a layer no worker fits is left
    # out of the run at submit, and its trial would measure nothing)
    assert recommend(agg, prof, gc, AUTO, tunable=ALL, runtime_only=False, workers=[(1, 512), (1, 512)]) is None
    # nor on workers with too few cores for the executor
    agg.properties["spark.executor.cores"] = "2"
    assert recommend(agg, prof, gc, AUTO, tunable=ALL, runtime_only=False, workers=[(1, 4096)]) is None


def test_over_partitioning_recommends_fewer_shuffle_partitions_and_aqe():
    agg, prof, found = load("over_partitioned")
    rec = recommend(agg, prof, list(found.values()), AUTO, tunable=ALL, runtime_only=True)
    assert rec is not None
    assert int(rec.conf["spark.sql.shuffle.partitions"]) < 400 and rec.conf["spark.sql.adaptive.enabled"] == "true"
    assert rec.before == {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "400"}
    assert "spark.cores.max" not in rec.conf  # local mode: the master fixes the cores


def test_the_job_s_own_conf_wins_unless_allowed():
    own = {"spark.sql.shuffle.partitions": "400"}
    assert "spark.sql.shuffle.partitions" not in tunable_keys(AUTO, own)
    allowed = TuningPolicy(mode="auto", allow=("spark.sql.shuffle.partitions",))
    assert "spark.sql.shuffle.partitions" in tunable_keys(allowed, own)
    agg, prof, found = load("over_partitioned")
    rec = recommend(agg, prof, list(found.values()), AUTO, tunable=tunable_keys(AUTO, own), runtime_only=True)
    assert rec is None or "spark.sql.shuffle.partitions" not in rec.conf


def run(core_ms: float, duration_ms: float, ok: bool = True) -> dict[str, object]:
    return {"succeeded": ok, "core_ms": core_ms, "cpu_ms": 1000, "duration_ms": duration_ms}


def test_a_trial_is_kept_only_when_it_beats_the_baseline_s_noise():
    baseline = [run(100, 10), run(110, 11), run(90, 9)]
    assert noise([100, 110, 90]) == pytest.approx(0.10)
    kept = judge(AUTO, baseline, [run(60, 10.2)])
    assert kept.keep and kept.measured["gain"] == 0.4
    assert judge(AUTO, baseline, [run(95, 10)]).cause == "noise"
    assert judge(AUTO, baseline, [run(50, 12)]).cause == "slower"  # 20% slower than allowed 10%
    assert judge(AUTO, baseline, [run(50, 9, ok=False)]).cause == "failed"
    duration = TuningPolicy(mode="auto", objective="duration", max_slowdown=0.2)
    assert judge(duration, baseline, [run(200, 7)]).keep


def test_size_settings_and_buckets():
    assert size_bytes("10MB", 0) == 10 * MB and size_bytes("-1", 0) == -1 and size_bytes("4g", 0) == 4096 * MB
    assert size_bytes("512", 0, unit="m") == 512 * MB and size_bytes("bad", 7) == 7
    day = bucket(1_000_000_000)
    for size in (700_000_000, 1_300_000_000):  # ±30% days share the bucket the first day opened
        assert bucket(size, [day]) == day
    big = bucket(3_000_000_000, [day])
    assert big != day and bucket(3_300_000_000, [day, big]) == big  # a day with 3× the data does not
    assert bucket(0) == 0
