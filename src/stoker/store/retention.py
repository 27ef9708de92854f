"""Pruning the outbox: events older than the retention are deleted, a bounded batch at a time.

Without it the outbox grows by a few rows per run forever. Every publisher (one per serve or worker
process) prunes now and then; deletes are idempotent, so several at once only repeat each other.

Two rules keep readers right:
* the newest row is never deleted: SQLite hands out max(seq) + 1, so an emptied table would start
  seqs again at 1, behind every sink cursor and event-stream position;
* a sink that has not delivered what is pruned (down for longer than the retention) loses those
  events; that is logged, with the sink's name, since its at-least-once delivery ends there.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from stoker.store.db import Database
from stoker.store.tables import outbox, sink_cursors

log = logging.getLogger(__name__)

BATCH = 5_000  # rows per delete transaction: short transactions, even on a large backlog
MAX_BATCHES = 20  # per call; the next call goes on


def prune_outbox(db: Database, older_than: float, *, batch: int = BATCH,
                 max_batches: int = MAX_BATCHES) -> int:
    """Delete events created before `older_than` (epoch seconds); return how many were deleted."""
    deleted = 0
    for _ in range(max_batches):
        with db.write() as conn:
            oldest = conn.execute(sa.select(outbox.c.seq, outbox.c.created_at)
                                  .order_by(outbox.c.seq).limit(1)).first()
            if oldest is None or oldest.created_at >= older_than:
                break
            newest = conn.execute(sa.select(sa.func.max(outbox.c.seq))).scalar_one()
            upto = min(oldest.seq + batch, newest)  # exclusive: the newest row always stays
            if upto <= oldest.seq:
                break
            _warn_lagging_sinks(conn, upto)
            # A seq range on the primary key, then the age: never a scan of the whole table.
            count = conn.execute(outbox.delete().where(outbox.c.seq < upto,
                                                       outbox.c.created_at < older_than)).rowcount
        deleted += count
        if count == 0:
            break
    if deleted:
        log.info("pruned %d outbox event(s) older than the retention", deleted)
    return deleted


def _warn_lagging_sinks(conn: sa.engine.Connection, upto: int) -> None:
    for name, position in conn.execute(sa.select(sink_cursors.c.name, sink_cursors.c.position)
                                       .where(sink_cursors.c.position < upto - 1)):
        log.warning("sink %s has not delivered events %d..%d, which passed the outbox retention; "
                    "they are deleted undelivered", name, position + 1, upto - 1)
