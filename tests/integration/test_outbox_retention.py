"""Pruning the outbox (store/retention.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

from stoker.store.outbox import record_events
from stoker.store.retention import prune_outbox
from stoker.store.sink_cursors import create as create_cursor
from stoker.store.tables import outbox


def add(db, *created_at: float) -> list[int]:
    with db.write() as conn:
        for when in created_at:
            record_events(conn, when, [{"run_id": "r", "job_id": "j", "event": "queued"}])
    return seqs(db)


def seqs(db) -> list[int]:
    with db.read() as conn:
        return list(conn.execute(sa.select(outbox.c.seq).order_by(outbox.c.seq)).scalars())


def test_old_events_go_new_ones_stay(database):
    before = add(database, 100, 200, 300, 10_000)
    assert prune_outbox(database, older_than=1_000) == 3
    assert seqs(database) == before[3:]


def test_the_newest_event_stays_so_seqs_never_start_again(database):
    before = add(database, 100, 200)
    assert prune_outbox(database, older_than=1_000) == 1
    assert seqs(database) == before[1:]
    after = add(database, time.time())
    assert after[-1] > before[-1]  # SQLite would have reused seq 1 in an emptied table


def test_bounded_batches(database):
    add(database, *range(1, 11))
    assert prune_outbox(database, older_than=1_000, batch=3, max_batches=2) == 6
    assert prune_outbox(database, older_than=1_000, batch=3, max_batches=10) == 3  # all but the newest
    assert len(seqs(database)) == 1


def test_a_sink_that_did_not_deliver_what_is_pruned_is_named(database, caplog):
    first = add(database, 100, 200, 300)[0]
    with database.write() as conn:
        create_cursor(conn, "webhook:down", first - 1, time.time())  # has delivered nothing
        create_cursor(conn, "webhook:fine", first + 2, time.time())  # delivered everything
    with caplog.at_level(logging.WARNING, logger="stoker.store.retention"):
        prune_outbox(database, older_than=1_000)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "webhook:down" in warnings[0]


def test_the_publisher_prunes_by_its_retention(services):
    from stoker.config import SinkSettings
    from stoker.sinks.publisher import Publisher

    add(services.db, time.time() - 7200, time.time() - 7100, time.time())
    settings = SinkSettings(outbox_retention_seconds=3600, prune_every_seconds=0.0,
                            refresh_seconds=0.05, webhooks=False)
    publisher = Publisher(services, settings)
    publisher.start()
    try:
        deadline = time.monotonic() + 10
        while len(seqs(services.db)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.stop()
    assert len(seqs(services.db)) == 1


def test_retention_from_the_environment(monkeypatch):
    from stoker.config import Settings

    monkeypatch.setenv("STOKER_OUTBOX_RETENTION_HOURS", "2")
    assert Settings.from_env().sinks.outbox_retention_seconds == 7200
    monkeypatch.setenv("STOKER_OUTBOX_RETENTION_HOURS", "0")
    assert Settings.from_env().sinks.outbox_retention_seconds == 0
