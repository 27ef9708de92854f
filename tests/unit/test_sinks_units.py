"""Sink building blocks on both databases: the outbox feed (and its late-commit guard), the cursor
leases, signatures and backoff."""

from __future__ import annotations

import pytest

from stoker.config import Settings, SinkSettings
from stoker.sinks.events import Event
from stoker.sinks.feed import OutboxFeed
from stoker.sinks.webhooks import sign, verify
from stoker.store.outbox import record_events
from stoker.store.sink_cursors import Claim, Cursors


def _event(run="r1", job="j1", name="queued"):
    return {"run_id": run, "job_id": job, "event": name, "state": name.upper()}


def _record(db, *events):
    with db.write() as conn:
        record_events(conn, 1.0, events)


def test_feed_reads_in_order_with_filters_and_says_where_it_read_through(database):
    feed = OutboxFeed(database)
    _record(database, _event("r1", "j1"), _event("r2", "j2"), _event("r1", "j1", "running"),
            _event("r2", "j2", "running"), _event("r1", "j1", "succeeded"))
    everything, through = feed.read(0)
    seqs = [e.seq for e in everything]
    assert len(seqs) == 5 and seqs == sorted(seqs) and through == seqs[-1]
    assert everything[0].document()["state"] == "QUEUED" and everything[0].document()["seq"] == seqs[0]
    j1, through = feed.read(0, job_ids=["j1"])
    assert [e.event for e in j1] == ["queued", "running", "succeeded"] and through == seqs[-1]
    r2, _ = feed.read(0, run_id="r2")
    assert [e.event for e in r2] == ["queued", "running"]
    page, through = feed.read(0, limit=2)
    assert [e.seq for e in page] == seqs[:2] and through == seqs[1]  # a full page: go on from there
    assert feed.read(seqs[-1]) == ([], seqs[-1])
    assert feed.read(0, run_id="nobody") == ([], seqs[-1])  # filtered rows are still read past


@pytest.mark.postgres
def test_feed_never_skips_an_event_that_commits_after_a_later_one(postgres_url):
    """PostgreSQL hands out seqs at insert, not at commit: a reader must wait for the older one.
    (SQLite's one writer at a time makes its commits follow seq order.)"""
    from stoker.store.db import Database

    database = Database(postgres_url)
    database.upgrade()
    try:
        _late_commit_scenario(database)
    finally:
        database.dispose()


def _late_commit_scenario(database):
    feed = OutboxFeed(database)
    _record(database, _event("r0"))
    start = feed.horizon()  # the database is shared with other tests: start after what is there
    assert start > 0
    slow = database.writer.connect()
    slow_tx = slow.begin()
    record_events(slow, 1.0, [_event("slow")])  # takes the next seq, commits later
    _record(database, _event("fast"))  # a later seq, committed first
    assert feed.read(start) == ([], start)  # "fast" is held back: "slow" may still commit
    slow_tx.commit()
    slow.close()
    events, _ = feed.read(start)
    assert [e.run_id for e in events] == ["slow", "fast"]

    # A rolled-back insert leaves a gap that never fills: the feed settles it and moves on.
    gone = database.writer.connect()
    gone_tx = gone.begin()
    record_events(gone, 1.0, [_event("gone")])
    gone_tx.rollback()
    gone.close()
    _record(database, _event("after-gap"))
    events, _ = feed.read(events[-1].seq)
    assert [e.run_id for e in events] == ["after-gap"]


def test_cursor_leases_give_one_owner_and_fence_the_old_one(database):
    now = [1000.0]
    a = Cursors(database, "replica-a", 10.0, clock=lambda: now[0])
    b = Cursors(database, "replica-b", 10.0, clock=lambda: now[0])
    a.ensure("sink", 5)
    a.ensure("sink", 99)  # exists already: unchanged
    assert a.claim("sink") == Claim(5, 0)
    assert b.claim("sink") is None  # a holds it
    assert a.advance("sink", 7, delivered=True)
    now[0] += 5
    assert a.claim("sink") == Claim(7, 0)  # renewal by the owner
    assert b.claim("sink") is None
    now[0] += 11  # a stalled past its lease
    assert b.claim("sink") == Claim(7, 0)
    assert not a.advance("sink", 9, delivered=True)  # fenced: nothing changes
    assert b.failed("sink", 8, 1, "HTTP 500")
    assert a.claim("sink") is None
    b.release("sink")
    assert a.claim("sink") == Claim(8, 1)  # released: taken at once, failures remembered
    assert a.claim("no-such-sink") is None


def test_signature_is_hmac_sha256_of_the_raw_body():
    import hashlib
    import hmac

    body = Event(3, "r", "j", "succeeded", {"job": "x"}, 2.5).body()
    expected = "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, body) == expected
    assert verify("k" * 16, body, expected)
    assert not verify("k" * 16, body + b" ", expected)


def test_retry_delay_grows_exponentially_up_to_the_cap():
    settings = SinkSettings(retry_base_seconds=0.5, retry_max_seconds=10)
    assert [settings.retry_delay(n) for n in range(7)] == [0, 0.5, 1, 2, 4, 8, 10]
    assert settings.retry_delay(10_000) == 10


def test_settings_from_env(monkeypatch):
    monkeypatch.delenv("STOKER_NATS_URL", raising=False)
    assert Settings.from_env().sinks.nats_url is None  # off unless configured
    monkeypatch.setenv("STOKER_NATS_URL", "nats://example:4222")
    monkeypatch.setenv("STOKER_SINK_LEASE_SECONDS", "12")
    settings = Settings.from_env().sinks
    assert settings.nats_url == "nats://example:4222" and settings.lease_seconds == 12
