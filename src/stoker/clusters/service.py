"""Clusters: launch (register, schedule, configure, start, wait ready), destroy, repair, reconcile.

The database holds the truth (status, nodes with pid + start time + ports, history); this object
drives it. Launch and repair steps run in threads of the process that runs the cluster duties
(`stoker serve`); every status change is a conditional transition (store/clusters.py), so a destroy
that lands mid-launch wins and the launch cleans up what it started.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from stoker.clusters import orchestrator
from stoker.clusters.hosts import HostService
from stoker.clusters.options import ProductOptions
from stoker.clusters.orchestrator import Context, NodeFailed, Orchestrator
from stoker.clusters.products import Products, default_orchestrator, render_spec
from stoker.clusters.spec import ClusterSpec
from stoker.config import ClusterSettings
from stoker.core.errors import Conflict, InvalidInput
from stoker.core.placement import Room, Want, place
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.clusters import HOLDING, LIVE, ClusterStore, ProductStore
from stoker.store.db import Database
from stoker.store.hosts import HostStore
from stoker.store.records.clusters import Cluster, Node

if TYPE_CHECKING:
    from stoker.containers.runtime import ContainerRuntime

log = logging.getLogger(__name__)

LAUNCHING = ("scheduled", "configuring", "configured")
STATUSES = ("registered", "scheduling", "scheduled", "configuring", "configured", "ready", "degraded",
            "failed", "destroyed")


class Stopped(Exception):
    """The cluster left the launch (destroyed meanwhile)."""


class ClusterService:
    def __init__(self, db: Database, data_dir: Path, settings: ClusterSettings, *,
                 containers: ContainerRuntime | None = None) -> None:
        self.store = ClusterStore(db)
        self.products = Products(ProductStore(db))
        self.hosts = HostService(HostStore(db), containers, down_after=settings.host_down_after_seconds)
        self.settings = settings
        self.context = Context(data_dir=data_dir.resolve(), containers=containers, hosts=self.hosts)
        self.changed = threading.Event()  # wakes the scheduler (a launch, a destroy)
        # Set by the cluster duties: True while this process holds their lease, False while another
        # does, None where no duties run (then this process acts on its own nodes itself).
        self.leading: bool | None = None
        self._busy: dict[str, threading.Event] = {}  # cluster id → its launch/repair's stop flag
        self._lock = threading.Lock()

    def orchestrator(self, name: str) -> Orchestrator:
        return orchestrator.load(name, self.context)

    # -- launch -----------------------------------------------------------------------------
    def launch(self, owner: str, name: str, version: str, body: Any, *, team: str = DEFAULT_TEAM) -> Cluster:
        """Check everything that can be checked now (422 naming the problem), then register."""
        product = self.products.get(name, version)
        if not isinstance(body, dict):
            raise InvalidInput('the launch body must be an object of options, e.g. {"size": 2}')
        if not product.template:
            raise InvalidInput(f"product {name} {version} has no template yet: PUT one at "
                               f"/products/{name}/{version}/template")
        options = ProductOptions.model_validate(product.options)
        opts = options.merge(body)
        size_option = options.size_option()
        size = opts.get(size_option) if size_option else None
        template = product.template
        spec = render_spec(product, template, product.template_format, opts, user=owner,
                           cluster_id="pending", number=0)
        orch_name = default_orchestrator(product.orchestrator, spec)
        orch = self.orchestrator(orch_name)
        orch.check(spec, opts)
        needs = spec.needs() if orch.uses_capacity else (0, 0)
        if orch.uses_capacity:
            # Against every host it could use, empty, drained or not: what fails here never fits.
            empty = [Room(h.name, h.cores, h.mem) for h in self.hosts.store.list() if orch.runs_on(h)]
            never = place(_wants(spec), empty).reason
            if never is not None:
                raise InvalidInput("this cluster can never fit on the registered hosts: "
                                   + never.removeprefix("waiting for a host: ") + " (even with nothing else running)")

        def final_spec(cluster_id: str, number: int) -> dict[str, Any]:
            # Rendered again with the cluster's own id and number (`clusterid`, `clusterdn`): the
            # check above used placeholders; nodes and needs do not depend on them.
            return render_spec(product, template, product.template_format, opts, user=owner,
                               cluster_id=cluster_id, number=number).model_dump()

        cluster = self.store.register(owner=owner, product=name, version=version,
                                      size=size if isinstance(size, int) else None, options=opts,
                                      spec=final_spec, orchestrator=orch_name, needs=needs, team=team)
        self.changed.set()
        return cluster

    # -- scheduling --------------------------------------------------------------------------
    def schedule(self) -> None:
        """Admit waiting clusters in FIFO order while the hosts' capacity allows, each node placed on
        a host with room for it (core/placement.py); the first that does not fit waits (with the
        reason, host by host) and so do all behind it."""
        for cluster in self.store.list(status="registered"):
            self.store.transition(cluster.id, "scheduling", allowed_from=("registered",))
        for cluster in self.store.list(status="scheduling"):
            over = self._over_team_quota(cluster)
            if over is not None:  # its team's quota: it waits, and other teams' clusters go on
                self.store.set_reason(cluster.id, over)
                continue
            orch = self.orchestrator(cluster.orchestrator)
            spec = ClusterSpec.model_validate(cluster.spec)
            placed: dict[str, str] = {}
            if orch.uses_capacity:
                placement = place(_wants(spec), self.hosts.store.rooms(orch.runs_on))
                if placement.reason is not None:
                    self.store.set_reason(cluster.id, placement.reason)
                    return
                placed = placement.hosts
            # The placement is recorded with the admission, so the next cluster sees it as taken.
            self.store.set_nodes(cluster.id, [_planned(cluster.id, name, node.cpu, node.mem, placed.get(name))
                                              for name, node in spec.nodes.items()] if placed else [])
            if self.store.transition(cluster.id, "scheduled", allowed_from=("scheduling",)):
                self._in_thread(cluster.id, self._launch)

    def _over_team_quota(self, cluster: Cluster) -> str | None:
        """Why a cluster waits for its team's quota of cores or memory (docs/teams.md), or None."""
        cores, mem = self.store.team_room(cluster.team_id)
        if cores is not None and cluster.needs_cores > cores:
            return (f"waiting for team {cluster.team_id}'s quota: needs {cluster.needs_cores} cores, "
                    f"{max(cores, 0)} left of the team's max_cores")
        if mem is not None and cluster.needs_mem > mem:
            return (f"waiting for team {cluster.team_id}'s quota: needs {cluster.needs_mem} MB, "
                    f"{max(mem, 0)} left of the team's max_memory_mb")
        return None

    def _in_thread(self, cluster_id: str, work: Any) -> None:
        with self._lock:
            if cluster_id in self._busy:
                return
            stop = self._busy[cluster_id] = threading.Event()

        def run() -> None:
            try:
                work(cluster_id, stop)
            except Exception:
                log.exception("cluster %s: unexpected error", cluster_id)
            finally:
                with self._lock:
                    self._busy.pop(cluster_id, None)
                self.changed.set()

        threading.Thread(target=run, name=f"stoker-cluster-{cluster_id[:8]}", daemon=True).start()

    def busy(self, cluster_id: str) -> bool:
        with self._lock:
            return cluster_id in self._busy

    def _launch(self, cluster_id: str, stop: threading.Event) -> None:
        cluster = self.store.get(cluster_id)
        orch = self.orchestrator(cluster.orchestrator)
        nodes: list[Node] = []
        try:
            self._move(cluster_id, "configuring", ("scheduled",))
            placed = {n.name: n.host_name for n in self.store.nodes(cluster_id) if n.host_name}
            hosts = {h.name: h for h in self.hosts.store.list()}
            nodes = [msgspec.structs.replace(n, host_name=placed.get(n.name)) for n in orch.plan(
                cluster, ClusterSpec.model_validate(cluster.spec),
                {node: hosts[host] for node, host in placed.items() if host in hosts})]
            self.store.set_nodes(cluster_id, nodes)
            master_url, web_url = orch.urls(cluster, nodes)
            cluster = msgspec.structs.replace(cluster, master_url=master_url, web_url=web_url)
            for index in sorted(range(len(nodes)), key=lambda i: nodes[i].role != "master"):  # the master first
                _check(stop)
                self._start(orch, cluster, nodes, index)
            self._move(cluster_id, "configured", ("configuring",), master_url=master_url, web_url=web_url)
            self._wait_ready(orch, cluster, nodes, stop)
            self._move(cluster_id, "ready", ("configured",))
        except Stopped:
            self._stop_nodes(orch, cluster_id, nodes)
        except Exception as exc:
            plain = isinstance(exc, (LaunchFailed, NodeFailed, InvalidInput))
            reason = str(exc) if plain else f"{type(exc).__name__}: {exc}"
            log.warning("cluster %s failed: %s", cluster_id, reason)
            self._stop_nodes(orch, cluster_id, nodes)
            self.store.transition(cluster_id, "failed", allowed_from=LAUNCHING, reason=reason)

    def _start(self, orch: Orchestrator, cluster: Cluster, nodes: list[Node], index: int) -> None:
        """Start `nodes[index]`, which becomes the node as started (its process), and record it."""
        node = nodes[index] = msgspec.structs.replace(nodes[index], **orch.start(cluster, nodes[index]))
        self.store.update_node(cluster.id, node.name, pid=node.pid, pid_started_at=node.pid_started_at,
                               state=node.state, host=node.host, host_name=node.host_name, port=node.port,
                               web_port=node.web_port, workdir=node.workdir)

    def _wait_ready(self, orch: Orchestrator, cluster: Cluster, nodes: list[Node],
                    stop: threading.Event) -> None:
        deadline = time.monotonic() + self.settings.launch_timeout_seconds
        while True:
            _check(stop)
            try:
                waiting = orch.ready(cluster, nodes)
            except Exception as exc:  # a node died while starting
                raise LaunchFailed(str(exc)) from exc
            if waiting is None:
                return
            if time.monotonic() > deadline:
                master = next((n for n in nodes if n.role == "master"), None)
                tail = orch.log_tail(master) if master else ""
                raise LaunchFailed(f"not ready after {self.settings.launch_timeout_seconds:.0f} s: {waiting}"
                                   + (f"; the master's log ends with:\n{tail}" if tail else ""))
            stop.wait(0.2)

    def _move(self, cluster_id: str, to: str, allowed_from: tuple[str, ...], **values: Any) -> None:
        if not self.store.transition(cluster_id, to, allowed_from=allowed_from, **values):
            raise Stopped

    def _stop_nodes(self, orch: Orchestrator, cluster_id: str, nodes: list[Node]) -> None:
        recorded = {n.name: n for n in self.store.nodes(cluster_id)}
        # Every node, started or not: one may be running whose start was not recorded yet (a
        # container is found by its labels; a process node without a pid is nothing to stop).
        down = self.hosts.down()
        for node in [*nodes, *recorded.values()]:
            if node.state == "stopped":
                continue
            try:
                orch.stop(node)
            except Exception as exc:
                if node.host_name not in down:
                    raise
                # Its host does not answer: what runs there cannot be reached (a dead machine keeps
                # nothing running; one cut off by the network keeps its container until removed).
                log.warning("cluster %s: node %s is on host %s, which does not answer; not stopped (%s)",
                            cluster_id, node.name, node.host_name, exc)
        for name in recorded:
            self.store.update_node(cluster_id, name, state="stopped")

    # -- destroy, repair ------------------------------------------------------------------------
    def destroy(self, cluster_id: str, team: str | None = None) -> Cluster:
        """Destroy a cluster (of `team`, when given: another team's is not found)."""
        cluster = self.store.get(cluster_id, team)
        if cluster.status == "destroyed":
            return cluster
        with self._lock:
            flag = self._busy.get(cluster_id)
        if flag is not None:
            flag.set()  # a launch or repair in progress stops and cleans up what it started
        if self.leading is False:
            # Another replica runs the duties, and so the nodes, maybe on another host: it stops
            # them at its next reconcile (stop_destroyed_nodes); here the cluster is only marked.
            self.store.transition(cluster_id, "destroyed", allowed_from=LIVE)
            self.changed.set()
            return self.store.get(cluster_id)
        orch = self.orchestrator(cluster.orchestrator)
        self._stop_nodes(orch, cluster_id, [])
        self.store.transition(cluster_id, "destroyed", allowed_from=LIVE)
        self._stop_nodes(orch, cluster_id, [])  # a node recorded by a launch racing the destroy
        self.changed.set()
        return self.store.get(cluster_id)

    def stop_destroyed_nodes(self) -> None:
        """Stop the nodes of clusters destroyed through a replica that does not run them (a duty)."""
        for cluster_id in self.store.gone_with_nodes_up():
            if not self.busy(cluster_id):
                cluster = self.store.get(cluster_id)
                self._stop_nodes(self.orchestrator(cluster.orchestrator), cluster_id, [])

    def repair(self, cluster_id: str, team: str | None = None) -> Cluster:
        """Ask for a repair; the process running the cluster duties (maybe another replica)
        carries it out at its next round. Of `team`, when given."""
        cluster = self.store.get(cluster_id, team)
        if not self.store.request_repair(cluster_id):
            cluster = self.store.get(cluster_id)
            raise Conflict(f"cluster {cluster_id} is {cluster.status}; only a degraded cluster is repaired",
                           status=cluster.status)
        self.changed.set()
        return cluster

    def run_repairs(self) -> None:
        """Start the repairs asked for (a duty: only in the process holding the duties' lease)."""
        for cluster_id in self.store.take_repair_requests():
            self._in_thread(cluster_id, self._repair)

    def _repair(self, cluster_id: str, stop: threading.Event) -> None:
        """Start the lost nodes again: on their host when it answers, else on another host with
        room for them (a moved master means new URLs, and every worker restarts to join it)."""
        cluster = self.store.get(cluster_id)
        orch = self.orchestrator(cluster.orchestrator)
        nodes = self.store.nodes(cluster_id)
        down = self.hosts.down()
        lost = {n.name for n in nodes if n.host_name in down or not orch.alive(n)}
        stranded = [n for n in nodes if n.name in lost and n.host_name in down]
        moved: dict[str, str] = {}
        if stranded:
            placement = place([Want(n.name, n.cpu, n.mem) for n in stranded], self.hosts.store.rooms(orch.runs_on))
            if placement.reason is not None:
                self.store.set_reason(cluster_id, f"repair waits: {placement.reason}")
                return
            moved = placement.hosts
        restarted = []
        try:
            if moved:
                hosts = {h.name: h for h in self.hosts.store.list()}
                fresh = {n.name: n for n in orch.plan(cluster, ClusterSpec.model_validate(cluster.spec),
                                                      {name: hosts[h] for name, h in moved.items()})}
                nodes = [msgspec.structs.replace(n, host=fresh[n.name].host, port=fresh[n.name].port,
                                                 web_port=fresh[n.name].web_port, workdir=fresh[n.name].workdir,
                                                 host_name=moved[n.name], state="planned", pid=None,
                                                 pid_started_at=None) if n.name in moved else n for n in nodes]
                if any(n.role == "master" and n.name in moved for n in nodes):
                    master_url, web_url = orch.urls(cluster, nodes)
                    self.store.set_urls(cluster_id, master_url, web_url)
                    cluster = msgspec.structs.replace(cluster, master_url=master_url, web_url=web_url)
                    lost |= {n.name for n in nodes if n.role != "master"}  # they join the new master
            for index in sorted(range(len(nodes)), key=lambda i: nodes[i].role != "master"):
                if nodes[index].name not in lost:
                    continue
                _check(stop)
                if nodes[index].name not in moved:
                    orch.stop(nodes[index])  # what is left of its group (e.g. executors of a killed worker)
                self._start(orch, cluster, nodes, index)
                name = nodes[index].name
                restarted.append(name + (f" on {moved[name]}" if name in moved else ""))
            self._wait_ready(orch, cluster, nodes, stop)
        except Stopped:
            return
        except Exception as exc:
            self.store.set_reason(cluster_id, f"repair failed: {exc}")
            return
        self.store.transition(cluster_id, "ready", allowed_from=("degraded",),
                              reason=f"repaired: restarted {', '.join(restarted) or 'nothing'}")

    # -- reconcile ---------------------------------------------------------------------------
    def check_hosts(self) -> None:
        """Ask every host's container API whether it answers (a duty, before the reconcile)."""
        if self.hosts.check():
            self.changed.set()

    def reconcile(self) -> None:
        """Compare recorded nodes with reality: a dead node of a ready cluster, or a node on a host
        that stopped answering, makes it degraded; a launch that no thread of this process drives
        (cut off by a restart) fails and is cleaned up."""
        down, unsure = self.hosts.down(), self.hosts.unsure()
        for cluster in self.store.list(statuses=(*HOLDING,)):
            if self.busy(cluster.id):
                continue
            try:
                self._reconcile(cluster, down, unsure)
            except Exception as exc:  # e.g. the container runtime is away: nothing is concluded
                log.warning("cluster %s: could not check its nodes (%s); trying again", cluster.id, exc)

    def _reconcile(self, cluster: Cluster, down: set[str], unsure: set[str]) -> None:
        orch = self.orchestrator(cluster.orchestrator)
        if cluster.status in LAUNCHING:
            self._stop_nodes(orch, cluster.id, [])
            self.store.transition(cluster.id, "failed", allowed_from=LAUNCHING,
                                  reason="the launch was cut off (Stoker stopped while it ran); "
                                         "everything it started was stopped")
            return
        # Nodes on a host failing its checks (not yet down) are not asked: nothing is concluded.
        nodes = [n for n in self.store.nodes(cluster.id) if n.state == "running" and n.host_name not in unsure]
        # A host that does not answer is not asked about its nodes: they are lost with it.
        stranded = [n for n in nodes if n.host_name in down]
        dead = [n for n in nodes if n.host_name not in down and not orch.alive(n)]
        for node in [*stranded, *dead]:
            self.store.update_node(cluster.id, node.name, state="dead")
        if (stranded or dead) and cluster.status == "ready":
            reasons = [f"node(s) {', '.join(n.name for n in dead)} died"] if dead else []
            for host in sorted({str(n.host_name) for n in stranded}):
                names = ", ".join(n.name for n in stranded if n.host_name == host)
                reasons.append(f"host {host} stopped answering: node(s) {names} lost")
            self.store.transition(cluster.id, "degraded", allowed_from=("ready",), reason="; ".join(reasons))

    # -- reads -------------------------------------------------------------------------------
    def get(self, cluster_id: str) -> Cluster:
        return self.store.get(cluster_id)


class LaunchFailed(Exception):
    pass


def _wants(spec: ClusterSpec) -> list[Want]:
    return [Want(name, node.cpu, node.mem) for name, node in spec.nodes.items()]


def _planned(cluster_id: str, name: str, cpu: int, mem: int, host_name: str | None) -> Node:
    """A node as admission records it: where it goes and what it takes; nothing started."""
    return Node(cluster_id=cluster_id, name=name, service=None, role=None, cpu=cpu, mem=mem, host=None, port=None,
                web_port=None, pid=None, pid_started_at=None, state="planned", workdir=None, host_name=host_name)


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise Stopped

