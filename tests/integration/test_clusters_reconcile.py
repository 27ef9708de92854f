"""The reconciler against real processes: a launch cut off by a restart of Stoker is failed and
what it started is stopped; a dead node of a ready cluster makes it degraded, naming the node."""

from __future__ import annotations

import itertools
import subprocess
import time

from stoker.clusters import processes
from stoker.store.records.clusters import Cluster, Node


def _cluster_in(services, status: str) -> Cluster:
    service = services.clusters
    cluster = service.store.register(owner="alice", product="spark-standalone", version="4.3", size=1,
                                     options={}, spec={"nodes": {}}, orchestrator="local", needs=(2, 768))
    path = ["registered", "scheduling", "scheduled", "configuring", "configured", "ready"]
    for before, after in itertools.pairwise(path):
        service.store.transition(cluster.id, after, allowed_from=(before,))
        if after == status:
            break
    return cluster


def _node(cluster: Cluster, name: str, proc: subprocess.Popen, role: str) -> Node:
    return Node(cluster_id=cluster.id, name=name, service=f"spark-{role}", role=role, cpu=1, mem=256,
                host="127.0.0.1", port=None, web_port=None, pid=proc.pid,
                pid_started_at=processes.started_at(proc.pid), state="running", workdir=None)


def test_a_launch_cut_off_by_a_restart_is_failed_and_its_processes_stopped(services):
    cluster = _cluster_in(services, "configured")
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        services.clusters.store.set_nodes(cluster.id, [_node(cluster, "master", proc, "master")])
        services.clusters.reconcile()  # no launch thread of this process drives it: cut off
        view = services.clusters.store.get(cluster.id)
        assert view.status == "failed" and "cut off" in view.reason
        assert proc.wait(timeout=15) is not None  # stopped (SIGTERM to its process group)
        assert services.clusters.store.nodes(cluster.id)[0].state == "stopped"
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_node_makes_a_ready_cluster_degraded(services):
    cluster = _cluster_in(services, "ready")
    alive = subprocess.Popen(["sleep", "120"], start_new_session=True)
    dead = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        services.clusters.store.set_nodes(cluster.id, [_node(cluster, "master", alive, "master"),
                                                          _node(cluster, "worker0", dead, "worker")])
        services.clusters.reconcile()
        assert services.clusters.store.get(cluster.id).status == "ready"
        dead.kill()
        dead.wait()
        time.sleep(0.05)
        services.clusters.reconcile()
        view = services.clusters.store.get(cluster.id)
        assert view.status == "degraded" and "worker0" in view.reason
        states = {n.name: n.state for n in services.clusters.store.nodes(cluster.id)}
        assert states == {"master": "running", "worker0": "dead"}
    finally:
        for proc in (alive, dead):
            proc.kill()
            proc.wait()
