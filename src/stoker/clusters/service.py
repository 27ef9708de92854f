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
from stoker.clusters.options import ProductOptions
from stoker.clusters.orchestrator import Context, NodeFailed, Orchestrator
from stoker.clusters.products import Products, default_orchestrator, render_spec
from stoker.clusters.spec import ClusterSpec
from stoker.config import ClusterSettings
from stoker.core.errors import Conflict, InvalidInput
from stoker.store.clusters import HOLDING, LIVE, ClusterStore, ProductStore
from stoker.store.db import Database
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
        self.settings = settings
        self.context = Context(data_dir=data_dir.resolve(), containers=containers)
        self.changed = threading.Event()  # wakes the scheduler (a launch, a destroy)
        # Set by the cluster duties: True while this process holds their lease, False while another
        # does, None where no duties run (then this process acts on its own nodes itself).
        self.leading: bool | None = None
        self._busy: dict[str, threading.Event] = {}  # cluster id → its launch/repair's stop flag
        self._lock = threading.Lock()

    def orchestrator(self, name: str) -> Orchestrator:
        return orchestrator.load(name, self.context)

    # -- launch -----------------------------------------------------------------------------
    def launch(self, owner: str, name: str, version: str, body: Any) -> Cluster:
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
        cap = self.settings.capacity
        if needs[0] > cap.cores or needs[1] > cap.mem:
            raise InvalidInput(f"this cluster can never fit: it needs {needs[0]} cores and {needs[1]} MB; the "
                               f"registered capacity is {cap.cores} cores and {cap.mem} MB")

        def final_spec(cluster_id: str, number: int) -> dict[str, Any]:
            # Rendered again with the cluster's own id and number (`clusterid`, `clusterdn`): the
            # check above used placeholders; nodes and needs do not depend on them.
            return render_spec(product, template, product.template_format, opts, user=owner,
                               cluster_id=cluster_id, number=number).model_dump()

        cluster = self.store.register(owner=owner, product=name, version=version,
                                      size=size if isinstance(size, int) else None, options=opts,
                                      spec=final_spec, orchestrator=orch_name, needs=needs)
        self.changed.set()
        return cluster

    # -- scheduling --------------------------------------------------------------------------
    def schedule(self) -> None:
        """Admit waiting clusters in FIFO order while the capacity allows; the first that does not
        fit waits (with the reason) and so do all behind it."""
        for cluster in self.store.list(status="registered"):
            self.store.transition(cluster.id, "scheduling", allowed_from=("registered",))
        cap = self.settings.capacity
        used_cores, used_mem = self.store.used()
        for cluster in self.store.list(status="scheduling"):
            free_cores, free_mem = cap.cores - used_cores, cap.mem - used_mem
            if cluster.needs_cores > free_cores or cluster.needs_mem > free_mem:
                self.store.set_reason(cluster.id, f"waiting for capacity: needs {cluster.needs_cores} cores "
                                      f"and {cluster.needs_mem} MB, {free_cores} cores and {free_mem} MB free")
                return
            if self.store.transition(cluster.id, "scheduled", allowed_from=("scheduling",)):
                used_cores, used_mem = used_cores + cluster.needs_cores, used_mem + cluster.needs_mem
                self._in_thread(cluster.id, self._launch)

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
            nodes = orch.plan(cluster, ClusterSpec.model_validate(cluster.spec))
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
                               state=node.state, host=node.host)

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
        for node in [*nodes, *recorded.values()]:
            if node.state != "stopped":
                orch.stop(node)
        for name in recorded:
            self.store.update_node(cluster_id, name, state="stopped")

    # -- destroy, repair ------------------------------------------------------------------------
    def destroy(self, cluster_id: str) -> Cluster:
        cluster = self.store.get(cluster_id)
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

    def repair(self, cluster_id: str) -> Cluster:
        """Ask for a repair; the process running the cluster duties (maybe another replica)
        carries it out at its next round."""
        cluster = self.store.get(cluster_id)
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
        cluster = self.store.get(cluster_id)
        orch = self.orchestrator(cluster.orchestrator)
        nodes = self.store.nodes(cluster_id)
        restarted = []
        try:
            for index in sorted(range(len(nodes)), key=lambda i: nodes[i].role != "master"):
                if not orch.alive(nodes[index]):
                    orch.stop(nodes[index])  # what is left of its group (e.g. executors of a killed worker)
                    self._start(orch, cluster, nodes, index)
                    restarted.append(nodes[index].name)
            self._wait_ready(orch, cluster, nodes, stop)
        except Stopped:
            return
        except Exception as exc:
            self.store.set_reason(cluster_id, f"repair failed: {exc}")
            return
        self.store.transition(cluster_id, "ready", allowed_from=("degraded",),
                              reason=f"repaired: restarted {', '.join(restarted) or 'nothing'}")

    # -- reconcile ---------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Compare recorded nodes with reality: a dead node of a ready cluster makes it degraded; a
        launch that no thread of this process drives (cut off by a restart) fails and is cleaned up."""
        for cluster in self.store.list(statuses=(*HOLDING,)):
            if self.busy(cluster.id):
                continue
            try:
                self._reconcile(cluster)
            except Exception as exc:  # e.g. the container runtime is away: nothing is concluded
                log.warning("cluster %s: could not check its nodes (%s); trying again", cluster.id, exc)

    def _reconcile(self, cluster: Cluster) -> None:
        orch = self.orchestrator(cluster.orchestrator)
        if cluster.status in LAUNCHING:
            self._stop_nodes(orch, cluster.id, [])
            self.store.transition(cluster.id, "failed", allowed_from=LAUNCHING,
                                  reason="the launch was cut off (Stoker stopped while it ran); "
                                         "everything it started was stopped")
            return
        nodes = self.store.nodes(cluster.id)
        dead = [n.name for n in nodes if n.state == "running" and not orch.alive(n)]
        for name in dead:
            self.store.update_node(cluster.id, name, state="dead")
        if dead and cluster.status == "ready":
            self.store.transition(cluster.id, "degraded", allowed_from=("ready",),
                                  reason=f"node(s) {', '.join(dead)} died")

    # -- reads -------------------------------------------------------------------------------
    def get(self, cluster_id: str) -> Cluster:
        return self.store.get(cluster_id)


class LaunchFailed(Exception):
    pass


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise Stopped

