"""A run whose Spark settings ask for executors larger than every worker of its cluster is refused at
submit (a standalone master would never start them: the run would wait for ever), and nothing is
queued; settings that fit, or none, are taken."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import create_app

STEPS = [["range", 10], ["count"]]


def test_executors_larger_than_every_worker_are_refused_at_submit(services):
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        launched = client.post("/api/v1/products/spark-standalone/4.3/clusters",
                               json={"size": 2, "worker.cores": 1, "worker.mem": 512})
        assert launched.status_code == 202, launched.text
        cluster = launched.json()["id"]
        # Executor settings need an application of the run's own: a job in submit mode.
        made = client.post("/api/v1/jobs", json={"name": "nightly", "steps": STEPS, "mode": "submit",
                                                 "cluster": cluster})
        assert made.status_code == 201, made.text
        for conf, says in (({"spark.executor.memory": "2g"}, "512 MiB"), ({"spark.executor.cores": "2"}, "1 cores")):
            refused = client.post("/api/v1/jobs/nightly/runs", json={"conf": conf})
            assert refused.status_code == 422, refused.text
            assert "never start" in refused.json()["detail"] and says in refused.json()["detail"]
        big = client.post("/api/v1/jobs", json={"name": "big", "steps": STEPS, "mode": "submit", "cluster": cluster,
                                                "conf": {"spark.executor.memory": "1g"}})
        assert big.status_code == 201, big.text
        assert client.post("/api/v1/jobs/big/runs", json={}).status_code == 422  # the job's own settings
        assert client.get("/api/v1/runs").json()["runs"] == []  # nothing queued
        for conf in ({"spark.executor.memory": "512m"}, {}):
            taken = client.post("/api/v1/jobs/nightly/runs", json={"conf": conf})
            assert taken.status_code == 201, taken.text


def test_a_tuned_layer_that_fits_no_worker_is_left_out_of_the_run(services):
    """The tuning loop may ask for more memory (a GC finding: 1.5×); on a cluster whose workers are
    smaller the run goes on with the user's settings instead of waiting for ever."""
    from stoker.submission.runs import Submitter

    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        cluster = client.post("/api/v1/products/spark-standalone/4.3/clusters",
                              json={"size": 1, "worker.cores": 2, "worker.mem": 1024}).json()["id"]
    submitter = Submitter(services)
    own = {"job": {"spark.executor.memory": "1g"}}
    assert submitter._fit_cluster({**own, "tuning": {"spark.executor.memory": "1536m"}}, cluster) == own
    fitting = {**own, "tuning": {"spark.executor.cores": "2"}}
    assert submitter._fit_cluster(fitting, cluster) == fitting
    assert submitter._fit_cluster({"tuning": {"spark.executor.memory": "4g"}}, cluster) is None


def test_the_tuning_loop_reads_the_sizes_of_the_workers_a_run_ran_on(services):
    """What a proposal must fit (tuning/recommend.py): each finished run comes with its cluster's
    worker sizes, so the loop never proposes an executor no worker can host."""
    import sqlalchemy as sa

    from stoker.store.tables import runs
    from stoker.store.tuning import TuningStore

    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        cluster = client.post("/api/v1/products/spark-standalone/4.3/clusters",
                              json={"size": 2, "worker.cores": 1, "worker.mem": 640}).json()["id"]
        made = client.post("/api/v1/jobs", json={"name": "nightly", "steps": STEPS, "mode": "submit",
                                                 "cluster": cluster, "tuning": {"mode": "auto"}})
        assert made.status_code == 201, made.text
        run = client.post("/api/v1/jobs/nightly/runs", json={})
        assert run.status_code == 201, run.text
    with services.db.write() as conn:  # as if it ran (the cluster is only planned here)
        conn.execute(sa.update(runs).where(runs.c.id == run.json()["id"]).values(state="SUCCEEDED", finished_at=1.0))
    (finished,) = TuningStore(services.db).unprofiled(services.runs.jobs.get("nightly").id)
    assert finished.workers == ((1, 640), (1, 640))
