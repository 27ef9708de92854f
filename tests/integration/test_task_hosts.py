"""Container tasks placed on hosts in the claim (store/task_hosts.py, docs/hosts.md), against SQLite
and PostgreSQL: spread by each host's free room, never on a draining or down host, the room held
while the attempt runs (also as cluster placement sees it), a reason when nothing fits, and the
runtime-less worker that gets only runs placed on a registered host."""

from __future__ import annotations

from stoker.core.states import Outcome
from stoker.store.hosts import HostStore
from stoker.store.queue import Ending, Queue
from stoker.store.runs import NewRun, RunStore

SPEC = {"image": "busybox", "cpus": 1, "memory_mb": 256}


def _setup(database, *, hosts=(("node1", 3), ("node2", 3)), times=4, spec=SPEC):
    runs, queue, store = RunStore(database), Queue(database), HostStore(database)
    for name, cores in hosts:
        store.create(name, endpoint=f"tcp://10.0.0.{len(name)}:{8800 + cores}", address="10.0.0.1",
                     cores=cores, mem=4096)
    job = runs.jobs.create("box", "container", spec, max_concurrent_runs=10, backoff_seconds=0)
    subs = runs.submit(job.id, [NewRun(options={"container": spec}, lane="container") for _ in range(times)])
    return runs, queue, store, [s.run_id for s in subs]


def test_times_4_spreads_over_both_hosts_and_holds_their_room(database):
    runs, queue, store, ids = _setup(database)
    claimed = queue.claim("w", limit=10, lanes=("container",))
    hosts = [c.host for c in claimed]
    assert sorted(hosts) == ["node1", "node1", "node2", "node2"]
    endpoints = {h.name: h.endpoint for h in store.list()}
    assert all(c.host_endpoint == endpoints[c.host] for c in claimed)
    assert {a.host_name for r in ids for a in runs.get(r).attempts or ()} == {"node1", "node2"}
    assert {n: (u.cores, u.mem) for n, u in store.usage().items()} == {"node1": (2, 512), "node2": (2, 512)}
    # A cluster's placement sees the tasks' room as taken.
    assert {r.host: r.cores for r in store.rooms()} == {"node1": 1, "node2": 1}
    for c in claimed:
        queue.finish(Ending(c.attempt_id, Outcome.SUCCEEDED, result={}))
    assert store.usage() == {}


def test_one_claim_at_a_time_also_spreads(database):
    _, queue, _, _ = _setup(database)
    hosts = [queue.claim("w", limit=1, lanes=("container",))[0].host for _ in range(4)]
    assert hosts == ["node1", "node2", "node1", "node2"]  # the most free room first (ties: by name)


def test_a_draining_host_gets_nothing_and_a_run_that_fits_nowhere_waits_saying_why(database):
    runs, queue, store, ids = _setup(database)
    store.set_state("node2", "draining")
    claimed = queue.claim("w", limit=10, lanes=("container",))
    assert [c.host for c in claimed] == ["node1"] * 3  # node1's 3 cores; node2 drains
    [left] = [r for r in ids if runs.get(r).state == "QUEUED"]
    assert runs.get(left).waiting == (
        "waiting for a host: needs 1 cores and 256 MB in all; this run (1 cores, 256 MB) fits on none: "
        "node1 has 0 cores and 3328 MB free; node2 is draining")
    store.set_state("node2", "active")
    [late] = queue.claim("w", limit=10, lanes=("container",))
    assert late.run_id == left and late.host == "node2"
    assert runs.get(left).waiting is None


def test_a_down_host_gets_nothing(database):
    _, queue, store, _ = _setup(database, times=1)
    store.record_check("node1", up=False, error="refused", down_after=0)
    [claimed] = queue.claim("w", limit=10, lanes=("container",))
    assert claimed.host == "node2"


def test_without_hosts_container_runs_run_on_the_claiming_workers_runtime(database):
    _, queue, _, _ = _setup(database, hosts=(), times=2)
    assert queue.claim("w", limit=10, lanes=("container",), own_runtime=False) == []  # it has none
    claimed = queue.claim("w", limit=10, lanes=("container",))
    assert [(c.host, c.host_endpoint) for c in claimed] == [(None, None), (None, None)]


def test_a_worker_without_a_runtime_gets_no_run_placed_on_the_local_machine(database):
    runs, queue, store, ids = _setup(database, hosts=(), times=2)
    store.ensure_local("local", address="127.0.0.1", cores=8, mem=8192)
    assert queue.claim("w", limit=10, lanes=("container",), own_runtime=False) == []
    assert "local is the local machine's, and this worker has no container runtime of its own" in str(
        runs.get(ids[0]).waiting)
    claimed = queue.claim("w", limit=10, lanes=("container",))
    assert [(c.host, c.host_endpoint) for c in claimed] == [("local", None), ("local", None)]


def test_a_retry_on_another_host_is_told_where_the_earlier_attempt_ran(database):
    _, queue, store, _ = _setup(database, times=1)
    [first] = queue.claim("w", limit=10, lanes=("container",))
    assert first.host == "node1" and first.earlier_host_endpoint is None
    queue.finish(Ending(first.attempt_id, Outcome.FAILED, error="its host stopped answering"))
    store.set_state("node1", "draining")
    [again] = queue.claim("w", limit=10, lanes=("container",))
    endpoints = {h.name: h.endpoint for h in store.list()}
    assert again.run_id == first.run_id and again.number == 2
    assert again.host == "node2" and again.earlier_host_endpoint == endpoints["node1"]



def test_the_api_shows_why_a_container_run_waits_for_a_host(services):
    from fastapi.testclient import TestClient

    from conftest import ADMIN_TOKEN
    from stoker.app import create_app

    services.clusters.hosts.register("node1", endpoint="tcp://10.0.0.9:8888", cores=2, mem=1024)
    services.clusters.hosts.drain("local")
    spec = {"image": "busybox", "cpus": 1, "memory_mb": 2048}  # more memory than any host has
    job = services.runs.jobs.create("big", "container", spec)
    [sub] = services.runs.submit(job.id, [NewRun(options={"container": spec}, lane="container")])
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        assert client.get(f"/api/v1/runs/{sub.run_id}").json()["waiting_for"] is None  # not tried yet
        assert services.queue.claim("w", limit=5, lanes=("container",)) == []
        waiting = client.get(f"/api/v1/runs/{sub.run_id}").json()
    assert waiting["state"] == "QUEUED"
    assert waiting["waiting_for"].startswith("waiting for a host: needs 1 cores and 2048 MB in all")
    assert waiting["waiting_for"].endswith("local is draining; node1 has 2 cores and 1024 MB free")
