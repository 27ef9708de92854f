"""The orchestrator interface: what runs a cluster's nodes. Orchestrators are server-side plugins
(entry-point group `stoker.orchestrators`), chosen per product by name; clients never send code.

A launch calls, in order: `check` (at launch time: can it run this spec at all?), `plan`
(status `configuring`: each node's ports, directories and configuration on the host the scheduler
placed it on; `runs_on` says which registered hosts it can use), `start` per node
(`configured` once all run), then `ready` until it answers None (`ready`). The reconciler calls
`alive`; destroy and failure clean-up call `stop`; `repair` starts the dead nodes again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stoker.clusters.spec import ClusterSpec
from stoker.core.errors import InvalidInput
from stoker.store.hosts import Host
from stoker.store.records.clusters import Cluster, Node

if TYPE_CHECKING:
    from stoker.clusters.hosts import HostService
    from stoker.containers.runtime import ContainerRuntime


@dataclass(frozen=True)
class Context:
    """What an orchestrator gets from Stoker: where it may keep the nodes' files, the container
    runtime of this process (its Docker Engine API address may change when Stoker restarts), and the
    registered hosts (a Docker client of each)."""

    data_dir: Path
    containers: ContainerRuntime | None = None
    hosts: HostService | None = None

    def cluster_dir(self, cluster_id: str) -> Path:
        return self.data_dir / "clusters" / cluster_id


class NodeFailed(Exception):
    """A node could not start or died while starting; the message says which and why (its log)."""


class Orchestrator(Protocol):
    name: str
    description: str
    uses_capacity: bool  # False: the nodes run elsewhere (an external cluster) and take none here

    def check(self, spec: ClusterSpec, options: dict[str, Any]) -> None:
        """Raise InvalidInput when this orchestrator cannot run the spec."""

    def runs_on(self, host: Host) -> bool:
        """Whether this orchestrator can start nodes on the host (placement uses only those)."""

    def plan(self, cluster: Cluster, spec: ClusterSpec, hosts: Mapping[str, Host]) -> list[Node]:
        """The nodes (name, service, role, cpu, mem, host, port, web_port, workdir, state='planned'),
        configuration written; nothing started. `hosts`: the host each node was placed on (the node
        listens on its address)."""

    def urls(self, cluster: Cluster, nodes: list[Node]) -> tuple[str, str | None]:
        """(master URL for Spark, web URL or None)."""

    def start(self, cluster: Cluster, node: Node) -> dict[str, Any]:
        """Start one node; the values to record (pid, pid_started_at, state='running', maybe host)."""

    def ready(self, cluster: Cluster, nodes: list[Node]) -> str | None:
        """None when the cluster serves; else what it still waits for."""

    def alive(self, node: Node) -> bool: ...

    def stop(self, node: Node) -> None: ...

    def log_tail(self, node: Node) -> str: ...


def workdir_of(node: Node) -> Path:
    """A planned node's directory (every orchestrator that runs processes plans one)."""
    if node.workdir is None:
        raise NodeFailed(f"node {node.name} has no directory: it was never planned")
    return Path(node.workdir)


def host_of(node: Node) -> str:
    """The address a planned Spark node listens on."""
    if node.host is None:
        raise NodeFailed(f"node {node.name} has no address: it was never planned")
    return node.host


def master_url_of(cluster: Cluster) -> str:
    """The master URL of a cluster whose master was planned (its workers start after it)."""
    if cluster.master_url is None:
        raise NodeFailed(f"cluster {cluster.id} has no master URL yet")
    return cluster.master_url


def installed() -> dict[str, Any]:
    """Orchestrator classes by name, from the `stoker.orchestrators` entry points."""
    return {ep.name: ep for ep in entry_points(group="stoker.orchestrators")}


def load(name: str, context: Context) -> Orchestrator:
    found = installed().get(name)
    if found is None:
        raise InvalidInput(f"no orchestrator named {name!r} is installed; installed: {sorted(installed())}",
                           orchestrator=name)
    factory = found.load()
    orchestrator: Orchestrator = factory(context)
    return orchestrator
