"""Real Spark standalone clusters launched through the API of a real `stoker serve` process: ready,
degraded by a kill -9 and repaired, still ready after Stoker is SIGKILLed and restarted, queued
by the scheduler, failed (and cleaned up) when it cannot start, destroyed leaving nothing behind.

One cluster is shared by the tests of this module (launching one takes seconds); every JVM a test
started is stopped in the fixture's teardown, even when a test fails."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import httpx
import pytest

from harness import Server, kill_every_node, wait_for
from stoker.clusters import processes

pytestmark = pytest.mark.e2e

P = "/bigdata/api/v1"
CAPACITY = {"STOKER_CLUSTER_CAPACITY": "cores=5", "STOKER_CLUSTER_RECONCILE_SECONDS": "0.3"}


class ClusterServer(Server):
    def env(self) -> dict[str, str]:
        return {**super().env(), **CAPACITY}


def wait_status(client: httpx.Client, cluster_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    def reached():
        view = client.get(f"/api/v1/clusters/{cluster_id}").json()
        return view if view["status"] in statuses else None

    return wait_for(reached, timeout, f"cluster {cluster_id} to be {statuses}")


def launch(client: httpx.Client, **options) -> str:
    r = client.post(f"{P}/products/spark-standalone/4.3", json=options)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def gone(nodes: list[dict]) -> bool:
    """No process of any node's group and no open port of any node."""
    return not any(processes.group_alive(n["pid"]) or processes.port_open("127.0.0.1", n["port"])
                   or processes.port_open("127.0.0.1", n["web_port"]) for n in nodes if n["pid"])


@pytest.fixture(scope="module")
def stoker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("clusters") / "data"
    box = {"server": ClusterServer(data_dir).start()}
    try:
        yield box
    finally:
        box["server"].stop()
        kill_every_node(data_dir)


@pytest.fixture(scope="module")
def cluster(stoker):
    with stoker["server"].client() as client:
        cluster_id = launch(client, size=2)
        view = wait_status(client, cluster_id, ("ready", "failed"))
    assert view["status"] == "ready", view["reason"]
    return cluster_id


def client_of(stoker) -> httpx.Client:
    return stoker["server"].client()


def master_json(view: dict) -> dict:
    with urllib.request.urlopen(view["web_url"] + "/json", timeout=5) as r:
        return json.loads(r.read())


def test_a_two_worker_cluster_is_ready_with_its_nodes(stoker, cluster):
    with client_of(stoker) as client:
        view = client.get(f"/api/v1/clusters/{cluster}").json()
        assert [h["status"] for h in view["history"]] == ["registered", "scheduling", "scheduled", "configuring",
                                                          "configured", "ready"]
        assert view["master_url"].startswith("spark://127.0.0.1:")
        assert sorted((n["name"], n["service"], n["state"]) for n in view["nodes"]) == [
            ("master", "spark-master", "running"), ("worker0", "spark-worker", "running"),
            ("worker1", "spark-worker", "running")]
        for node in view["nodes"]:
            assert processes.alive(node["pid"], None) and processes.port_open("127.0.0.1", node["port"])
        state = master_json(view)
        assert state["aliveworkers"] == 2 and [w["cores"] for w in state["workers"]] == [1, 1]
        by_url = client.get(view["links"]["paas"]).json()
        assert by_url["id"] == cluster
        assert len(client.get(view["links"]["paas"] + "/nodes").json()["nodes"]) == 3


PIPELINE = [["range", 1000], ["filter", "id % 7 = 0"], ["collect"]]


def run_on(client: httpx.Client, cluster_id: str, **extra) -> dict:
    run = client.post("/api/v1/runs", json={"steps": PIPELINE, "options": {"cluster": cluster_id}, **extra}).json()
    return wait_run(client, run["id"])


def wait_run(client: httpx.Client, run_id: str, timeout: float = 120) -> dict:
    return wait_for(lambda: (r := client.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 10}).json())
                    ["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") and r, timeout, f"run {run_id}")


