"""Judging a trial against the baseline: the noise comes from the baseline runs themselves (their
spread), so a change is kept only when it beats that; it is rolled back when it fails, when it is
slower than the policy allows, or when it does not beat the noise."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stoker.tuning.policy import TuningPolicy
from stoker.tuning.recommend import DEFAULT_NOISE

MIN_NOISE = 0.05

OBJECTIVE_FIGURE = {"core_seconds": "core_ms", "duration": "duration_ms"}


def noise(values: Sequence[float]) -> float:
    """The baseline's relative spread: half its range over its median (at least MIN_NOISE); with
    one run there is no spread to measure, and DEFAULT_NOISE stands in."""
    if len(values) < 2:
        return DEFAULT_NOISE
    median = statistics.median(values)
    if median <= 0:
        return DEFAULT_NOISE
    return max(MIN_NOISE, (max(values) - min(values)) / 2 / median)


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str
    measured: dict[str, Any]
    cause: str = "better"  # better | failed | slower | noise | no_baseline


def judge(policy: TuningPolicy, baseline: Sequence[Mapping[str, Any]], trial: Sequence[Mapping[str, Any]], *,
          original: Sequence[Mapping[str, Any]] | None = None) -> Verdict:
    """`baseline`/`trial`: runs as {"succeeded", "core_ms", "cpu_ms", "duration_ms"} of one bucket;
    the trial must beat `baseline` (the layer it builds on) by more than its noise, and stay within
    max_slowdown of `original` (the job as written; `baseline` when not given)."""
    figure = OBJECTIVE_FIGURE[policy.objective]
    good = [r for r in baseline if r["succeeded"]]
    measured: dict[str, Any] = {"baseline_runs": len(baseline), "trial_runs": len(trial)}
    for name in ("core_ms", "cpu_ms", "duration_ms"):
        measured[name] = {"baseline": _median([r[name] for r in good]), "trial": _median([r[name] for r in trial])}
    spread = noise([r[figure] for r in good])
    measured["noise"] = round(spread, 3)
    failed = [r for r in trial if not r["succeeded"]]
    if failed:
        return Verdict(False, f"{len(failed)} of {len(trial)} run(s) with the change failed", measured, "failed")
    base_figure, trial_figure = measured[figure]["baseline"], measured[figure]["trial"]
    written = [r for r in (original if original is not None else baseline) if r["succeeded"]]
    base_duration = _median([r["duration_ms"] for r in written])
    trial_duration = measured["duration_ms"]["trial"]
    if not base_figure or trial_figure is None or base_duration is None or trial_duration is None:
        return Verdict(False, "no baseline to compare with", measured, "no_baseline")
    slowdown = trial_duration / base_duration - 1
    measured["slowdown"] = round(slowdown, 3)
    gain = 1 - trial_figure / base_figure
    measured["gain"] = round(gain, 3)
    if slowdown > policy.max_slowdown:
        return Verdict(False, f"{slowdown:.0%} slower than the baseline (max_slowdown {policy.max_slowdown:.0%})",
                       measured, "slower")
    if gain <= spread:
        return Verdict(False, f"{figure.removesuffix('_ms')} {gain:+.0%} does not beat the baseline's noise "
                       f"(±{spread:.0%})", measured, "noise")
    return Verdict(True, f"{figure.removesuffix('_ms')} {gain:.0%} lower than the baseline (noise ±{spread:.0%}), "
                   f"duration {slowdown:+.0%}", measured)


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
