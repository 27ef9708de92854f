"""Reading the outbox in seq order without ever skipping an event that commits late.

On SQLite every write transaction holds the database's one write lock, so rows become visible in seq
order: whatever a reader sees is final below its maximum. On PostgreSQL a sequence hands out seqs
when a transaction inserts, not when it commits: transaction A may take seq 10 and commit after B
committed seq 11. A reader that delivered 11 and moved its cursor past 10 would lose A's event.

So readers only read up to the *settled horizon*: the highest seq at or below which every seq has
either committed or will never exist (a rolled-back insert leaves a permanent gap). Contiguous seqs
settle by themselves. A gap that stays open is settled by briefly taking `LOCK TABLE outbox IN SHARE
MODE`: it conflicts with the ROW EXCLUSIVE lock each inserting transaction holds from its INSERT to its
commit, so once granted no transaction holds an unpublished seq, and the maximum visible seq is
settled. The lock is taken only on a gap that outlives a short pause, with a lock timeout, so run
transactions wait at most that long behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from stoker.store import outbox
from stoker.store.db import Database
from stoker.store.outbox import Event

GAP_PAUSE_SECONDS = 0.005  # out-of-order commits usually land within this; then the lock settles it
SCAN_LIMIT = 10_000


class OutboxFeed:
    """Thread-safe; share one per process and database (the horizon is cached and only grows)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: int | None = None
        self._lock = threading.Lock()

    # -- the settled horizon ------------------------------------------------------------
    def horizon(self) -> int:
        if self.db.is_sqlite:
            return outbox.head(self.db)
        with self._lock:
            if self._known is None:
                self._known = self._settle(0)
                return self._known
            for attempt in range(2):
                if attempt:
                    time.sleep(GAP_PAUSE_SECONDS)
                contiguous, newest = self._scan(self._known)
                self._known = contiguous
                if contiguous == newest:
                    return self._known
            self._known = self._settle(self._known)
            return self._known

    def _scan(self, known: int) -> tuple[int, int]:
        """(highest seq contiguous from `known`, highest seq visible in this scan)."""
        seqs = outbox.seqs_after(self.db, known, SCAN_LIMIT)
        contiguous = known
        for seq in seqs:
            if seq != contiguous + 1:
                break
            contiguous = seq
        return contiguous, (seqs[-1] if seqs else known)

    def _settle(self, known: int) -> int:
        newest = outbox.settled_head(self.db)
        if newest is None:  # a long writer holds the lock: keep the old horizon, try later
            return known
        return max(known, newest)

    # -- reading --------------------------------------------------------------------------
    def read(self, after: int, *, limit: int = 500, job_ids: Collection[str] | None = None,
             run_id: str | None = None, team: str | None = None) -> tuple[list[Event], int]:
        """Events after `after` up to the settled horizon, oldest first, and the seq read through.

        The second value is where the next read starts: with filters, rows that did not match were
        still read past, so a caller never rescans them.
        """
        horizon = self.horizon()
        if horizon <= after:
            return [], after
        events = outbox.read_events(self.db, after, horizon, limit=limit, job_ids=job_ids, run_id=run_id,
                                    team=team)
        through = events[-1].seq if len(events) == limit else horizon
        return events, through
