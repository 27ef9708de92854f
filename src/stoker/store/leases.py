"""Leases: a named duty held by one process at a time (the leader), until an expiry it renews.

Several `stoker serve` replicas may share one database; a duty such as the cluster scheduler must
run in only one of them. `hold` takes the lease when it is free or expired, or renews it for its
holder, in one conditional write, so two processes never both hold it. Times are the database's
clock (not the replicas'), so replicas whose clocks disagree still agree on who holds it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.store.db import Database
from stoker.store.records.operations import LeaseHolder
from stoker.store.tables import leases


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _now(self, conn: Connection) -> float:
        if self.db.is_sqlite:
            now = conn.execute(sa.text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one()
        else:
            now = conn.execute(sa.text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        return float(now)

    def hold(self, name: str, holder: str, ttl_seconds: float, *, take_from: str | None = None) -> bool:
        """Take or renew the lease for `ttl_seconds`; True when `holder` holds it now. `take_from`
        names a holder known to be gone (its process died on this host): its lease is taken at once."""
        with self.db.write() as conn:
            now = self._now(conn)
            free = sa.or_(leases.c.holder == holder, leases.c.expires_at < now)
            if take_from is not None:
                free = sa.or_(free, leases.c.holder == take_from)
            renewed = conn.execute(
                leases.update().where(leases.c.name == name, free)
                .values(holder=holder, expires_at=now + ttl_seconds,
                        acquired_at=sa.case((leases.c.holder == holder, leases.c.acquired_at), else_=now))
            ).rowcount
            if renewed:
                return True
            exists = conn.execute(sa.select(leases.c.name).where(leases.c.name == name)).first()
            if exists is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(leases.insert().values(name=name, holder=holder, acquired_at=now,
                                                        expires_at=now + ttl_seconds))
            except sa.exc.IntegrityError:  # another process inserted it first
                return False
            return True

    def release(self, name: str, holder: str) -> None:
        """Give the lease up (a clean shutdown): another process takes it at its next try."""
        with self.db.write() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))

    def get(self, name: str) -> LeaseHolder | None:
        """The lease's holder, when it was acquired and when it expires (database time), and now."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
            now = self._now(conn)
        if row is None:
            return None
        return LeaseHolder(name=row.name, holder=row.holder, acquired_at=row.acquired_at,
                           expires_at=row.expires_at, expired=row.expires_at < now)