def test_submit_mode_runs_on_the_cluster_through_the_job_policy(stoker, cluster):
    """Before any session-mode run: a warm session holds the cluster's cores while it is warm, and a
    second Spark application waits for them (Spark standalone schedules applications FIFO).

    The job's Spark settings (issue 26) go over the cluster's: its own executor memory reaches the
    application, the cluster's executor cores stay, and the environment event agrees."""
    with client_of(stoker) as client:
        r = client.post("/api/v1/jobs", json={"name": "on-cluster", "steps": PIPELINE, "mode": "submit",
                                               "cluster": cluster, "conf": {"spark.executor.memory": "480m"}})
        assert r.status_code == 201 and r.json()["cluster"] == cluster
        run = wait_run(client, client.post("/api/v1/jobs/on-cluster/runs", json={
            "conf": {"spark.sql.shuffle.partitions": 5}}).json()["id"])
        assert run["state"] == "SUCCEEDED", run["error"]
        assert run["options"]["cluster"] == cluster and run["result"]["row_count"] == 143
        view = client.get(f"/api/v1/clusters/{cluster}").json()
        assert f"spark-submit --master {view['master_url']}" in client.get(f"/api/v1/runs/{run['id']}/log").text
        effective = run["effective_conf"]
        assert effective["spark.executor.memory"] == {"value": "480m", "source": "job"}
        assert effective["spark.executor.cores"]["source"] == "cluster"
        assert effective["spark.sql.shuffle.partitions"] == {"value": "5", "source": "run"}
        app_id = run["attempts"][-1]["spark_app_id"]

        def environment():
            body = client.get(f"/api/v1/spark/jobs/on-cluster/runs/{app_id}/events").text
            found = [json.loads(line) for line in body.splitlines() if "SparkListenerEnvironmentUpdate" in line]
            return found[0]["Spark Properties"] if found else None

        props = wait_for(environment, 30, "the application's environment event")
        props = dict(props) if isinstance(props, list) else props
        for key, entry in effective.items():  # Spark puts its JVM flags before *.extraJavaOptions
            value = props.get(key)
            java_options = key.endswith(".extraJavaOptions") and value.endswith(entry["value"])
            assert value == entry["value"] or java_options, key


def test_a_pipeline_runs_on_the_cluster_with_executors_on_both_workers(stoker, cluster):
    with client_of(stoker) as client:
        view = client.get(f"/api/v1/clusters/{cluster}").json()
        run = run_on(client, cluster)
        assert run["state"] == "SUCCEEDED", run["error"]
        assert run["result"]["row_count"] == 143 and run["options"]["cluster"] == cluster
        log_text = client.get(f"/api/v1/runs/{run['id']}/log").text
        assert f"on cluster {cluster} at {view['master_url']}" in log_text
        app_id = run["attempts"][-1]["spark_app_id"]
        assert app_id.startswith("app-")  # a standalone application id, not local-…

        def executors_added():
            body = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{app_id}/events").text
            added = [json.loads(line) for line in body.splitlines() if "SparkListenerExecutorAdded" in line]
            return added if len(added) >= 2 else None

        added = wait_for(executors_added, 30, "two SparkListenerExecutorAdded events")
        ports = {int(a["Executor Info"]["Log Urls"]["stdout"].split(":")[2].split("/")[0]) for a in added}
        assert ports == {n["web_port"] for n in view["nodes"] if n["role"] == "worker"}  # one on each worker


