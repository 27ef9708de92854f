"""The `containers` orchestrator on real containers (Podman through the Docker Engine API): a
product whose nodes name a docker_image launches as containers with their limits, a missing image
fails the launch saying so, destroy leaves no container, and a restarted Stoker finds them."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from container_fixtures import wait_until

pytestmark = pytest.mark.containers

P = "/bigdata/api/v1"
BUILTIN = "localhost/stoker/busybox:latest"
OPTIONS = {"required": {}, "optional": {"size": 2, "image": BUILTIN}, "advanced": {},
           "descriptions": {"size": "number of nodes", "image": "the nodes' image"}}
# The seed's own shape (nodes example0…, one service, no orchestrator chosen), nodes that sleep.
TEMPLATE = """{
  "nodes": {
  {%- for n in range(opts['size']) %}
    "example{{ n }}": {"docker_image": "{{ opts['image'] }}", "cpu": 1, "mem": 128,
                       "command": ["sleep", "3600"], "env": {"NODE": "example{{ n }}"}}
    {%- if not loop.last %},{% endif %}
  {%- endfor %}
  },
  "services": {"example": {"nodes": [
    {%- for n in range(opts['size']) %}"example{{ n }}"{{ "," if not loop.last }}{% endfor -%}
  ], "conf": {"greeting": "hello"}}}
}"""


def make_product(client, name="example", version="0.1.0"):
    assert client.post(f"{P}/products", json={"name": name, "version": version}).status_code == 201
    r = client.put(f"{P}/products/{name}/{version}/template", content=TEMPLATE,
                   headers={"content-type": "application/json"})
    assert r.status_code == 204, r.text
    assert client.put(f"{P}/products/{name}/{version}/options", json=OPTIONS).status_code == 204


def status(client, cluster_id, statuses, timeout=60.0):
    return wait_until(lambda: client.get(f"/api/v1/clusters/{cluster_id}").json(),
                      lambda c: c["status"] in statuses, timeout, f"cluster {cluster_id} in {statuses}")


def containers_of(runtime, cluster_id, *, running_only=False):
    done = subprocess.run([*runtime.podman, "ps", *(() if running_only else ("-a",)), "--format", "json",
                           "--filter", f"label=io.stoker.cluster={cluster_id}"],
                          env=runtime.env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout or "[]")


def inspect(runtime, container_id):
    done = subprocess.run([*runtime.podman, "inspect", container_id], env=runtime.env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)[0]


def test_a_product_of_images_launches_as_containers_with_limits_and_destroy_removes_them(
        container_api, container_runtime):
    client = container_api
    make_product(client)
    assert client.get(f"{P}/products/example/0.1.0").json()["orchestrator"] is None  # never selected
    r = client.post(f"{P}/products/example/0.1.0", json={"size": 2})
    assert r.status_code == 202, r.text
    cluster_id = r.json()["id"]
    cluster = status(client, cluster_id, ("ready", "failed"))
    assert cluster["status"] == "ready", cluster["reason"]
    assert cluster["orchestrator"] == "containers"  # the default for nodes that name an image
    assert [h["status"] for h in cluster["history"]] == [
        "registered", "scheduling", "scheduled", "configuring", "configured", "ready"]
    assert sorted(n["name"] for n in cluster["nodes"]) == ["example0", "example1"]
    assert all(n["state"] == "running" and n["host"] and n["pid"] for n in cluster["nodes"])
    found = containers_of(container_runtime, cluster_id, running_only=True)
    assert sorted(c["Labels"]["io.stoker.cluster.node"] for c in found) == ["example0", "example1"]
    details = inspect(container_runtime, found[0]["Id"])
    assert details["HostConfig"]["Memory"] == 128 * 1024 * 1024
    assert details["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert details["Config"]["Cmd"] == ["sleep", "3600"]
    node = details["Config"]["Labels"]["io.stoker.cluster.node"]
    assert f"NODE={node}" in details["Config"]["Env"]
    # The node's configuration (its service's conf) is mounted into it.
    out = subprocess.run([*container_runtime.podman, "exec", found[0]["Id"], "cat", "/etc/stoker/node.json"],
                         env=container_runtime.env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["conf"] == {"greeting": "hello"} and json.loads(out)["node"] == node

    assert client.delete(f"{P}/clusters/{cluster_id}").json() == {"message": "success"}
    assert client.get(f"/api/v1/clusters/{cluster_id}").json()["status"] == "destroyed"
    assert containers_of(container_runtime, cluster_id) == []  # not stopped: gone


def test_a_missing_image_fails_the_launch_saying_so_and_leaves_nothing(container_api, container_runtime):
    client = container_api
    make_product(client)
    missing = "docker-registry.cesga.es:5000/example:0.1.0"  # the seed's image: no registry here
    r = client.post(f"{P}/products/example/0.1.0", json={"size": 2, "image": missing})
    assert r.status_code == 202, r.text
    cluster = status(client, r.json()["id"], ("ready", "failed"))
    assert cluster["status"] == "failed"
    assert f"image {missing} not found" in cluster["reason"] and "pull or import it" in cluster["reason"]
    assert containers_of(container_runtime, cluster["id"]) == []


def test_a_node_that_exits_fails_the_launch_with_its_log_and_the_others_are_removed(
        container_api, container_runtime):
    client = container_api
    assert client.post(f"{P}/products", json={"name": "flaky", "version": "1"}).status_code == 201
    template = {"nodes": {"good": {"docker_image": BUILTIN, "cpu": 1, "mem": 64, "command": ["sleep", "3600"]},
                          "bad": {"docker_image": BUILTIN, "cpu": 1, "mem": 64,
                                  "command": ["sh", "-c", "echo cannot start here; exit 3"]}},
                "services": {"all": {"nodes": ["good", "bad"]}}}
    assert client.put(f"{P}/products/flaky/1/template", json=template).status_code == 204
    r = client.post(f"{P}/products/flaky/1", json={})
    assert r.status_code == 202, r.text
    cluster = status(client, r.json()["id"], ("ready", "failed"))
    assert cluster["status"] == "failed"
    assert "node bad" in cluster["reason"] and "cannot start here" in cluster["reason"], cluster["reason"]
    assert containers_of(container_runtime, cluster["id"]) == []


def test_a_restarted_stoker_finds_its_containers_and_a_removed_one_degrades_then_repairs(
        container_services, container_runtime):
    from fastapi.testclient import TestClient

    from conftest import ADMIN_TOKEN
    from stoker.app import Background, create_app

    def app():
        return TestClient(create_app(container_services, background=Background(container_services,
                                                                                 embedded_worker=False)),
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    with app() as client:
        make_product(client)
        cluster_id = client.post(f"{P}/products/example/0.1.0", json={"size": 1}).json()["id"]
        assert status(client, cluster_id, ("ready", "failed"))["status"] == "ready"
    # Stoker stopped (its duties with it); the container runs on. A new one reconciles at start.
    assert len(containers_of(container_runtime, cluster_id, running_only=True)) == 1
    with app() as client:
        cluster = status(client, cluster_id, ("ready", "degraded"))
        assert cluster["status"] == "ready"
        [found] = containers_of(container_runtime, cluster_id)
        subprocess.run([*container_runtime.podman, "rm", "-f", found["Id"]], env=container_runtime.env,
                       check=True, capture_output=True)
        cluster = status(client, cluster_id, ("degraded",), timeout=30)
        assert "example0" in cluster["reason"]
        assert client.post(f"/api/v1/clusters/{cluster_id}/repair").status_code == 202
        assert status(client, cluster_id, ("ready",), timeout=30)["status"] == "ready"
        assert len(containers_of(container_runtime, cluster_id, running_only=True)) == 1
        assert client.delete(f"/api/v1/clusters/{cluster_id}").status_code == 200
    assert containers_of(container_runtime, cluster_id) == []


SPARK_TEMPLATE = {
    "nodes": {"master": {"docker_image": BUILTIN, "cpu": 1, "mem": 256, "spark": True},
              "worker0": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True},
              "worker1": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True}},
    "services": {"spark-master": {"role": "master", "nodes": ["master"], "conf": {"daemon.memory": "256m"}},
                 "spark-worker": {"role": "worker", "nodes": ["worker0", "worker1"],
                                  "conf": {"daemon.memory": "256m"}}}}


ONE_WORKER = {"nodes": {n: SPARK_TEMPLATE["nodes"][n] for n in ("master", "worker0")},
              "services": {**SPARK_TEMPLATE["services"],
                           "spark-worker": {**SPARK_TEMPLATE["services"]["spark-worker"], "nodes": ["worker0"]}}}


def launch_spark(client, product: str, template: dict = SPARK_TEMPLATE) -> dict:
    """A product of a Spark template launched and ready: the cluster's view."""
    assert client.post(f"{P}/products", json={"name": product, "version": "1"}).status_code == 201
    assert client.put(f"{P}/products/{product}/1/template", json=template).status_code == 204
    r = client.post(f"{P}/products/{product}/1", json={})
    assert r.status_code == 202, r.text
    cluster = status(client, r.json()["id"], ("ready", "failed"), timeout=120)
    assert cluster["status"] == "ready", cluster["reason"]
    return cluster


