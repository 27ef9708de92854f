"""Stoker across hosts, proven with hosts as network namespaces (tests/netns_hosts.py): `api1` runs
`stoker serve` (its data dir on a tmpfs only it sees), `node1` and `node2` run a Podman API service
each (storage of their own), `worker1` and `worker2` run remote workers (`stoker worker --remote`:
an API token, no database, no container runtime, their data dirs on tmpfs of their own). Through
the API on api1: the two node hosts are registered, a Spark cluster of two workers lands on both
(listening on their hosts' addresses), ready once the master on node1 lists the worker on node2
ALIVE; a pipeline on the cluster runs from a remote worker, its driver on the worker's host and its
executors on both node hosts (as the Spark events it streamed say); a container task run 4 times
is placed on both node hosts and completes there (the workers reach each host's container API);
then node1 dies (every process of its namespace SIGKILLed, the master with it): the cluster turns
degraded naming the host, and a repair moves the master and the lost worker onto node2 (new URLs;
the worker that stayed restarts to join the new master), where the master lists both workers ALIVE.

Not covered yet (issue 20): PostgreSQL on its own host, a second API, S3 on its own host, and the
kills of api1 and a worker under load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN
from harness import wait_for
from netns_hosts import Net, require_netns

pytestmark = [pytest.mark.netns, pytest.mark.e2e, pytest.mark.containers]

SUBNET = "10.213.77"  # the test's own range: nothing else is addressed
PODMAN_PORT = 8888
BUILTIN = "localhost/stoker/busybox:latest"
SPARK_TEMPLATE = {
    "nodes": {"master": {"docker_image": BUILTIN, "cpu": 1, "mem": 256, "spark": True},
              "worker0": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True},
              "worker1": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True}},
    "services": {"spark-master": {"role": "master", "nodes": ["master"], "conf": {"daemon.memory": "256m"}},
                 "spark-worker": {"role": "worker", "nodes": ["worker0", "worker1"],
                                  "conf": {"daemon.memory": "256m"}}}}


@pytest.fixture
def hosts():
    require_netns()
    from container_fixtures import missing_tool

    if shutil.which("podman") is None:
        missing_tool("Podman is not installed")
    if shutil.which("java") is None:
        missing_tool("Java is not installed")
    net = Net(SUBNET)
    tmp = Path(tempfile.mkdtemp(prefix="stoker-netns-"))
    podmans: list[list[str]] = []
    try:
        from stoker.containers.image import ensure_builtin_image, podman_command
        from stoker.containers.runtime import podman_env

        for name, octet in (("api1", 11), ("worker1", 31), ("worker2", 32), ("node1", 21), ("node2", 22)):
            net.add_host(name, octet)
        for node in ("node1", "node2"):  # each its own storage and image; reached only by its API
            podman = podman_command(tmp / node / "root", tmp / node / "runroot")
            ensure_builtin_image(podman)
            podmans.append(podman)
            net.spawn(node, [*podman, "system", "service", "--time=0",
                             f"tcp:{net.addresses[node]}:{PODMAN_PORT}"], env=podman_env(),
                      log=tmp / f"{node}.log")
        data = tmp / "api1" / "data"
        env = {**os.environ, "STOKER_ADMIN_TOKEN": ADMIN_TOKEN, "STOKER_LOCAL_HOST": "false",
               "STOKER_CLUSTER_RECONCILE_SECONDS": "0.5", "STOKER_HOST_DOWN_AFTER_SECONDS": "2",
               # container jobs of api1 go to node1's API: serve starts no Podman of its own
               "STOKER_DOCKER_HOST": f"tcp://{net.addresses['node1']}:{PODMAN_PORT}"}
        for key in ("STOKER_DATABASE_URL", "SPARK_LOCAL_IP"):
            env.pop(key, None)
        net.spawn("api1", [sys.executable, "-m", "stoker.cli", "serve", "--host", net.addresses["api1"],
                           "--port", "8000", "--no-worker", "--data-dir", str(data)],
                  env=env, log=tmp / "api1.log", private=data.parent)
        yield net, tmp
    finally:
        net.close()
        for podman in podmans:
            subprocess.run([*podman, "rm", "-a", "-f"], env=podman_env(), capture_output=True)
            subprocess.run([*podman, "rmi", "-a", "-f"], env=podman_env(), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _start_remote_workers(net: Net, tmp: Path, api: httpx.Client) -> None:
    """`stoker worker --remote` on worker1 and worker2: a token with the worker and ingest scopes,
    no database, no container runtime of their own, each data dir on a tmpfs only it sees."""
    made = api.post("/api/v1/tokens", json={"name": "remote workers", "user": "workers",
                                            "scopes": ["worker", "ingest"]})
    assert made.status_code == 201, made.text
    env = {k: v for k, v in os.environ.items()
           if k not in ("STOKER_DATABASE_URL", "STOKER_DOCKER_HOST", "SPARK_LOCAL_IP", "STOKER_ADMIN_TOKEN")}
    for worker in ("worker1", "worker2"):
        data = tmp / worker / "data"
        net.spawn(worker, [sys.executable, "-m", "stoker.cli", "worker", "--remote",
                           f"http://{net.addresses['api1']}:8000", "--token", made.json()["token"],
                           "--worker-id", worker, "--data-dir", str(data)],
                  env=env, log=tmp / f"{worker}.log", private=data.parent)


def _logs(tmp: Path, *hosts: str) -> str:
    return "".join(f"\n--- {h} ---\n" + (tmp / f"{h}.log").read_text(errors="replace")[-3000:] for h in hosts)


def _wait_run(api: httpx.Client, run_id: str, timeout: float) -> dict:
    return wait_for(lambda: (r := api.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 5}).json())
                    ["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") and r, timeout, f"run {run_id}")


def _a_pipeline_runs_on_the_cluster_from_a_remote_worker(net: Net, tmp: Path, api: httpx.Client,
                                                         cluster_id: str) -> None:
    submitted = api.post("/api/v1/runs", json={"steps": [["range", 20000], ["filter", "id % 7 = 0"], ["count"]],
                                               "options": {"cluster": cluster_id}})
    assert submitted.status_code == 201, submitted.text
    run = _wait_run(api, submitted.json()["id"], 180)
    assert run["state"] == "SUCCEEDED", str(run["error"]) + _logs(tmp, "worker1", "worker2")
    assert run["result"]["count"] == 2858
    [attempt] = run["attempts"]
    worker = attempt["worker_id"]
    assert worker in ("worker1", "worker2") and attempt["spark_app_id"]
    nodes = {net.addresses["node1"], net.addresses["node2"]}

    def hosts_seen() -> tuple[set[str], set[str]] | None:
        # The events the driver streamed: where its block manager (the driver's) and its executors ran.
        answer = api.get(f"/api/v1/spark/jobs/stoker-session/runs/{attempt['spark_app_id']}/events")
        if answer.status_code != 200:
            return None
        driver, executors = set(), set()
        for line in answer.text.splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerBlockManagerAdded":
                block_manager = event["Block Manager ID"]
                (driver if block_manager["Executor ID"] == "driver" else executors).add(block_manager["Host"])
        return (driver, executors) if driver and executors >= nodes else None

    driver, executors = wait_for(hosts_seen, 60, "the driver's and both executors' hosts in the Spark events")
    assert driver == {net.addresses[worker]} and executors == nodes


def _a_container_task_runs_4_times_over_both_node_hosts(api: httpx.Client, tmp: Path) -> None:
    task = api.post("/task/", json={"repository": BUILTIN, "name": "spread"})
    assert task.status_code == 201 and task.json()["status"] == "READY", task.text
    ran = api.post(f"/task/{task.json()['task_id']}/", json={"times": 4, "command": "sh -c 'echo on-$HOSTNAME'"})
    assert ran.status_code == 201, ran.text
    result_id = ran.json()["result_id"]
    result = wait_for(lambda: (r := api.get(f"/result/{result_id}/").json())["status"] in (
        "COMPLETE", "ERROR", "KILLED", "CANCELLED") and r, 120, "the task's 4 runs")
    details = api.get(f"/result/{result_id}/detail").json()
    assert result["status"] == "COMPLETE", str(details) + _logs(tmp, "worker1", "worker2")
    placed = []
    for detail in details:
        run = api.get(f"/api/v1/runs/{detail['detail_id']}").json()
        [attempt] = run["attempts"]
        assert attempt["worker_id"] in ("worker1", "worker2")
        placed.append(attempt["host_name"])
        assert run["result"]["host"] == attempt["host_name"] and run["result"]["stdout"].startswith("on-")
    assert sorted(set(placed)) == ["node1", "node2"], placed
    # Their room is given back as they end.
    assert all(h["used"]["cores"] == {"node1": 2, "node2": 1}[h["name"]]
               for h in api.get("/api/v1/hosts").json()["hosts"])


def _master_state(web_url: str) -> dict:
    with urllib.request.urlopen(web_url + "/json", timeout=5) as answer:
        return json.loads(answer.read())


def test_a_spark_cluster_spans_two_hosts_and_moves_off_the_one_that_dies(hosts):
    net, tmp = hosts
    base = f"http://{net.addresses['api1']}:8000"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as api:
        _spans_two_hosts_and_moves_off_the_one_that_dies(net, tmp, api)


def _spans_two_hosts_and_moves_off_the_one_that_dies(net: Net, tmp: Path, api: httpx.Client) -> None:

    def up() -> bool:
        try:
            return api.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 90, "stoker serve on api1")
    # api1's data dir is on a tmpfs of its own: not even this test process sees the cluster's files.
    assert not (tmp / "api1" / "data" / "clusters").exists()
    for node in ("node1", "node2"):
        made = api.post("/api/v1/hosts", json={"name": node, "cores": 3, "mem": 4096,
                                               "endpoint": f"tcp://{net.addresses[node]}:{PODMAN_PORT}"})
        assert made.status_code == 201, made.text
    wait_for(lambda: all(h["health"] == "up" for h in api.get("/api/v1/hosts").json()["hosts"]), 30,
             "both node hosts answering")
    assert api.post("/api/v1/products", json={"name": "spark-hosts", "version": "1"}).status_code == 201
    assert api.put("/api/v1/products/spark-hosts/1/template", json=SPARK_TEMPLATE).status_code == 204
    launched = api.post("/api/v1/products/spark-hosts/1/clusters", json={})
    assert launched.status_code == 202, launched.text
    cluster_id = launched.json()["id"]

    def cluster(statuses, timeout):
        return wait_for(lambda: (c := api.get(f"/api/v1/clusters/{cluster_id}").json())["status"] in statuses
                        and c, timeout, f"cluster in {statuses}")

    ready = cluster(("ready", "failed"), 240)
    assert ready["status"] == "ready", ready["reason"] + (tmp / "api1.log").read_text()[-3000:]
    placed = {n["name"]: (n["host_name"], n["host"]) for n in ready["nodes"]}
    assert placed == {"master": ("node1", net.addresses["node1"]), "worker0": ("node1", net.addresses["node1"]),
                      "worker1": ("node2", net.addresses["node2"])}
    assert ready["master_url"].startswith(f"spark://{net.addresses['node1']}:")
    state = _master_state(ready["web_url"])
    assert sorted(w["host"] for w in state["workers"] if w["state"] == "ALIVE") == sorted(
        [net.addresses["node1"], net.addresses["node2"]])

    _start_remote_workers(net, tmp, api)
    _a_container_task_runs_4_times_over_both_node_hosts(api, tmp)
    _a_pipeline_runs_on_the_cluster_from_a_remote_worker(net, tmp, api, cluster_id)

    net.kill_host("node1")  # the master's host: its Podman service, conmon and both JVMs, at once
    degraded = cluster(("degraded",), 60)
    assert degraded["reason"] == "host node1 stopped answering: node(s) master, worker0 lost"
    assert api.get("/api/v1/hosts/node1").json()["health"] == "down"

    assert api.post(f"/api/v1/clusters/{cluster_id}/repair").status_code == 202
    repaired = cluster(("ready",), 240)
    # The master moved: new URLs, and the worker that stayed on node2 restarted to join it.
    assert repaired["reason"] == "repaired: restarted master on node2, worker0 on node2, worker1"
    assert {n["name"]: n["host_name"] for n in repaired["nodes"]} == {"master": "node2", "worker0": "node2",
                                                                      "worker1": "node2"}
    assert repaired["master_url"].startswith(f"spark://{net.addresses['node2']}:")
    alive = {(w["host"], w["port"]) for w in _master_state(repaired["web_url"])["workers"] if w["state"] == "ALIVE"}
    assert alive == {(net.addresses["node2"], n["port"]) for n in repaired["nodes"] if n["role"] == "worker"}
    node2 = api.get("/api/v1/hosts/node2").json()
    assert node2["used"]["cores"] == 3 and {n["node"] for n in node2["nodes"]} == {"master", "worker0", "worker1"}

    started = time.monotonic()
    destroyed = api.delete(f"/api/v1/clusters/{cluster_id}")
    assert destroyed.status_code == 200 and destroyed.json()["status"] == "destroyed"
    assert time.monotonic() - started < 60  # the dead host does not hold the destroy up
    assert api.get("/api/v1/hosts/node2").json()["used"] == {"cores": 0, "mem": 0}
