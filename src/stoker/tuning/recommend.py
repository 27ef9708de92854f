"""From findings to a change: a few safe settings (policy.TUNABLE), each with the finding it rests
on, and a prediction of the next run's core-seconds, CPU-seconds and duration, with a range.

Never shrinks cores, executors or memory when the job's history holds an out-of-memory failure or a
lost executor (a guardrail finding), and never proposes a setting rolled back before for the same
input-size bucket."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stoker.core.spark_conf import is_runtime
from stoker.events.analysis import Aggregate
from stoker.tuning.diagnosis import MB, Finding, executor_memory
from stoker.tuning.policy import TuningPolicy
from stoker.tuning.profile import Profile
from stoker.tuning.replay import replay

DEFAULT_NOISE = 0.10  # the run-to-run spread assumed until the baseline has runs enough to measure it
TARGET_PARTITION_BYTES = 64 * MB
MIN_EXECUTOR_MEMORY = 1024 * MB
SLOWDOWN_SHARE = 0.8  # of the policy's max_slowdown, the replay's predicted slowdown may use


@dataclass
class Recommendation:
    conf: dict[str, str]  # the settings to change (the tuning layer's new entries)
    before: dict[str, str | None]  # what the run had for each (None: Spark's default)
    reasons: dict[str, str]  # key -> why, naming the finding
    findings: list[str]  # kinds of the findings acted on
    prediction: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def _mib(value: float) -> str:
    return f"{_round_up(value / MB, 128)}m"


def _range(expected: float, noise: float, low: float = 1.0, high: float = 1.0) -> dict[str, int]:
    return {"expected": int(expected), "low": int(expected * low * (1 - noise)),
            "high": int(expected * high * (1 + noise))}


def recommend(agg: Aggregate, prof: Profile, findings: list[Finding], policy: TuningPolicy, *,
              tunable: frozenset[str], runtime_only: bool, history: Iterable[Finding] = (),
              rejected: Iterable[Mapping[str, str]] = (), noise: float = DEFAULT_NOISE,
              workers: Sequence[tuple[int, int]] = ()) -> Recommendation | None:
    """The change for the next run, or None when nothing worth changing was found. `history`: the
    findings of the job's earlier runs (their guardrails count); `rejected`: changes rolled back;
    `workers`: (cores, memory MiB) of each worker of the run's cluster (none known: no limit), which
    an executor size proposed must fit."""
    props = agg.properties
    kinds = {f.kind: f for f in findings}
    guarded = any(f.guardrail for f in (*findings, *history))
    conf: dict[str, str] = {}
    reasons: dict[str, str] = {}
    cores_after = prof.cores
    duration = float(prof.duration_ms)

    def propose(key: str, value: str, why: str) -> None:
        if key in tunable and not (runtime_only and not is_runtime(key)):
            conf[key] = value
            reasons[key] = why

    # Executor count, from the replay: the fewest cores whose predicted wall time stays within
    # SLOWDOWN_SHARE of the slowdown the policy allows (the rest is the margin for noise; a run
    # slower than the policy allows is rolled back all the same).
    master = props.get("spark.master", "")
    resizable = master.startswith(("spark://", "yarn", "k8s://"))
    if policy.objective == "core_seconds" and resizable and not guarded and "idle_cores" in kinds:
        per_executor = int(props.get("spark.executor.cores") or 0) or max(1, min(
            (e[0] for e in agg.executors.values() if e[0]), default=1))
        candidates = list(range(per_executor, prof.cores, per_executor))
        timeline = replay(agg, prof.cores, candidates)
        if timeline is not None:
            limit = timeline.measured_ms * (1 + policy.max_slowdown * SLOWDOWN_SHARE)
            fits = [n for n in candidates if timeline.predictions[n] <= limit]
            if fits:
                cores_after = min(fits)
                duration = timeline.predictions[cores_after]
                key = "spark.cores.max" if master.startswith("spark://") else "spark.executor.instances"
                value = cores_after if key == "spark.cores.max" else cores_after // per_executor
                propose(key, str(value), f"idle_cores: {kinds['idle_cores'].summary}; replaying the task timeline "
                        f"on {cores_after} of {prof.cores} cores predicts {duration / 1000:.1f} s "
                        f"(measured {timeline.measured_ms / 1000:.1f} s)")
                if key not in conf:
                    cores_after = prof.cores
                    duration = float(prof.duration_ms)

    partitions_now = int(props.get("spark.sql.shuffle.partitions") or 200)
    if "too_many_partitions" in kinds:
        evidence = kinds["too_many_partitions"].evidence
        biggest = max(evidence["shuffle_read_bytes"].values(), default=0)
        target = _round_up(max(biggest / TARGET_PARTITION_BYTES, 1), max(cores_after, 1))
        if target < partitions_now:
            propose("spark.sql.shuffle.partitions", str(target),
                    f"too_many_partitions: {kinds['too_many_partitions'].summary}; {target} partitions give "
                    f"each about {biggest / target / MB:.1f} MB")
            if props.get("spark.sql.adaptive.enabled", "true") == "false":
                propose("spark.sql.adaptive.enabled", "true", "too_many_partitions: AQE coalesces what is still small")
    elif "too_few_partitions" in kinds:
        propose("spark.sql.shuffle.partitions", str(min(4000, partitions_now * 2)),
                f"too_few_partitions: {kinds['too_few_partitions'].summary}")
        if "spill" in kinds:
            reasons.setdefault("spark.sql.shuffle.partitions", "spill")

    if "skew" in kinds:
        evidence = kinds["skew"].evidence
        propose("spark.sql.adaptive.enabled", "true", f"skew: {kinds['skew'].summary}")
        propose("spark.sql.adaptive.skewJoin.enabled", "true", f"skew: {kinds['skew'].summary}")
        propose("spark.sql.adaptive.skewJoin.skewedPartitionFactor", "3",
                f"skew: slowest tasks {max(evidence['max_over_median_ms'].values())}× the median")
        smallest = max(1, min(evidence["shuffle_read_bytes"].values()) // max(prof.tasks, 1))
        propose("spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes", f"{_round_up(smallest / MB, 1)}MB",
                "skew: partitions this big and 3× the median are split")

    if "broadcast" in kinds:
        side = min(kinds["broadcast"].evidence["shuffle_write_bytes"].values())
        threshold = _round_up(side * 4 / MB, 1)
        propose("spark.sql.autoBroadcastJoinThreshold", f"{threshold}MB",
                f"broadcast: {kinds['broadcast'].summary}; {threshold} MB leaves room for its size in memory")

    memory_now = executor_memory(agg)
    if "gc" in kinds and not master.startswith("local"):
        # more heap, as much as a worker can give: a size no worker offers would keep the run waiting
        # for executors (submit leaves such a layer out, and the trial would measure nothing)
        largest = _largest_fit(workers, int(props.get("spark.executor.cores") or 1))
        more = memory_now * 1.5 if largest is None else min(memory_now * 1.5, float(largest))
        if more >= memory_now * 1.2:
            propose("spark.executor.memory", _mib(more), f"gc: {kinds['gc'].summary}")
    elif ("memory_headroom" in kinds and not guarded and "spill" not in kinds and not master.startswith("local")
          and memory_now > MIN_EXECUTOR_MEMORY):
        peak = kinds["memory_headroom"].evidence["peak_heap_bytes"]
        target = max(MIN_EXECUTOR_MEMORY, peak * 2.5)
        if target < memory_now * 0.8:
            propose("spark.executor.memory", _mib(target), f"memory_headroom: {kinds['memory_headroom'].summary}")

    for earlier in rejected:  # a change rolled back for this bucket is not tried again
        for key, tried in earlier.items():
            if conf.get(key) == tried:
                del conf[key]
                reasons.pop(key, None)
    conf = {k: v for k, v in conf.items() if props.get(k) != v}
    if not conf:
        return None
    if not any(k in conf for k in ("spark.cores.max", "spark.executor.instances")):
        cores_after, duration = prof.cores, float(prof.duration_ms)
    before = {k: props.get(k) for k in sorted(conf)}
    return Recommendation(dict(sorted(conf.items())), before, {k: reasons[k] for k in sorted(conf)},
                          sorted({r.split(":")[0] for r in reasons.values()}),
                          predict(prof, cores_after, duration, conf, noise))


def _largest_fit(workers: Sequence[tuple[int, int]], cores: int) -> int | None:
    """Bytes of the largest executor heap a worker with the cores can host: None when the workers
    are not known, 0 when none has the cores."""
    if not workers:
        return None
    return max((mem for cpu, mem in workers if cpu >= cores), default=0) * MB


def predict(prof: Profile, cores_after: int, duration: float, conf: Mapping[str, str], noise: float) -> dict[str, Any]:
    """Core-seconds, CPU-seconds and duration of the next run, with a range: the replay's duration at
    the new cores (the measured one when cores stay), allocated cores × that time, and CPU time as
    measured. Settings other than the executor count are predicted to help or do nothing: their
    range reaches down by a third, never up past the noise."""
    other = any(k not in ("spark.cores.max", "spark.executor.instances") for k in conf)
    low = 0.67 if other else 1.0
    scale = ((cores_after / prof.cores if prof.cores else 1.0)
             * (duration / prof.duration_ms if prof.duration_ms else 1.0))
    return {"duration_ms": _range(duration, noise, low), "core_ms": _range(prof.core_ms * scale, noise, low),
            "cpu_ms": _range(prof.cpu_ms, noise, low), "cores": {"before": prof.cores, "after": cores_after},
            "noise": round(noise, 3)}