def test_s3_on_the_cluster_goes_through_the_executors_and_its_keys_stay_out_of_the_events(stoker, cluster, moto_s3):
    """A cluster's executors may be on other hosts, so the worker stages nothing: the executor tasks
    read and write S3 themselves (docs/s3.md), the output is published whole, and the run's secret
    key is nowhere in its log, its view, or the Spark events Stoker collected from the application."""
    moto_s3.empty("alice-bucket")
    moto_s3.client().put_object(Bucket="alice-bucket", Key="in/people.csv",
                                Body=b"name,age\nana,34\nbo,28\ncy,41\ndee,52\n")
    keys = moto_s3.options("alice")
    secret = keys["aws_secret_access_key"]
    steps = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["filter", "age > 30"], ["write_parquet", "s3://alice-bucket/cluster/adults/"]]
    with client_of(stoker) as client:
        made = client.post("/api/v1/runs", json={"steps": steps, "options": {"cluster": cluster, "s3": keys}})
        assert made.status_code == 201, made.text
        run = wait_run(client, made.json()["id"], timeout=300)  # S3 both ways, on a busy CI machine
        assert run["state"] == "SUCCEEDED", run["error"]
        assert run["result"]["rows"] == 3
        log_text = client.get(f"/api/v1/runs/{run['id']}/log").text
        assert "S3: executors' way" in log_text and "S3: staged way" not in log_text
        written = moto_s3.keys_under("alice-bucket", "cluster/")
        assert "cluster/adults/_SUCCESS" in written and len(written) >= 2
        assert all(k.startswith("cluster/adults/") for k in written)  # no temporary prefix left
        staging = stoker["server"].data_dir / "staging"
        assert not staging.exists() or not list(staging.iterdir())

        back = client.post("/api/v1/runs", json={
            "steps": [["read_parquet", "s3://alice-bucket/cluster/adults/"], ["count"]],
            "options": {"cluster": cluster, "s3": keys}}).json()
        back = wait_run(client, back["id"], timeout=300)
        assert back["state"] == "SUCCEEDED" and back["result"]["count"] == 3, back["error"]

        app_id = run["attempts"][-1]["spark_app_id"]

        def events_of_both_runs():
            body = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{app_id}/events").text
            ends = body.count("SparkListenerSQLExecutionEnd")
            return body if ends >= 2 and "SparkListenerEnvironmentUpdate" in body else None

        events = wait_for(events_of_both_runs, 60, "the SQL executions' events of both runs")
        assert "stoker_s3_" in events  # the executors' data sources ran in this application
        for text in (events, log_text, client.get(f"/api/v1/runs/{run['id']}/log").text,
                     json.dumps(client.get(f"/api/v1/runs/{run['id']}").json())):
            assert secret not in text


def test_the_cli_lists_shows_launches_and_destroys(stoker, cluster, tmp_path):
    from click.testing import CliRunner

    from harness import TOKEN
    from stoker.cli import main

    server = stoker["server"]
    run = CliRunner().invoke
    common = ["--url", server.url, "--token", TOKEN]
    listed = run(main, ["clusters", "list", "--status", "ready", *common])
    assert listed.exit_code == 0 and cluster in listed.output and "spark://127.0.0.1:" in listed.output
    shown = run(main, ["clusters", "show", cluster, *common])
    assert "node worker1" in shown.output and "configured" in shown.output
    assert "spark-standalone 4.3" in run(main, ["products", "list", *common]).output
    launched = run(main, ["clusters", "launch", "external", "1", "--option", "master=spark://10.0.0.9:7077",
                          *common])
    assert launched.exit_code == 0, launched.output
    assert "ready" in launched.output and "master: spark://10.0.0.9:7077" in launched.output
    external_id = launched.output.split()[2]
    assert "destroyed" in run(main, ["clusters", "destroy", external_id, *common]).output
    refused = run(main, ["clusters", "launch", "--size", "0", *common])
    assert refused.exit_code != 0 and "size" in refused.output
    (tmp_path / "t.yaml").write_text("nodes:\n{% for i in range(opts['size']) %}  w{{ i }}: {cpu: 1, mem: 128}\n"
                                     "{% endfor %}")
    (tmp_path / "o.json").write_text('{"required": {}, "optional": {"size": 1}, "advanced": {}, "descriptions": {}}')
    created = run(main, ["products", "create", "yamly", "1", "--template", str(tmp_path / "t.yaml"),
                         "--options", str(tmp_path / "o.json"), "--orchestrator", "external", *common])
    assert created.exit_code == 0, created.output
    shown = json.loads(run(main, ["products", "show", "yamly", "1", *common]).output)
    assert shown["template_format"] == "yaml" and shown["orchestrator"] == "external"


