"""Schedules: when a job runs by itself. Pure: cron arithmetic, no clock and no I/O.

A schedule names moments (ticks) in a time zone; each tick becomes at most one run, whose
idempotency key is made of the tick's time (`tick_key`), so the runs table's unique constraint
decides, whatever replicas race. Cron arithmetic is cronsim's: it fires a daily job once on the
short and on the long day of a daylight-saving change (as cronie does), iterates backwards (the data
interval's start is the tick before) and explains an expression in words.

Beyond plain cron: the `@daily`-style names, a seconds field (six fields, seconds first), and
Jenkins' `H`: a value derived from the job's name, stable across restarts, that spreads "every hour"
jobs over the hour instead of firing them all at :00 (`H`, `H/15`, `H(0-29)`, `H(0-29)/10`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from stoker.core.errors import InvalidInput

OVERLAP = ("skip", "queue", "cancel_previous")
CATCHUP = ("none", "latest", "all")
# `catchup: all` after a long outage makes at most this many runs (the rest are recorded as missed):
# Kubernetes' CronJob gives up after 100 missed start times; here the bound is explicit and the
# ticks past it are visible, not silently dropped.
MAX_CATCHUP = 100
# How far ahead a schedule may be searched for its next tick: an expression with none in this
# window ("0 0 29 2 1": February 29th on a Monday is rare) is accepted only if it has one.
_HORIZON_YEARS = 30

NAMES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
# (low, high) of each field, for H: seconds (when six fields), minute, hour, day of month, month,
# day of week.
_RANGES = {6: [(0, 59), (0, 59), (0, 23), (1, 28), (1, 12), (0, 6)],
           5: [(0, 59), (0, 23), (1, 28), (1, 12), (0, 6)]}
_H = re.compile(r"^H(?:\((\d+)-(\d+)\))?(?:/(\d+))?$")


@dataclass(frozen=True)
class Schedule:
    """A job's schedule as the user wrote it, checked. `cron` is as given; `expanded` is what
    cronsim reads (names replaced, `H` resolved for this job)."""

    cron: str
    expanded: str
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup: str = "latest"
    params: dict[str, Any] = field(default_factory=dict)
    end: datetime | None = None
    paused: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        return {"cron": self.cron, "timezone": self.timezone, "overlap": self.overlap,
                "catchup": self.catchup, "params": self.params,
                "end": self.end.isoformat() if self.end else None, "paused": self.paused}


def expand(expr: str, seed: str) -> str:
    """The expression cronsim reads: a `@name` replaced, each `H` field resolved from `seed`."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in NAMES:
            raise InvalidInput(f"unknown schedule name {text!r}: use one of {', '.join(NAMES)} or five "
                               "cron fields (minute hour day-of-month month day-of-week), or six with "
                               "seconds first")
        return NAMES[text.lower()]
    parts = text.split(" ")
    if len(parts) not in _RANGES:
        raise InvalidInput(f"cron {expr!r} has {len(parts)} fields: five (minute hour day-of-month month "
                           "day-of-week), or six with seconds first")
    ranges = _RANGES[len(parts)]
    return " ".join(_expand_h(part, ranges[i], seed, i) if "H" in part else part for i, part in enumerate(parts))


def _expand_h(part: str, bounds: tuple[int, int], seed: str, index: int) -> str:
    match = _H.match(part)
    if match is None:
        raise InvalidInput(f"cron field {part!r}: H is written H, H/step, H(low-high) or H(low-high)/step")
    low, high = (int(match[1]), int(match[2])) if match[1] else bounds
    if not bounds[0] <= low <= high <= bounds[1]:
        raise InvalidInput(f"cron field {part!r}: the range must lie within {bounds[0]}-{bounds[1]}")
    step = int(match[3]) if match[3] else None
    span = (step if step else high - low + 1)
    if step is not None and not 0 < step <= high - low + 1:
        raise InvalidInput(f"cron field {part!r}: the step must be between 1 and {high - low + 1}")
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    offset = low + int.from_bytes(digest[:8], "big") % span
    return f"{offset}-{high}/{step}" if step else str(offset)


def parse(raw: Any, *, seed: str, now: datetime, check_fires: bool = True) -> Schedule:
    """A schedule from a request body (a dict, or a bare cron string), checked: a wrong field, an
    unknown zone or an expression that never fires is an InvalidInput saying which. A schedule read
    back from the store was checked when it was set (`check_fires=False` spares the search)."""
    if isinstance(raw, str):
        raw = {"cron": raw}
    if not isinstance(raw, dict):
        raise InvalidInput("schedule must be an object with at least `cron` (or a cron string)")
    known = {"cron", "timezone", "overlap", "catchup", "params", "end", "paused"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"schedule: unknown field(s) {unknown}; known: {sorted(known)}")
    cron = raw.get("cron")
    if not isinstance(cron, str) or not cron.strip():
        raise InvalidInput("schedule.cron is required: a cron expression such as \"0 6 * * *\" or \"@daily\"")
    zone_name = raw.get("timezone", "UTC")
    if not isinstance(zone_name, str):
        raise InvalidInput("schedule.timezone must be an IANA time zone name such as \"Europe/Madrid\"")
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"schedule.timezone {zone_name!r} is not a known IANA time zone "
                           "(for example \"UTC\", \"Europe/Madrid\", \"America/New_York\")") from None
    overlap = _choice(raw, "overlap", OVERLAP, "skip")
    catchup = _choice(raw, "catchup", CATCHUP, "latest")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidInput("schedule.params must be an object: the parameters each scheduled run gets")
    end = _parse_time(raw.get("end"), "schedule.end", ZoneInfo(zone_name))
    paused = raw.get("paused", False)
    if not isinstance(paused, bool):
        raise InvalidInput("schedule.paused must be true or false")
    expanded = expand(cron, seed)
    schedule = Schedule(cron=" ".join(cron.split()), expanded=expanded, timezone=zone_name, overlap=overlap,
                        catchup=catchup, params=params, end=end, paused=paused)
    if check_fires:
        _check_fires(schedule, now)
    return schedule


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise InvalidInput(f"schedule.{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _parse_time(value: Any, what: str, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be an ISO 8601 time such as \"2027-01-01T00:00:00Z\"")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not an ISO 8601 time such as \"2027-01-01T00:00:00Z\"") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _sim(schedule: Schedule, start: datetime, *, reverse: bool = False) -> CronSim:
    try:
        return CronSim(schedule.expanded, start.astimezone(schedule.zone), reverse=reverse)
    except CronSimError as exc:
        raise InvalidInput(f"cron {schedule.cron!r}: {str(exc).lower()}") from None


