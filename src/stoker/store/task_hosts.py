"""Container tasks placed on hosts, inside the claim (docs/hosts.md): like a cluster's nodes, a
container run goes to the host with the most free room that fits its limits (core/placement.py),
free capacity counted per host (the nodes placed there and the container tasks running there).
A run that fits nowhere stays QUEUED, and `runs.waiting` says why, host by host; a draining host or
one not answering takes nothing. With no host registered at all, container runs are not placed:
they run on the container runtime of the worker that claims them, as on one machine.

The host `local` stands for the claiming worker's own runtime, so a worker without one is never
handed a run placed there. The host rows are locked for the claim's transaction (PostgreSQL:
FOR UPDATE; SQLite serialises writers anyway), so two claimers never both take a host's last room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.placement import Room, Want, place
from stoker.store.hosts import rooms, task_needs
from stoker.store.tables import attempts, hosts, runs

NO_RUNTIME = "the local machine's, and this worker has no container runtime of its own"


@dataclass
class TaskHosts:
    free: dict[str, Room]  # host name → its room now (less what this claim placed)
    endpoints: dict[str, str | None]  # host name → its container API (None: the worker's own runtime)

    @classmethod
    def read(cls, conn: Connection, *, own_runtime: bool) -> TaskHosts | None:
        """The hosts' room, locked; None when no host is registered (container runs then run on
        the claiming worker's runtime, unplaced)."""
        endpoints = {row.name: row.endpoint for row in conn.execute(
            hosts.select().with_only_columns(hosts.c.name, hosts.c.endpoint))}
        if not endpoints:
            return None
        found = rooms(conn, lambda host: own_runtime or not host.local, NO_RUNTIME, lock=True)
        return cls({room.host: room for room in found}, endpoints)

    def place(self, spec: Any) -> tuple[str | None, str | None]:
        """(the host for a run of a container job with this spec, None) and that host's room taken;
        or (None, why it fits nowhere)."""
        cores, mem = task_needs(spec)
        placed = place([Want("this run", cores, mem)], list(self.free.values()))
        host = placed.hosts.get("this run")
        if host is None:
            return None, placed.reason
        self._take(host, cores, mem)
        return host, None

    def give_back(self, host: str, spec: Any) -> None:
        """Undo a placement (the run did not start after all: its team's quota held it back)."""
        cores, mem = task_needs(spec)
        self._take(host, -cores, -mem)

    def _take(self, host: str, cores: int, mem: int) -> None:
        room = self.free[host]
        self.free[host] = Room(room.host, room.cores - cores, room.mem - mem, room.refused)


def earlier_hosts(conn: Connection, run_ids: Sequence[str], task_hosts: TaskHosts) -> dict[str, str]:
    """Run id → the container API of the host its latest attempt ran on (registered hosts with an
    endpoint only), for retried container runs being started now."""
    latest = (sa.select(attempts.c.run_id, attempts.c.host_name).join(runs, runs.c.id == attempts.c.run_id)
              .where(attempts.c.run_id.in_(list(run_ids)), attempts.c.number == runs.c.attempt_count - 1,
                     attempts.c.host_name.is_not(None)))
    return {run_id: endpoint for run_id, host in conn.execute(latest)
            if (endpoint := task_hosts.endpoints.get(host)) is not None}
