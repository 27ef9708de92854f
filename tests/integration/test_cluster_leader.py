"""The cluster duties run in one `stoker serve` only when replicas share a database: the leader
lease (store/leases.py) on SQLite and PostgreSQL, and two app instances on one database."""

from __future__ import annotations

import contextlib
import time

import pytest

from conftest import ADMIN_TOKEN, make_services
from stoker.store.records.clusters import Node

LEASE = "cluster-duties"


# -- the lease itself ------------------------------------------------------------------------------

def test_one_holder_at_a_time_renewed_by_it_taken_over_once_expired(database):
    from stoker.store.leases import LeaseStore

    leases = LeaseStore(database)
    assert leases.hold(LEASE, "a", 0.6)
    assert not leases.hold(LEASE, "b", 0.6)  # held by a
    first = leases.get(LEASE)
    assert first.holder == "a" and not first.expired
    time.sleep(0.3)
    assert leases.hold(LEASE, "a", 0.6)  # a renews: later expiry, same acquisition
    renewed = leases.get(LEASE)
    assert renewed.expires_at > first.expires_at and renewed.acquired_at == first.acquired_at
    assert not leases.hold(LEASE, "b", 0.6)
    time.sleep(0.8)  # a stopped renewing
    assert leases.get(LEASE).expired
    assert leases.hold(LEASE, "b", 0.6)
    assert leases.get(LEASE).holder == "b"
    assert not leases.hold(LEASE, "a", 0.6)  # a, back, does not take it from b


def test_release_and_take_from_a_holder_known_gone(database):
    from stoker.store.leases import LeaseStore

    leases = LeaseStore(database)
    assert leases.hold(LEASE, "a", 30)
    assert not leases.hold(LEASE, "b", 30)
    assert not leases.hold(LEASE, "b", 30, take_from="someone-else")
    assert leases.hold(LEASE, "b", 30, take_from="a")  # a's process is known to be dead
    leases.release(LEASE, "a")  # not a's any more: nothing happens
    assert leases.get(LEASE).holder == "b"
    leases.release(LEASE, "b")
    assert leases.get(LEASE) is None
    assert leases.hold(LEASE, "a", 30)


def test_a_holder_of_this_host_whose_process_is_gone_is_recognised():
    import socket

    from stoker.clusters.duties import gone_here, new_holder

    dead_pid = 2 ** 22 + 7  # above the kernel's pid_max on these machines
    assert gone_here(f"{socket.gethostname()}/{dead_pid}/abcd1234")
    assert not gone_here(new_holder())  # this process
    assert not gone_here(f"another-host/{dead_pid}/abcd1234")  # cannot tell: wait for the expiry


# -- two replicas on one database --------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("fresh_postgres_url")


SHARED_KEY = "q8kNkqYv3lDq0m3z2tJg8n7X1Zr5b9cW4eYhU6aPoTs="


