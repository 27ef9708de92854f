"""Schedules' cron arithmetic (core/schedules.py): names, H, seconds, DST, catch-up, backfill ranges."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from stoker.core import schedules
from stoker.core.errors import InvalidInput

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def sched(cron: str, seed: str = "job", **fields: object) -> schedules.Schedule:
    return schedules.parse({"cron": cron, **fields}, seed=seed, now=NOW)


@pytest.mark.parametrize(("name", "plain"), [("@daily", "0 0 * * *"), ("@hourly", "0 * * * *"),
                                             ("@weekly", "0 0 * * 0"), ("@yearly", "0 0 1 1 *"),
                                             ("@MONTHLY", "0 0 1 * *")])
def test_names_expand_to_plain_cron(name: str, plain: str) -> None:
    assert sched(name).expanded == plain


def test_h_is_stable_per_job_and_spreads_jobs() -> None:
    minutes = {sched("H * * * *", seed=f"job-{i}").expanded for i in range(20)}
    assert len(minutes) > 5  # twenty hourly jobs do not all fire at :00
    assert sched("H * * * *", seed="nightly").expanded == sched("H * * * *", seed="nightly").expanded
    for expr in minutes:
        assert 0 <= int(expr.split()[0]) <= 59


def test_h_with_range_and_step() -> None:
    minute, hour = sched("H(0-29) H(2-4) * * *", seed="a").expanded.split()[:2]
    assert 0 <= int(minute) <= 29 and 2 <= int(hour) <= 4
    stepped = sched("H/15 * * * *", seed="b").expanded.split()[0]
    start, rest = stepped.split("-")
    assert 0 <= int(start) < 15 and rest == "59/15"
    ticks = schedules.next_ticks(sched("H/15 * * * *", seed="b"), NOW, 4)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [timedelta(minutes=15)] * 3


def test_seconds_field() -> None:
    ticks = schedules.next_ticks(sched("*/10 * * * * *"), NOW, 3)
    assert ticks == [NOW + timedelta(seconds=10 * i) for i in (1, 2, 3)]


@pytest.mark.parametrize(("raw", "says"), [
    ({"cron": "0 0 30 2 *"}, "day-of-month"),
    ({"cron": "0 0 31 4 *"}, "day-of-month"),
    ({"cron": "61 * * * *"}, "minute"),
    ({"cron": "0 6 * *"}, "4 fields"),
    ({"cron": "@fortnightly"}, "unknown schedule name"),
    ({"cron": "H(30-90) * * * *"}, "within 0-59"),
    ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "not a known IANA time zone"),
    ({"cron": "0 6 * * *", "overlap": "sometimes"}, "overlap must be one of"),
    ({"cron": "0 6 * * *", "catchup": "yes"}, "catchup must be one of"),
    ({"cron": "0 6 * * *", "end": "tomorrow"}, "not an ISO 8601 time"),
    ({"cron": "0 6 * * *", "every": "day"}, "unknown field"),
    ({"timezone": "UTC"}, "cron is required"),
    (42, "must be an object"),
])
def test_bad_schedules_say_why(raw: object, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        schedules.parse(raw, seed="job", now=NOW)


def test_a_bare_string_is_a_cron() -> None:
    assert schedules.parse("0 6 * * *", seed="job", now=NOW).timezone == "UTC"


def test_daily_job_fires_once_on_short_and_long_days() -> None:
    madrid = sched("0 6 * * *", timezone="Europe/Madrid")
    spring = schedules.next_ticks(madrid, datetime(2026, 3, 27, tzinfo=UTC), 4)
    fall = schedules.next_ticks(madrid, datetime(2026, 10, 23, tzinfo=UTC), 4)
    for ticks in (spring, fall):
        assert len({t.date() for t in ticks}) == 4  # one a day, no day twice or skipped
    assert spring[2] == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)  # 06:00 CEST
    assert fall[2] == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)  # 06:00 CET


def test_a_time_that_does_not_exist_or_exists_twice_fires_once() -> None:
    at_0230 = sched("30 2 * * *", timezone="Europe/Madrid")
    spring = schedules.next_ticks(at_0230, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert spring[0] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:30 does not exist: 03:00 CEST
    fall = schedules.next_ticks(at_0230, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert [t.date().day for t in fall] == [25, 26]  # 02:30 happens twice on the 25th: one run


def test_previous_tick_is_the_data_interval_start() -> None:
    daily = sched("0 6 * * *")
    tick = datetime(2026, 12, 6, 6, tzinfo=UTC)
    assert schedules.previous_tick(daily, tick) == tick - timedelta(days=1)


def test_due_latest_fires_the_newest_and_reports_the_missed() -> None:
    hourly = sched("0 * * * *", catchup="latest")
    due = schedules.due(hourly, NOW - timedelta(hours=5, minutes=30), NOW, grace=GRACE)
    assert due.fire == [NOW]
    assert due.missed == (NOW - timedelta(hours=5), NOW - timedelta(hours=1))


def test_due_all_fires_every_tick_up_to_the_bound() -> None:
    hourly = sched("0 * * * *", catchup="all")
    due = schedules.due(hourly, NOW - timedelta(hours=3, minutes=30), NOW, grace=GRACE)
    assert due.fire == [NOW - timedelta(hours=h) for h in (3, 2, 1, 0)] and due.missed is None
    every_second = sched("* * * * * *", catchup="all")
    due = schedules.due(every_second, NOW - timedelta(days=1), NOW, grace=GRACE)
    assert len(due.fire) == schedules.MAX_CATCHUP and due.fire[-1] == NOW
    assert due.missed == (NOW - timedelta(days=1) + timedelta(seconds=1),
                          NOW - timedelta(seconds=schedules.MAX_CATCHUP))


def test_due_none_fires_only_a_tick_within_grace() -> None:
    hourly = sched("0 * * * *", catchup="none")
    on_time = schedules.due(hourly, NOW - timedelta(minutes=30), NOW + timedelta(seconds=5), grace=GRACE)
    assert on_time.fire == [NOW] and on_time.missed is None
    late = schedules.due(hourly, NOW - timedelta(minutes=30), NOW + timedelta(minutes=20), grace=GRACE)
    assert late.fire == [] and late.missed == (NOW, NOW)


def test_due_nothing_between_ticks_and_nothing_past_the_end() -> None:
    hourly = sched("0 * * * *")
    assert schedules.due(hourly, NOW, NOW + timedelta(minutes=59), grace=GRACE) == schedules.Due([], None)
    ended = sched("0 * * * *", end=(NOW + timedelta(minutes=90)).isoformat())
    assert schedules.next_ticks(ended, NOW, 5) == [NOW + timedelta(hours=1)]
    due = schedules.due(ended, NOW + timedelta(minutes=30), NOW + timedelta(hours=5), grace=GRACE)
    assert due.fire == [NOW + timedelta(hours=1)]


def test_backfill_range_is_inclusive_and_bounded() -> None:
    daily = sched("0 6 * * *")
    start = datetime(2026, 11, 1, 6, tzinfo=UTC)
    ticks = schedules.ticks_in(daily, start, start + timedelta(days=2), limit=10)
    assert ticks == [start, start + timedelta(days=1), start + timedelta(days=2)]
    with pytest.raises(InvalidInput, match="more than 10 ticks"):
        schedules.ticks_in(daily, start, start + timedelta(days=30), limit=10)


def test_tick_key_and_words() -> None:
    assert schedules.tick_key(datetime(2026, 12, 6, 7, tzinfo=UTC)) == "tick:2026-12-06T07:00:00Z"
    assert schedules.describe(sched("0 6 * * *", timezone="Europe/Madrid")) == "At 06:00 every day, Europe/Madrid"
    assert schedules.describe(sched("0 6 * * *", paused=True)).endswith("(paused)")


def test_count_between_is_inclusive_and_capped() -> None:
    hourly = sched("0 * * * *")
    assert schedules.count_between(hourly, NOW, NOW + timedelta(hours=3)) == 4
    assert schedules.count_between(sched("* * * * * *"), NOW, NOW + timedelta(days=1), cap=500) == 500