def test_spark_nodes_run_a_standalone_cluster_in_small_containers(container_api, container_runtime):
    """A Spark master and two workers in busybox containers (the host's Java and pyspark mounted):
    ready once the master lists both workers ALIVE; destroy removes the containers, closes the ports."""
    import urllib.request

    from stoker.clusters import processes

    client = container_api
    cluster = launch_spark(client, "spark-ct")
    assert cluster["orchestrator"] == "containers" and cluster["master_url"].startswith("spark://127.0.0.1:")
    with urllib.request.urlopen(cluster["web_url"] + "/json", timeout=5) as answer:
        state = json.loads(answer.read())
    assert state["aliveworkers"] == 2 and sorted(w["cores"] for w in state["workers"]) == [1, 1]
    found = containers_of(container_runtime, cluster["id"], running_only=True)
    assert len(found) == 3
    worker = next(c for c in found if c["Labels"]["io.stoker.cluster.node"] == "worker0")
    assert inspect(container_runtime, worker["Id"])["HostConfig"]["Memory"] == (512 + 256 + 256) * 1024 * 1024
    # A pipeline runs on it: its executors are JVMs the workers start inside their containers.
    from tests.e2e.test_clusters import PIPELINE

    r = client.post("/api/v1/jobs", json={"name": "on-containers", "steps": PIPELINE, "mode": "submit",
                                          "cluster": cluster["id"]})
    assert r.status_code == 201, r.text
    run = client.post("/api/v1/jobs/on-containers/runs", json={}).json()
    run = wait_until(lambda: client.get(f"/api/v1/runs/{run['id']}").json(),
                     lambda r: r["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"), 180, "the run")
    worker_log = subprocess.run([*container_runtime.podman, "logs", worker["Id"]], env=container_runtime.env,
                                capture_output=True, text=True).stderr[-5000:]
    assert run["state"] == "SUCCEEDED", worker_log
    assert run["result"]["row_count"] == 143
    assert client.delete(f"/api/v1/clusters/{cluster['id']}").status_code == 200
    assert containers_of(container_runtime, cluster["id"]) == []
    assert not any(processes.port_open("127.0.0.1", n["port"]) or processes.port_open("127.0.0.1", n["web_port"])
                   for n in cluster["nodes"])


