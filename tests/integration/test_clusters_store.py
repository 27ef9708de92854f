"""The cluster store on SQLite and PostgreSQL: conditional transitions with their history and
events, FIFO capacity accounting, and the runs waiting for a cluster (parked, released, failed)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stoker.clusters.products import Products
from stoker.core.errors import Conflict, NotFound
from stoker.store.clusters import PARKED_AT, ClusterStore, ProductStore, parked_reason
from stoker.store.runs import NewRun, RunStore
from stoker.store.tables import outbox, runs


def _cluster(database, needs=(3, 1280)):
    Products(ProductStore(database)).ensure_builtins()
    return ClusterStore(database).register(owner="alice", product="spark-standalone", version="4.3", size=2,
                                           options={}, spec={"nodes": {}}, orchestrator="local", needs=needs)


def test_transitions_are_conditional_and_recorded(database):
    store = ClusterStore(database)
    cluster = _cluster(database)
    assert cluster.status == "registered" and cluster.number == 1
    assert store.transition(cluster.id, "scheduling", allowed_from=("registered",))
    assert not store.transition(cluster.id, "scheduled", allowed_from=("registered",))  # it moved on
    assert store.transition(cluster.id, "scheduled", allowed_from=("scheduling",))
    assert store.used() == (3, 1280)
    assert [h.status for h in store.history(cluster.id)] == ["registered", "scheduling", "scheduled"]
    with database.read() as conn:
        events = conn.execute(sa.select(outbox.c.event).where(outbox.c.run_id.is_(None))).scalars().all()
    assert events == ["cluster.registered", "cluster.scheduling", "cluster.scheduled"]
    second = ClusterStore(database).register(owner="alice", product="spark-standalone", version="4.3", size=1,
                                             options={}, spec={}, orchestrator="local", needs=(2, 768))
    assert second.number == 2


def test_runs_wait_for_their_cluster_and_fail_when_it_is_gone(database):
    store = ClusterStore(database)
    cluster = _cluster(database)
    cid = cluster.id
    reason = parked_reason(database, cid)
    assert reason is not None and "registered" in reason
    run_store = RunStore(database)
    parked, other = run_store.submit(None, [NewRun(steps=[["noop"]], options={"cluster": cid}),
                                            NewRun(steps=[["noop"]], options={"cluster": "another"})])
    with database.write() as conn:
        conn.execute(runs.update().where(runs.c.id.in_([parked.run_id, other.run_id]))
                     .values(available_at=PARKED_AT, error=reason))
    for status, source in [("scheduling", "registered"), ("scheduled", "scheduling"),
                           ("configuring", "scheduled"), ("configured", "configuring"), ("ready", "configured")]:
        store.transition(cid, status, allowed_from=(source,))
    ready = run_store.get(parked.run_id)
    assert ready.state == "QUEUED" and ready.error is None
    assert run_store.get(other.run_id).error == reason  # another cluster's run stays parked
    assert parked_reason(database, cid) is None
    store.transition(cid, "destroyed", allowed_from=("ready",))
    gone = run_store.get(parked.run_id)
    assert gone.state == "FAILED" and f"cluster {cid} is destroyed" in gone.error
    with database.read() as conn:  # its event, from run_event, names the run's job (adhoc here)
        [failed] = conn.execute(sa.select(outbox.c.payload).where(outbox.c.run_id == parked.run_id,
                                                                  outbox.c.event == "failed")).scalars().all()
    assert failed["job"] == "adhoc" and failed["state"] == "FAILED" and failed["error"] == gone.error
    with pytest.raises(Conflict, match="destroyed"):
        parked_reason(database, cid)
    with pytest.raises(NotFound):
        parked_reason(database, "nope")