def test_a_killed_worker_makes_the_cluster_degraded_and_repair_makes_it_ready(stoker, cluster):
    with client_of(stoker) as client:
        view = client.get(f"/api/v1/clusters/{cluster}").json()
        victim = next(n for n in view["nodes"] if n["name"] == "worker1")
        os.kill(victim["pid"], signal.SIGKILL)
        degraded = wait_status(client, cluster, ("degraded",), timeout=20)
        assert "worker1" in degraded["reason"]
        assert next(n for n in degraded["nodes"] if n["name"] == "worker1")["state"] == "dead"
        assert client.post(f"/api/v1/clusters/{cluster}/repair").status_code == 202
        ready = wait_status(client, cluster, ("ready",), timeout=60)
        worker1 = next(n for n in ready["nodes"] if n["name"] == "worker1")
        assert worker1["state"] == "running" and worker1["pid"] != victim["pid"]
        assert master_json(ready)["aliveworkers"] == 2
        assert client.post(f"/api/v1/clusters/{cluster}/repair").status_code == 409  # nothing to repair


def test_a_cluster_stays_ready_when_stoker_is_killed_and_restarted(stoker, cluster):
    server = stoker["server"]
    with server.client() as client:
        before = client.get(f"/api/v1/clusters/{cluster}").json()
    server.kill()  # SIGKILL: no clean-up of any kind
    stoker["server"] = server = ClusterServer(server.data_dir).start()
    with server.client() as client:
        time.sleep(1.0)  # a few reconciler rounds
        after = client.get(f"/api/v1/clusters/{cluster}").json()
    assert after["status"] == "ready"
    assert {n["name"]: n["pid"] for n in after["nodes"]} == {n["name"]: n["pid"] for n in before["nodes"]}
    assert master_json(after)["aliveworkers"] == 2
    with server.client() as client:
        run = run_on(client, cluster)
        assert run["state"] == "SUCCEEDED", run["error"]


def test_the_scheduler_queues_a_cluster_until_capacity_frees_and_destroy_leaves_nothing(stoker, cluster):
    with client_of(stoker) as client:
        first = client.get(f"/api/v1/clusters/{cluster}").json()
        waiting_id = launch(client, size=2)  # 3 more cores: the capacity is 5, 3 are taken
        waiting = wait_for(lambda: (v := client.get(f"/api/v1/clusters/{waiting_id}").json())["reason"] and v,
                           10, "the waiting reason")
        assert waiting["status"] == "scheduling"
        assert "needs 3 cores" in waiting["reason"] and "2 cores" in waiting["reason"]
        parked = client.post("/api/v1/runs", json={"steps": PIPELINE, "options": {"cluster": waiting_id}}).json()
        assert parked["state"] == "QUEUED"
        assert parked["error"] == f"waiting for cluster {waiting_id} to be ready (it is scheduling)"
        r = client.delete(f"{P}/clusters/{cluster}")
        assert r.json() == {"message": "success"}
        assert client.get(f"/api/v1/clusters/{cluster}").json()["status"] == "destroyed"
        # The DELETE stops every node before it answers, on the replica running the cluster duties;
        # if this one lost their lease for a moment (a busy machine), the duties stop them next round.
        wait_for(lambda: gone(first["nodes"]), 30, "every node of the destroyed cluster stopped")
        refused = client.post("/api/v1/runs", json={"steps": PIPELINE, "options": {"cluster": cluster}})
        assert refused.status_code == 409 and "destroyed" in refused.json()["detail"]
        second = wait_status(client, waiting_id, ("ready", "failed"))
        assert second["status"] == "ready", second["reason"]
        ran = wait_run(client, parked["id"])  # released when its cluster became ready
        assert ran["state"] == "SUCCEEDED", ran["error"]
        destroyed = client.delete(f"/api/v1/clusters/{waiting_id}")
        assert destroyed.status_code == 200 and destroyed.json()["status"] == "destroyed", destroyed.text
        wait_for(lambda: gone(second["nodes"]), 30, "every node of the destroyed cluster stopped")


def test_a_launch_that_cannot_start_fails_with_the_reason_and_leaves_nothing(stoker):
    with client_of(stoker) as client:
        cluster_id = launch(client, size=1, **{"daemon.memory": "lots"})
        view = wait_status(client, cluster_id, ("failed", "ready"), timeout=60)
        assert view["status"] == "failed"
        assert "exited" in view["reason"] and "heap" in view["reason"].lower()
        assert all(n["state"] == "stopped" for n in view["nodes"])
        assert gone(view["nodes"])
        assert client.delete(f"{P}/clusters/{cluster_id}").json() == {"message": "success"}