def _check_fires(schedule: Schedule, now: datetime) -> None:
    try:
        first = next(iter(_sim(schedule, now)))
    except (StopIteration, CronSimError):
        first = None
    if first is None or first > now + timedelta(days=366 * _HORIZON_YEARS):
        raise InvalidInput(f"cron {schedule.cron!r} never fires (no such date within {_HORIZON_YEARS} years)")


def ticks_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's ticks strictly after `after`, in UTC, up to its end (if any)."""
    for tick in _sim(schedule, after):
        tick_utc = tick.astimezone(UTC)
        if schedule.end is not None and tick_utc > schedule.end:
            return
        if tick_utc > after:
            yield tick_utc


def next_tick(schedule: Schedule, after: datetime) -> datetime | None:
    return next(ticks_after(schedule, after), None)


def next_ticks(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    for tick in ticks_after(schedule, after):
        if len(found) == count:
            break
        found.append(tick)
    return found


def previous_tick(schedule: Schedule, before: datetime) -> datetime | None:
    """The tick strictly before `before`: a run's data interval starts there."""
    for tick in _sim(schedule, before - timedelta(microseconds=1), reverse=True):
        tick_utc = tick.astimezone(UTC)
        if tick_utc < before:
            return tick_utc
    return None


@dataclass(frozen=True)
class Due:
    """What the ticks in (after, now] come to: those to fire (oldest first), and the range of those
    missed by the catch-up policy (first, last), if any."""

    fire: list[datetime]
    missed: tuple[datetime, datetime] | None


def due(schedule: Schedule, after: datetime, now: datetime, *, grace: timedelta,
        first_after: datetime | None = None) -> Due:
    """The ticks in (after, now], by the catch-up policy. `none` fires only a tick at most `grace`
    old (Kubernetes' startingDeadlineSeconds); `latest` fires the newest tick however late; `all`
    fires every tick, at most MAX_CATCHUP of them (the newest). Walks backwards from now, so a
    seconds schedule after a day of downtime costs MAX_CATCHUP steps, not 86,400. `first_after`, the
    first tick after `after` when the caller knows it (the store keeps it), spares a search."""
    limit = MAX_CATCHUP if schedule.catchup == "all" else 1
    until = min(now, schedule.end) if schedule.end is not None else now
    newest_first: list[datetime] = []
    for tick in _sim(schedule, until + timedelta(microseconds=1), reverse=True):
        tick_utc = tick.astimezone(UTC)
        if tick_utc <= after:
            break
        newest_first.append(tick_utc)
        if len(newest_first) == limit:
            break
    if schedule.catchup == "none" and newest_first and now - newest_first[0] > grace:
        newest_first = []
    fire = newest_first[::-1]
    first_missed = first_after if first_after is not None else next_tick(schedule, after)
    if first_missed is None or first_missed > until or (fire and first_missed >= fire[0]):
        return Due(fire, None)
    last_missed = previous_tick(schedule, fire[0] if fire else until + timedelta(microseconds=1))
    assert last_missed is not None  # first_missed itself lies before it
    return Due(fire, (first_missed, last_missed))


def count_between(schedule: Schedule, first: datetime, last: datetime, cap: int = 100_000) -> int:
    """How many ticks lie in [first, last] (at most `cap`: a seconds schedule after a long outage)."""
    count = 0
    for tick in ticks_after(schedule, first - timedelta(microseconds=1)):
        if tick > last or count == cap:
            break
        count += 1
    return count


def ticks_in(schedule: Schedule, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The ticks in [start, end] (a backfill), at most `limit`: more is an InvalidInput."""
    found: list[datetime] = []
    for tick in ticks_after(schedule, start - timedelta(microseconds=1)):
        if tick > end:
            break
        found.append(tick)
        if len(found) > limit:
            raise InvalidInput(f"the range holds more than {limit} ticks of {schedule.cron!r}: backfill a "
                               "shorter range at a time")
    return found


def tick_key(tick: datetime) -> str:
    """The idempotency key of the run a tick becomes: the tick's time, so it fires once."""
    return "tick:" + tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(schedule: Schedule) -> str:
    """The schedule in words, e.g. "At 06:00 every day, Europe/Madrid"."""
    words = _sim(schedule, datetime(2000, 1, 1, tzinfo=UTC)).explain()
    return f"{words}, {schedule.timezone}" + (" (paused)" if schedule.paused else "")
