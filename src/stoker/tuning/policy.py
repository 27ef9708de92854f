"""A job's tuning policy (field `tuning` of a job) and the Spark settings tuning may change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stoker.core.errors import InvalidInput

MODES = ("off", "advise", "auto")
OBJECTIVES = ("core_seconds", "duration")
DEFAULT_MAX_SLOWDOWN = 0.10
MAX_MAX_SLOWDOWN = 1.0

# The settings safe to change from one run to the next: resources, parallelism and join strategy.
# Nothing here changes what a job computes, only how Spark spreads the work.
TUNABLE: tuple[str, ...] = (
    "spark.cores.max", "spark.executor.instances", "spark.executor.cores", "spark.executor.memory",
    "spark.executor.memoryOverhead", "spark.dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.maxExecutors", "spark.sql.shuffle.partitions",
    "spark.sql.adaptive.advisoryPartitionSizeInBytes", "spark.sql.adaptive.coalescePartitions.enabled",
    "spark.sql.files.maxPartitionBytes", "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.adaptive.enabled", "spark.sql.adaptive.skewJoin.enabled",
    "spark.sql.adaptive.skewJoin.skewedPartitionFactor",
    "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes",
)


@dataclass(frozen=True)
class TuningPolicy:
    mode: str = "off"
    objective: str = "core_seconds"
    max_slowdown: float = DEFAULT_MAX_SLOWDOWN
    allow: tuple[str, ...] = field(default_factory=tuple)  # keys of the job's own conf tuning may override

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["allow"] = list(self.allow)
        return out

    @property
    def on(self) -> bool:
        return self.mode != "off"


OFF = TuningPolicy()


def check(raw: Mapping[str, Any] | None, job_conf: Mapping[str, str]) -> TuningPolicy:
    """A policy from a request (missing fields take their defaults), or a 422 naming what is wrong.
    `allow` may name only keys the job's own conf sets, and only keys tuning changes (TUNABLE)."""
    if raw is None:
        return OFF
    if not isinstance(raw, Mapping):
        raise InvalidInput("tuning must be an object: {\"mode\": \"off\" | \"advise\" | \"auto\", ...}")
    unknown = sorted(set(raw) - {"mode", "objective", "max_slowdown", "allow"})
    if unknown:
        raise InvalidInput(f"tuning: unknown field(s) {', '.join(unknown)}; it takes mode, objective, "
                           "max_slowdown, allow")
    mode = raw.get("mode", "off")
    if mode not in MODES:
        raise InvalidInput(f"tuning.mode must be one of {', '.join(MODES)}, got {mode!r}")
    objective = raw.get("objective", "core_seconds")
    if objective not in OBJECTIVES:
        raise InvalidInput(f"tuning.objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    slowdown = raw.get("max_slowdown", DEFAULT_MAX_SLOWDOWN)
    if isinstance(slowdown, bool) or not isinstance(slowdown, (int, float)) or not 0 <= slowdown <= MAX_MAX_SLOWDOWN:
        raise InvalidInput(f"tuning.max_slowdown must be a fraction between 0 and {MAX_MAX_SLOWDOWN} "
                           f"(0.10: at most 10% slower than the baseline), got {slowdown!r}")
    allow = raw.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(k, str) for k in allow):
        raise InvalidInput("tuning.allow must be a list of Spark keys of the job's own conf")
    problems = [{"key": k, "message": "tuning does not change it (docs/tuning.md lists what it does)"}
                for k in allow if k not in TUNABLE]
    problems += [{"key": k, "message": "the job's conf does not set it: tuning may change it anyway"}
                 for k in allow if k in TUNABLE and k not in job_conf]
    if problems:
        raise InvalidInput("tuning.allow: " + "; ".join(f"{p['key']}: {p['message']}" for p in problems),
                           problems=problems)
    return TuningPolicy(mode, objective, float(slowdown), tuple(sorted(set(allow))))


def stored(value: Mapping[str, Any] | None) -> TuningPolicy:
    """The policy a job row holds (None: off)."""
    if not value:
        return OFF
    return TuningPolicy(value.get("mode", "off"), value.get("objective", "core_seconds"),
                        float(value.get("max_slowdown", DEFAULT_MAX_SLOWDOWN)), tuple(value.get("allow") or ()))


def tunable_keys(policy: TuningPolicy, own_conf: Mapping[str, str]) -> frozenset[str]:
    """The keys tuning may set for a job whose own layers (job, run) set `own_conf`: a job's
    explicit setting wins unless its policy allows tuning it."""
    return frozenset(k for k in TUNABLE if k not in own_conf or k in policy.allow)