@contextlib.contextmanager
def replica(tmp_path, name, url):
    """One `stoker serve` as the tests build it: its services, app and background duties."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    # Replicas of one deployment share the master key (docs/secrets.md): each checks at start that
    # its key ring opens the database's secrets.
    services = make_services(tmp_path / name, database_url=url, secret_key=SHARED_KEY)
    background = Background(services, embedded_worker=False)
    calls = []
    schedule = services.clusters.schedule
    services.clusters.schedule = lambda: (calls.append(time.monotonic()), schedule())[1]  # type: ignore[method-assign]
    try:
        with TestClient(create_app(services, background=background),
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            client.duties = background.clusters  # type: ignore[attr-defined]
            client.services = services  # type: ignore[attr-defined]
            client.schedule_calls = calls  # type: ignore[attr-defined]
            yield client
    finally:
        services.close()


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def launch_external(client):
    r = client.post("/bigdata/api/v1/products/external/1", json={"master": "spark://10.0.0.5:7077"})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def ready(client, cluster_id):
    return client.get(f"/api/v1/clusters/{cluster_id}").json()["status"] == "ready"


def test_two_replicas_only_the_lease_holder_runs_the_duties_and_the_other_takes_over(
        tmp_path, shared_url, monkeypatch):
    monkeypatch.setenv("STOKER_CLUSTER_LEASE_SECONDS", "3")
    monkeypatch.setenv("STOKER_CLUSTER_RECONCILE_SECONDS", "0.2")
    with replica(tmp_path, "a", shared_url) as a, replica(tmp_path, "b", shared_url) as b:
        wait(lambda: a.duties.leading or b.duties.leading, 10, "a leader")
        leader, other = (a, b) if a.duties.leading else (b, a)
        time.sleep(1.0)  # several rounds of both
        assert leader.duties.leading and not other.duties.leading
        assert leader.schedule_calls and not other.schedule_calls  # only the leader schedules
        # A launch through the other replica is carried out by the leader.
        cluster_id = launch_external(other)
        wait(lambda: ready(other, cluster_id), 10, "the cluster launched through the non-leader")
        assert not other.schedule_calls

        # The leader dies without giving the lease up (its duties just stop): the other takes over
        # once the lease expires, and serves launches from then on.
        leader.duties.leases.release = lambda *args: None  # a death, not a clean stop
        leader.duties.stop()
        held = leader.duties.leases.get(LEASE)
        assert held.holder == leader.duties.holder and not held.expired
        wait(lambda: other.duties.leading, 10, "the other replica to take over")
        taken = other.duties.leases.get(LEASE)
        assert taken.holder == other.duties.holder
        assert taken.acquired_at >= held.expires_at  # not before the dead holder's lease expired
        second = launch_external(other)
        wait(lambda: ready(other, second), 10, "a launch after the take-over")
        assert other.schedule_calls


def test_a_clean_stop_hands_the_duties_over_at_once(tmp_path, shared_url, monkeypatch):
    monkeypatch.setenv("STOKER_CLUSTER_LEASE_SECONDS", "30")
    monkeypatch.setenv("STOKER_CLUSTER_RECONCILE_SECONDS", "0.2")
    import os

    with replica(tmp_path, "a", shared_url) as a:
        wait(lambda: a.duties.leading, 10, "a to lead")
        with replica(tmp_path, "b", shared_url) as b:
            time.sleep(0.5)
            assert not b.duties.leading
            # Either replica says which one runs the duties.
            for client in (a, b):
                shown = client.get("/api/v1/cluster-duties").json()
                assert shown["holder"] == a.duties.holder and shown["pid"] == os.getpid()
                assert shown["expired"] is False and shown["acquired_at"] < shown["expires_at"]
            a.duties.stop()  # released: b need not wait 30 s
            wait(lambda: b.duties.leading, 5, "b to take over")
            assert a.get("/api/v1/cluster-duties").json()["holder"] == b.duties.holder
        # b stopped cleanly too: nobody holds the lease.
        assert a.get("/api/v1/cluster-duties").json() == {
            "lease": "cluster-duties", "holder": None, "host": None, "pid": None, "acquired_at": None,
            "expires_at": None, "expired": None}


@contextlib.contextmanager
def a_ready_cluster_through_the_non_leader(tmp_path, shared_url, monkeypatch):
    """Two replicas, and a cluster launched through the one that does not lead, ready."""
    monkeypatch.setenv("STOKER_CLUSTER_RECONCILE_SECONDS", "0.2")
    with replica(tmp_path, "a", shared_url) as a, replica(tmp_path, "b", shared_url) as b:
        wait(lambda: a.duties.leading or b.duties.leading, 10, "a leader")
        leader, other = (a, b) if a.duties.leading else (b, a)
        cluster_id = launch_external(other)
        wait(lambda: ready(other, cluster_id), 10, "ready")
        yield leader, other, cluster_id


def test_a_repair_asked_through_a_non_leader_is_carried_out_by_the_leader(tmp_path, shared_url, monkeypatch):
    with a_ready_cluster_through_the_non_leader(tmp_path, shared_url, monkeypatch) as (leader, other, cluster_id):
        r = other.post(f"/api/v1/clusters/{cluster_id}/repair")
        assert r.status_code == 409, r.text  # only a degraded cluster is repaired
        repaired_by = []
        for replica_client in (leader, other):
            service = replica_client.services.clusters
            service._repair = (lambda original, who: lambda *args: (repaired_by.append(who), original(*args))[1])(
                service._repair, replica_client)
        assert other.services.clusters.store.transition(cluster_id, "degraded", allowed_from=("ready",),
                                                        reason="node(s) x died")
        assert other.post(f"/api/v1/clusters/{cluster_id}/repair").status_code == 202
        wait(lambda: ready(other, cluster_id), 10, "the repair")
        assert repaired_by == [leader]
        assert other.get(f"/api/v1/clusters/{cluster_id}").json()["reason"].startswith("repaired")


def test_a_destroy_through_a_non_leader_leaves_stopping_the_nodes_to_the_leader(tmp_path, shared_url, monkeypatch):
    """The leader runs the nodes (maybe on another host): a replica that does not lead marks the
    cluster destroyed, and the leader stops its nodes at its next round."""
    with a_ready_cluster_through_the_non_leader(tmp_path, shared_url, monkeypatch) as (leader, other, cluster_id):
        store = other.services.clusters.store
        store.set_nodes(cluster_id, [Node(cluster_id=cluster_id, name="n1", service="s", role="worker", cpu=1, mem=64,
                                          host="h", port=1, web_port=None, pid=None, pid_started_at=None,
                                          state="running", workdir=None)])
        stopped_by = []
        for replica_client in (leader, other):
            service = replica_client.services.clusters
            service._stop_nodes = (lambda original, who: lambda *args: (stopped_by.append(who), original(*args))[1])(
                service._stop_nodes, replica_client)
        r = other.delete(f"/api/v1/clusters/{cluster_id}")
        assert r.status_code == 200, r.text
        assert other.get(f"/api/v1/clusters/{cluster_id}").json()["status"] == "destroyed"
        wait(lambda: [n.state for n in store.nodes(cluster_id)] == ["stopped"], 10, "the leader to stop the node")
        assert stopped_by and set(stopped_by) == {leader}