def test_executors_in_spark_node_containers_run_the_drivers_python(container_api, container_runtime, moto_s3):
    """Executors of a containers cluster run Python (here the S3 executors' way: a Python data
    source with pyarrow's S3 filesystem in the executor tasks) with the driver's interpreter, which
    the nodes mount read-only at its own path (the venv and the Python it was made from): the
    busybox image has no Python of its own. A CSV in S3 is filtered into Parquet in S3."""
    import io

    import pyarrow.parquet as pq

    client = container_api
    moto_s3.empty("alice-bucket")
    moto_s3.client().put_object(Bucket="alice-bucket", Key="ct/in/people.csv",
                                Body=b"name,age\nana,34\nbo,28\ncy,41\ndee,52\n")
    cluster = launch_spark(client, "spark-py", ONE_WORKER)
    found = containers_of(container_runtime, cluster["id"], running_only=True)
    worker = next(c for c in found if c["Labels"]["io.stoker.cluster.node"] == "worker0")
    mounts = {m["Destination"] for m in inspect(container_runtime, worker["Id"])["Mounts"]}
    assert {sys.prefix, sys.base_prefix} <= mounts | {"/usr"}
    # The driver's interpreter (PYSPARK_PYTHON) runs inside the node, with the venv's pyarrow.
    probe = subprocess.run([*container_runtime.podman, "exec", worker["Id"], sys.executable, "-c",
                            "import pyarrow, sys; print(sys.prefix)"], env=container_runtime.env,
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stdout.strip() == sys.prefix, probe.stderr

    # A schema given: no inference passes, one Spark job reading and writing (the test's time is the
    # cluster's and the session's start).
    steps = [["read_csv", "s3://alice-bucket/ct/in/people.csv", {"header": True, "schema": "name STRING, age INT"}],
             ["filter", "age > 30"], ["write_parquet", "s3://alice-bucket/ct/adults/"]]
    made = client.post("/api/v1/runs", json={"steps": steps,
                                             "options": {"cluster": cluster["id"], "s3": moto_s3.options("alice")}})
    assert made.status_code == 201, made.text
    run = wait_until(lambda: client.get(f"/api/v1/runs/{made.json()['id']}").json(),
                     lambda r: r["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"), 240, "the S3 run")
    worker_log = subprocess.run([*container_runtime.podman, "logs", worker["Id"]], env=container_runtime.env,
                                capture_output=True, text=True).stderr[-5000:]
    assert run["state"] == "SUCCEEDED", f"{run['error']}\n{worker_log}"
    assert "S3: executors' way" in client.get(f"/api/v1/runs/{run['id']}/log").text
    written = moto_s3.keys_under("alice-bucket", "ct/adults/")
    parts = [k for k in written if k.endswith(".parquet")]
    assert "ct/adults/_SUCCESS" in written and parts
    s3 = moto_s3.client()
    rows = [row for k in parts for row in pq.read_table(io.BytesIO(
        s3.get_object(Bucket="alice-bucket", Key=k)["Body"].read())).to_pylist()]
    assert sorted((row["name"], row["age"]) for row in rows) == [("ana", 34), ("cy", 41), ("dee", 52)]
    assert client.delete(f"{P}/clusters/{cluster['id']}").status_code == 200
    assert containers_of(container_runtime, cluster["id"]) == []


def test_a_runtime_that_is_away_degrades_nothing(container_api, container_services, container_runtime):
    """The reconciler concludes nothing from a runtime it cannot reach (the node may well run)."""
    client = container_api
    make_product(client)
    cluster_id = client.post(f"{P}/products/example/0.1.0", json={"size": 1}).json()["id"]
    assert status(client, cluster_id, ("ready", "failed"))["status"] == "ready"
    runtime = container_services.containers
    # (Gone altogether: a dead socket would do as well, but the docker SDK leaks the socket of a
    # failed connect, which pytest reports.)
    real, runtime.docker_host = runtime.docker_host, None
    try:
        container_services.clusters.reconcile()  # raises nothing
        time.sleep(0.5)
        assert client.get(f"/api/v1/clusters/{cluster_id}").json()["status"] == "ready"
    finally:
        runtime.docker_host = real
    assert client.delete(f"/api/v1/clusters/{cluster_id}").status_code == 200
    assert containers_of(container_runtime, cluster_id) == []


def test_without_a_runtime_a_product_of_images_is_refused_with_503(api):
    make_product(api)
    r = api.post(f"{P}/products/example/0.1.0", json={"size": 1})
    assert r.status_code == 503 and "container runtime" in r.json()["message"]
    assert api.get("/api/v1/clusters").json()["clusters"] == []


@pytest.mark.e2e
def test_a_real_serve_killed_and_restarted_finds_its_containers_through_a_new_podman_service(tmp_path):
    """`stoker serve` with its own private Podman API service (machine storage): SIGKILL takes the
    service down with it; the restarted serve starts another on a new socket and finds the
    cluster's containers, ready, by their labels; destroy then removes them."""
    import shutil

    from container_fixtures import missing_tool
    from harness import Server
    from stoker.containers.runtime import podman_env

    if shutil.which("podman") is None:
        missing_tool("Podman is not installed")

    class PodmanServer(Server):
        def env(self):
            env = {**super().env(), "STOKER_CLUSTER_RECONCILE_SECONDS": "0.3"}
            env.pop("STOKER_DOCKER_HOST", None)  # serve starts its own Podman service
            return env

    def labelled(cluster_id):
        done = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter",
                               f"label=io.stoker.cluster={cluster_id}"], env=podman_env(),
                              capture_output=True, text=True, check=True)
        return sorted((c["Id"], c["State"]) for c in json.loads(done.stdout or "[]"))

    data_dir = tmp_path / "data"
    server = PodmanServer(data_dir, worker=False).start()
    cluster_id = None
    try:
        with server.client() as client:
            make_product(client)
            cluster_id = client.post(f"{P}/products/example/0.1.0", json={"size": 2}).json()["id"]
            cluster = status(client, cluster_id, ("ready", "failed"))
            assert cluster["status"] == "ready", cluster["reason"]
        before = labelled(cluster_id)
        assert len(before) == 2 and all(state == "running" for _, state in before)
        server.kill()
        server = PodmanServer(data_dir, worker=False).start()
        with server.client() as client:
            time.sleep(1.5)  # several reconciler rounds through the new service
            after = client.get(f"/api/v1/clusters/{cluster_id}").json()
            assert after["status"] == "ready", after["reason"]
            assert labelled(cluster_id) == before  # the same containers, still running
            assert client.delete(f"/api/v1/clusters/{cluster_id}").status_code == 200
        assert labelled(cluster_id) == []
    finally:
        server.stop()
        if cluster_id is not None:
            subprocess.run(["podman", "rm", "-f", "--filter", f"label=io.stoker.cluster={cluster_id}"],
                           env=podman_env(), capture_output=True)
