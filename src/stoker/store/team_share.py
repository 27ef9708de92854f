"""Teams in the claim (docs/teams.md): each team's quota of RUNNING runs, and a fair share of the
workers between teams that have work queued.

Read inside the claim's transaction. With one team and no quota (a server without teams) it costs
one read of the small teams table and the claim is as before. Otherwise:

* teams with a quota are locked (PostgreSQL: FOR UPDATE, in id order) and their RUNNING runs
  counted, so two claimers cannot both take a team's last slot; a team at its quota gets no
  candidates: its work waits, QUEUED, and starts when a run of the team ends;
* candidates are read per team that has runs queued (FIFO within each), and handed to the claim
  interleaved, the team with the fewest RUNNING runs first: two teams submitting at once each get
  about half of the workers, whoever submitted first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.states import RunState
from stoker.store.tables import runs, teams


@dataclass
class TeamShares:
    running: dict[str, int]  # RUNNING runs per team (of the teams that matter here)
    free: dict[str, int]  # slots left under the quota, for the teams that have one
    queued: list[str]  # teams with runs claimable now, fewest RUNNING first, under quota

    @classmethod
    def read(cls, conn: Connection, *, lanes: Sequence[str], now: float) -> TeamShares | None:
        """None: one team and no quota, so there is nothing to share (the claim's old path)."""
        rows = conn.execute(sa.select(teams.c.id, teams.c.max_running_runs)).all()
        quotas = {r.id: r.max_running_runs for r in rows if r.max_running_runs is not None}
        if len(rows) <= 1 and not quotas:
            return None
        if quotas:
            conn.execute(sa.select(teams.c.id).where(teams.c.id.in_(sorted(quotas)))
                         .order_by(teams.c.id).with_for_update()).all()
        running: dict[str, int] = {team: int(n) for team, n in conn.execute(
            sa.select(runs.c.team_id, sa.func.count()).where(runs.c.state == RunState.RUNNING.value)
            .group_by(runs.c.team_id)).all()}
        free = {team: quota - running.get(team, 0) for team, quota in quotas.items()}
        waiting = conn.execute(
            sa.select(runs.c.team_id).distinct()
            .where(runs.c.state == RunState.QUEUED.value, runs.c.lane.in_(lanes), runs.c.available_at <= now)
        ).scalars().all()
        queued = sorted((t for t in waiting if free.get(t, 1) > 0), key=lambda t: (running.get(t, 0), t))
        return cls(running, free, queued)

    def candidates(self, conn: Connection, query: sa.Select[Any], per_team: int) -> list[Any]:
        """Each queued team's first `per_team` candidates of `query`, interleaved round-robin."""
        lists = [conn.execute(query.where(runs.c.team_id == team).limit(per_team)).all() for team in self.queued]
        interleaved: list[Any] = []
        for i in range(max((len(x) for x in lists), default=0)):
            interleaved.extend(x[i] for x in lists if i < len(x))
        return interleaved

    def take(self, team: str) -> bool:
        """Whether one more run of `team` may start now (and count it if so)."""
        left = self.free.get(team)
        if left is None:
            return True
        if left <= 0:
            return False
        self.free[team] = left - 1
        return True
