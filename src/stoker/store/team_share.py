"""Teams in the claim (docs/teams.md): each team's quota of RUNNING runs, and a fair share of the
workers between teams that have work queued.

Read inside the claim's transaction. With one team and no quota (a server without teams) it costs
one read of the small teams table and the claim is as before. Otherwise:

* teams with a quota are locked (PostgreSQL: FOR UPDATE, in id order) and their RUNNING runs
  counted, so two claimers cannot both take a team's last slot; a team at its quota gets no
  candidates: its work waits, QUEUED, and starts when a run of the team ends;
* a container run starts only while its team's quotas of cores and memory hold it, counting the
  team's RUNNING container runs (their job's `cpus`, 1 when unset, and `memory_mb`) and the clusters
  it holds; over them it waits, QUEUED, like a run over the run quota;
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
from stoker.store.db import Database
from stoker.store.tables import clusters, jobs, runs, teams

CLUSTER_HOLDING = ("scheduled", "configuring", "configured", "ready", "degraded")  # store/clusters.py HOLDING


def container_needs(spec: Any) -> tuple[float, int]:
    """(cores, MB) a container job's run takes from its team's quotas: its limits (1 core when unset)."""
    spec = spec if isinstance(spec, dict) else {}
    return float(spec.get("cpus") or 1), int(spec.get("memory_mb") or 0)


@dataclass
class TeamShares:
    running: dict[str, int]  # RUNNING runs per team (of the teams that matter here)
    free: dict[str, int]  # slots left under the quota, for the teams that have one
    queued: list[str]  # teams with runs claimable now, fewest RUNNING first, under quota
    room: dict[str, tuple[float | None, float | None]]  # (cores, MB) left, for teams with such quotas

    @classmethod
    def read(cls, conn: Connection, *, lanes: Sequence[str], now: float) -> TeamShares | None:
        """None: one team and no quota, so there is nothing to share (the claim's old path)."""
        rows = conn.execute(sa.select(teams.c.id, teams.c.max_running_runs, teams.c.max_cores,
                                      teams.c.max_memory_mb)).all()
        quotas = {r.id: r.max_running_runs for r in rows if r.max_running_runs is not None}
        sized = {r.id: (r.max_cores, r.max_memory_mb) for r in rows
                 if r.max_cores is not None or r.max_memory_mb is not None}
        if len(rows) <= 1 and not quotas and not sized:
            return None
        if quotas or sized:
            conn.execute(sa.select(teams.c.id).where(teams.c.id.in_(sorted({*quotas, *sized})))
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
        return cls(running, free, queued, _room(conn, sized) if sized else {})

    def candidates(self, conn: Connection, query: sa.Select[Any], per_team: int) -> list[Any]:
        """Each queued team's first `per_team` candidates of `query`, interleaved round-robin."""
        lists = [conn.execute(query.where(runs.c.team_id == team).limit(per_team)).all() for team in self.queued]
        interleaved: list[Any] = []
        for i in range(max((len(x) for x in lists), default=0)):
            interleaved.extend(x[i] for x in lists if i < len(x))
        return interleaved

    def take(self, team: str, needs: tuple[float, int] = (0.0, 0)) -> bool:
        """Whether one more run of `team` taking `needs` (cores, MB) may start now (and count it if so)."""
        left = self.free.get(team)
        if left is not None and left <= 0:
            return False
        cores, mem = self.room.get(team, (None, None))
        if (cores is not None and needs[0] > cores) or (mem is not None and needs[1] > mem):
            return False
        if left is not None:
            self.free[team] = left - 1
        if team in self.room:
            self.room[team] = (None if cores is None else cores - needs[0], None if mem is None else mem - needs[1])
        return True


Room = dict[str, tuple[float | None, float | None]]


def _room(conn: Connection, sized: dict[str, tuple[int | None, int | None]]) -> Room:
    """(cores, MB) left per team under its quotas: less its held clusters and RUNNING container runs."""
    held = {team: (float(c), float(m)) for team, c, m in conn.execute(
        sa.select(clusters.c.team_id, sa.func.sum(clusters.c.needs_cores), sa.func.sum(clusters.c.needs_mem))
        .where(clusters.c.status.in_(CLUSTER_HOLDING), clusters.c.team_id.in_(list(sized)))
        .group_by(clusters.c.team_id)).all()}
    used = dict(held)
    for team, spec in conn.execute(
            sa.select(runs.c.team_id, jobs.c.spec).join(jobs, jobs.c.id == runs.c.job_id)
            .where(runs.c.state == RunState.RUNNING.value, runs.c.lane == "container",
                   runs.c.team_id.in_(list(sized)))).all():
        cores, mem = container_needs(spec)
        before = used.get(team, (0.0, 0.0))
        used[team] = (before[0] + cores, before[1] + mem)
    return {team: (None if max_cores is None else max_cores - used.get(team, (0.0, 0.0))[0],
                   None if max_mem is None else max_mem - used.get(team, (0.0, 0.0))[1])
            for team, (max_cores, max_mem) in sized.items()}


def quota_reason(db: Database, team: str) -> str | None:
    """Why the team's queued runs wait now for its quota of RUNNING runs (shown on a QUEUED run),
    or None when the team has room."""
    with db.read() as conn:
        quota = conn.execute(sa.select(teams.c.max_running_runs).where(teams.c.id == team)).scalar()
        if quota is None:
            return None
        running = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
            runs.c.team_id == team, runs.c.state == RunState.RUNNING.value)).scalar_one()
    if running < quota:
        return None
    return (f"waiting for team {team}'s quota: {running} of its {quota} runs at once are running "
            "(max_running_runs); it starts when one of them ends")
