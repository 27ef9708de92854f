"""Container hosts: their rows, their health as the last check found it, and what runs on each
(the nodes placed there and the capacity they hold). The rules of a host's fields are
core/hosts.py; placement is core/placement.py over `rooms()`."""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, NotFound
from stoker.core.placement import Room
from stoker.store.clusters import HOLDING
from stoker.store.db import Database
from stoker.store.tables import attempts, cluster_nodes, clusters, hosts, jobs, runs
from stoker.store.team_share import container_needs


@dataclass(frozen=True)
class Host:
    name: str
    endpoint: str | None  # None: the container runtime of the process itself (the local machine)
    address: str
    cores: int
    mem: int
    state: str  # active | draining
    health: str  # unknown | up | down
    last_error: str | None
    checked_at: float | None
    failing_since: float | None  # the first of the checks failing since (None: the last one answered)
    created_at: float
    updated_at: float

    @property
    def local(self) -> bool:
        return self.endpoint is None


@dataclass(frozen=True)
class PlacedNode:
    """A cluster node placed on a host (what runs there)."""

    cluster_id: str
    cluster_status: str
    product: str
    node: str
    role: str | None
    cpu: int
    mem: int
    state: str


@dataclass(frozen=True)
class Usage:
    cores: int
    mem: int


def _host(row: Any) -> Host:
    return Host(name=row.name, endpoint=row.endpoint, address=row.address, cores=row.cores, mem=row.mem,
                state=row.state, health=row.health, last_error=row.last_error, checked_at=row.checked_at,
                failing_since=row.failing_since, created_at=row.created_at, updated_at=row.updated_at)


def _holding_nodes() -> sa.Select[Any]:
    """Nodes that hold capacity on their host: of an admitted cluster, not stopped."""
    return (sa.select(cluster_nodes.c.host_name, cluster_nodes.c.cluster_id, clusters.c.status,
                      clusters.c.product, cluster_nodes.c.name, cluster_nodes.c.role, cluster_nodes.c.cpu,
                      cluster_nodes.c.mem, cluster_nodes.c.state)
            .join(clusters, clusters.c.id == cluster_nodes.c.cluster_id)
            .where(clusters.c.status.in_(HOLDING), cluster_nodes.c.state != "stopped",
                   cluster_nodes.c.host_name.is_not(None)))


def usage(conn: Connection) -> dict[str, Usage]:
    """Capacity held on each host: the nodes placed there, and the container tasks running there
    (store/task_hosts.py: `task_needs` of their job)."""
    query = _holding_nodes().subquery()
    totals = sa.select(query.c.host_name, sa.func.sum(query.c.cpu), sa.func.sum(query.c.mem)).group_by(
        query.c.host_name)
    held = {row[0]: [int(row[1]), int(row[2])] for row in conn.execute(totals)}
    for host_name, spec in conn.execute(
            sa.select(attempts.c.host_name, jobs.c.spec).join(runs, runs.c.id == attempts.c.run_id)
            .join(jobs, jobs.c.id == runs.c.job_id)
            .where(attempts.c.outcome.is_(None), attempts.c.host_name.is_not(None))):
        cores, mem = task_needs(spec)
        taken = held.setdefault(host_name, [0, 0])
        taken[0] += cores
        taken[1] += mem
    return {name: Usage(cores, mem) for name, (cores, mem) in held.items()}


def task_needs(spec: Any) -> tuple[int, int]:
    """(cores, MB) a container task holds on its host: its limits, a whole core at least (a host's
    capacity counts whole cores), 1 core when unset (as its team's quota counts it)."""
    cores, mem = container_needs(spec)
    return max(1, math.ceil(cores)), mem


class HostStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def create(self, name: str, *, endpoint: str | None, address: str, cores: int, mem: int) -> Host:
        now = self.clock()
        try:
            with self.db.write() as conn:
                conn.execute(hosts.insert().values(
                    name=name, endpoint=endpoint, address=address, cores=cores, mem=mem, state="active",
                    health="unknown", created_at=now, updated_at=now))
        except sa.exc.IntegrityError:
            raise Conflict(f"a host named {name} is registered already", host=name) from None
        return self.get(name)

    def ensure_local(self, name: str, *, address: str, cores: int, mem: int) -> None:
        """The local machine's entry, with the capacity the settings give it (at every start: the
        settings are its truth). Nothing else of it changes: a drain stays."""
        with self.db.read() as conn:
            found = conn.execute(sa.select(hosts.c.cores, hosts.c.mem, hosts.c.endpoint)
                                 .where(hosts.c.name == name)).first()
        if found is None:
            try:
                self.create(name, endpoint=None, address=address, cores=cores, mem=mem)
            except Conflict:  # another process made it meanwhile
                pass
        elif found.endpoint is None and (found.cores, found.mem) != (cores, mem):
            with self.db.write() as conn:
                conn.execute(hosts.update().where(hosts.c.name == name)
                             .values(cores=cores, mem=mem, updated_at=self.clock()))

    def get(self, name: str) -> Host:
        with self.db.read() as conn:
            row = conn.execute(sa.select(hosts).where(hosts.c.name == name)).first()
        if row is None:
            raise NotFound(f"no host named {name!r}", host=name)
        return _host(row)

    def list(self) -> list[Host]:
        with self.db.read() as conn:
            return [_host(r) for r in conn.execute(sa.select(hosts).order_by(hosts.c.name))]

    def set_state(self, name: str, state: str) -> Host:
        """active (placement may use it) or draining (nothing new goes there; what runs stays)."""
        with self.db.write() as conn:
            done = conn.execute(hosts.update().where(hosts.c.name == name)
                                .values(state=state, updated_at=self.clock())).rowcount
        if not done:
            raise NotFound(f"no host named {name!r}", host=name)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove a host nothing runs on (409 naming the clusters that still have nodes there)."""
        with self.db.write() as conn:
            if conn.execute(sa.select(hosts.c.name).where(hosts.c.name == name)).first() is None:
                raise NotFound(f"no host named {name!r}", host=name)
            busy = sorted(set(conn.execute(
                sa.select(cluster_nodes.c.cluster_id).join(clusters, clusters.c.id == cluster_nodes.c.cluster_id)
                .where(cluster_nodes.c.host_name == name, cluster_nodes.c.state != "stopped",
                       clusters.c.status.not_in(["failed", "destroyed"]))).scalars()))
            if busy:
                raise Conflict(f"host {name} still runs nodes of cluster(s) {', '.join(busy)}: drain it and "
                               "destroy or repair them elsewhere first", host=name, clusters=busy)
            conn.execute(hosts.delete().where(hosts.c.name == name))

    def record_check(self, name: str, *, up: bool, error: str | None = None,
                     down_after: float = 0.0) -> tuple[str, str] | None:
        """The result of a health check: up at once when it answers; down once every check has
        failed for `down_after` seconds. (health before, health after); None: no such host now."""
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(sa.select(hosts.c.health, hosts.c.failing_since).where(hosts.c.name == name)).first()
            if row is None:
                return None
            values: dict[str, Any] = {"checked_at": now}
            if up:
                values.update(health="up", failing_since=None, last_error=None)
            else:
                since = row.failing_since if row.failing_since is not None else now
                values.update(failing_since=since, last_error=error,
                              health="down" if now - since >= down_after else row.health)
            conn.execute(hosts.update().where(hosts.c.name == name).values(**values))
        return str(row.health), str(values["health"])

    # -- what runs where ---------------------------------------------------------------------------
    def usage(self) -> dict[str, Usage]:
        """Capacity held on each host by the nodes and container tasks placed there."""
        with self.db.read() as conn:
            return usage(conn)

    def placed(self) -> dict[str, builtins.list[PlacedNode]]:
        """The nodes on each host, by cluster and node name."""
        query = _holding_nodes().order_by(cluster_nodes.c.cluster_id, cluster_nodes.c.name)
        found: dict[str, builtins.list[PlacedNode]] = {}
        with self.db.read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.host_name, []).append(PlacedNode(
                    cluster_id=row.cluster_id, cluster_status=row.status, product=row.product, node=row.name,
                    role=row.role, cpu=row.cpu, mem=row.mem, state=row.state))
        return found

    def rooms(self, eligible: Callable[[Host], bool] = lambda _host: True) -> builtins.list[Room]:
        """Every host as placement sees it: free capacity, or why it takes nothing new."""
        with self.db.read() as conn:
            return rooms(conn, eligible, "not usable by this orchestrator")


def rooms(conn: Connection, eligible: Callable[[Host], bool], not_eligible: str, *,
          lock: bool = False) -> list[Room]:
    """Every host as placement sees it (free capacity, or why it takes nothing new); with `lock`,
    the host rows are locked (PostgreSQL: FOR UPDATE) so that two placements cannot both take the
    same room."""
    query = sa.select(hosts).order_by(hosts.c.name)
    found = [_host(r) for r in conn.execute(query.with_for_update() if lock else query)]
    used = usage(conn) if found else {}
    placed = []
    for host in found:
        taken = used.get(host.name, Usage(0, 0))
        refused = ("draining" if host.state == "draining" else "not answering" if host.health == "down"
                   else None if eligible(host) else not_eligible)
        placed.append(Room(host.name, host.cores - taken.cores, host.mem - taken.mem, refused))
    return placed
