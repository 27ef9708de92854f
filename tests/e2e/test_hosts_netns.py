"""Stoker across hosts, proven with hosts as network namespaces (tests/netns_hosts.py): `db` runs
PostgreSQL; `api1` and `api2` run `stoker serve` over it (each data dir on a tmpfs only it sees);
`node1` and `node2` run a Podman API service each (storage of their own); `worker1` and `worker2`
run remote workers (`stoker worker --remote` given both APIs: a token, no database, no container
runtime, data dirs on tmpfs of their own); `s3` runs moto's S3 server (IAM enforced).

Through the API on api1: the two node hosts are registered, a Spark cluster of two workers lands on
both (listening on their hosts' addresses), ready once the master on node1 lists the worker on
node2 ALIVE; a pipeline from S3 to S3 runs on it from worker2, its driver on worker2's host and its
executors on both node hosts (as its Spark events say), which read and write the objects on the
s3 host themselves with the driver's Python (mounted into the node containers); the output is in
S3, whole, and the keys are in none of the run's events, log, view or Spark conf; a container task
run 4 times is placed on both node hosts and completes there (the workers reach each host's
container API).

Then, under a steady load of submits (each with its idempotency key, sent again to the other API
when one fails), one host at a time dies (every process of its namespace SIGKILLed): api1
mid-submit (clients and workers go on with api2, which takes over the cluster duties); the worker
host running a run (its lease expires, the other worker runs it again); node1, the master's host:
the cluster turns degraded naming the host, and a repair moves the master and the lost worker onto
node2 (new URLs; the worker that stayed restarts to join the new master), where the master lists
both workers ALIVE. No run is lost or doubled: every key has one run, which succeeded once."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN
from harness import wait_for
from moto_s3 import MotoS3, start_moto
from netns_hosts import Net, require_netns

# Eight hosts, a cluster launched and repaired, the kills one after another: minutes on a busy 2-core machine.
pytestmark = [pytest.mark.netns, pytest.mark.e2e, pytest.mark.containers, pytest.mark.timeout(900)]

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

        for name, octet in (("db", 5), ("api1", 11), ("api2", 12), ("worker1", 31), ("worker2", 32),
                            ("node1", 21), ("node2", 22), ("s3", 40)):
            net.add_host(name, octet)
        database_url = _start_postgres(net, tmp)
        s3 = start_moto(tmp / "s3.log", address=net.addresses["s3"],
                        spawn=lambda argv, env, log: net.spawn("s3", argv, env=env, log=log))
        for node in ("node1", "node2"):  # each its own storage and image; reached only by its API
            podman = podman_command(tmp / node / "root", tmp / node / "runroot")
            ensure_builtin_image(podman)
            podmans.append(podman)
            net.spawn(node, [*podman, "system", "service", "--time=0",
                             f"tcp:{net.addresses[node]}:{PODMAN_PORT}"], env=podman_env(),
                      log=tmp / f"{node}.log")
        from cryptography.fernet import Fernet

        env = {**os.environ, "STOKER_ADMIN_TOKEN": ADMIN_TOKEN, "STOKER_LOCAL_HOST": "false",
               "STOKER_DATABASE_URL": database_url, "STOKER_SECRET_KEY": Fernet.generate_key().decode(),
               "STOKER_CLUSTER_RECONCILE_SECONDS": "0.5", "STOKER_HOST_DOWN_AFTER_SECONDS": "2",
               "STOKER_CLUSTER_LEASE_SECONDS": "10", "STOKER_REAP_INTERVAL_SECONDS": "0.5"}
        env.pop("SPARK_LOCAL_IP", None)
        for api, node in (("api1", "node1"), ("api2", "node2")):
            data = tmp / api / "data"
            # Container jobs registered through an API are imported on a node's API: serve starts
            # no Podman of its own.
            net.spawn(api, [sys.executable, "-m", "stoker.cli", "serve", "--host", net.addresses[api],
                            "--port", "8000", "--no-worker", "--data-dir", str(data)],
                      env={**env, "STOKER_DOCKER_HOST": f"tcp://{net.addresses[node]}:{PODMAN_PORT}"},
                      log=tmp / f"{api}.log", private=data.parent)
            # api1 first: it upgrades the database and takes the cluster duties.
            wait_for(lambda api=api: _answers(f"http://{net.addresses[api]}:8000"), 90, f"stoker serve on {api}")
        yield net, tmp, s3
    finally:
        net.close()
        keep = os.environ.get("STOKER_NETNS_LOGS")  # a directory to keep every host's log in
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for log in tmp.glob("*.log"):
                shutil.copy(log, Path(keep) / log.name)
        for podman in podmans:
            subprocess.run([*podman, "rm", "-a", "-f"], env=podman_env(), capture_output=True)
            subprocess.run([*podman, "rmi", "-a", "-f"], env=podman_env(), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _start_postgres(net: Net, tmp: Path) -> str:
    """PostgreSQL on the host `db` (a cluster of its own made with initdb, run as `postgres`,
    listening on db's address only); its URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found or shutil.which("runuser") is None:
        from container_fixtures import missing_tool

        missing_tool("PostgreSQL's server binaries (and runuser) are not installed")
    bin_dir = os.path.dirname(found[-1])
    root = tmp / "db"
    root.mkdir()
    os.chmod(tmp, 0o711)  # PostgreSQL runs as postgres: it must reach its directory
    shutil.chown(root, "postgres")
    subprocess.run(["runuser", "-u", "postgres", "--", f"{bin_dir}/initdb", "-D", str(root / "pg"), "-A",
                    "trust", "-U", "postgres"], check=True, capture_output=True, timeout=120)
    with open(root / "pg" / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {net.subnet}.0/24 trust\n")
    address = net.addresses["db"]
    net.spawn("db", ["runuser", "-u", "postgres", "--", f"{bin_dir}/postgres", "-D", str(root / "pg"),
                     "-p", "5432", "-k", str(root), "-c", f"listen_addresses={address}", "-c", "fsync=off"],
              env=dict(os.environ), log=tmp / "db.log")
    url = f"postgresql://postgres@{address}:5432/postgres"

    def accepts() -> bool:
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    wait_for(accepts, 60, "PostgreSQL on db")
    return url


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


class SteadySubmits:
    """A client submitting runs one after another, each with an idempotency key of its own, to one
    API; a submit that fails (the API died mid-request, or answers 5xx) is sent again with the same
    key to the next API, as a client of several replicas does. Which run ids each key was answered."""

    def __init__(self, bases: list[str]) -> None:
        self.clients = [httpx.Client(base_url=b, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
                        for b in bases]
        self.current = 0
        self.answers: dict[str, set[str]] = {}
        self.retried: list[str] = []  # the keys sent again after a failure
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="steady-submits", daemon=True)

    def start(self) -> SteadySubmits:
        self.thread.start()
        return self

    def _run(self) -> None:
        number = 0
        while not self.stop.is_set():
            self.submit(f"steady-{number}")
            number += 1
            time.sleep(0.25)

    def submit(self, key: str) -> None:
        for attempt in range(100):
            try:
                answer = self.clients[self.current].post("/api/v1/runs", json={
                    "steps": [["noop"]], "idempotency_key": key})
                if answer.status_code in (200, 201):
                    self.answers.setdefault(key, set()).add(answer.json()["id"])
                    if attempt > 0:
                        self.retried.append(key)
                    return
                assert answer.status_code >= 500, answer.text  # a 4xx is the test's own mistake
            except httpx.HTTPError:
                pass
            self.current = (self.current + 1) % len(self.clients)
            time.sleep(0.2)
        raise AssertionError(f"no API took the submit of {key}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        for client in self.clients:
            client.close()


def _worker_token(api: httpx.Client) -> str:
    """A token for the remote workers, with the worker and ingest scopes."""
    made = api.post("/api/v1/tokens", json={"name": "remote workers", "user": "workers",
                                            "scopes": ["worker", "ingest"]})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def _start_remote_worker(net: Net, tmp: Path, worker: str, token: str) -> None:
    """`stoker worker --remote` on a worker host, given both API replicas: no database, no
    container runtime of its own, its data dir on a tmpfs only it sees; short leases, so a dead
    worker's attempts are retried within seconds."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("STOKER_DATABASE_URL", "STOKER_DOCKER_HOST", "SPARK_LOCAL_IP", "STOKER_ADMIN_TOKEN")}
    env.update(STOKER_LEASE_SECONDS="5", STOKER_HEARTBEAT_SECONDS="1")
    apis = ",".join(f"http://{net.addresses[a]}:8000" for a in ("api1", "api2"))
    data = tmp / worker / "data"
    net.spawn(worker, [sys.executable, "-m", "stoker.cli", "worker", "--remote", apis, "--token", token,
                       "--worker-id", worker, "--data-dir", str(data)],
              env=env, log=tmp / f"{worker}.log", private=data.parent)


def _logs(tmp: Path, *hosts: str) -> str:
    return "".join(f"\n--- {h} ---\n" + (tmp / f"{h}.log").read_text(errors="replace")[-3000:] for h in hosts)


def _wait_run(api: httpx.Client, run_id: str, timeout: float) -> dict:
    return wait_for(lambda: (r := api.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 5}).json())
                    ["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") and r, timeout, f"run {run_id}")


def _s3_to_s3_on_the_cluster_from_worker2(net: Net, tmp: Path, s3: MotoS3, api: httpx.Client,
                                          cluster_id: str) -> None:
    """A pipeline from S3 to S3 on the cluster, run by worker2: its driver on worker2's host, its
    executors on both node hosts (Spark node containers running the driver's Python, mounted), and
    S3 on a host of its own. The executors read and write the objects themselves (the executors'
    way: nothing passes through a worker's disk); the output is published whole; the keys are in
    none of the run's collected Spark events, its log, its view or the Spark conf it shows."""
    import io

    import pyarrow.parquet as pq

    s3.client().put_object(Bucket="alice-bucket", Key="in/people.csv",
                           Body=b"name,age\nana,34\nbo,28\ncy,41\ndee,52\n")
    keys = s3.options("alice")
    submitted = api.post("/api/v1/runs", json={
        "steps": [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
                  ["filter", "age > 30"], ["write_parquet", "s3://alice-bucket/out/adults/"]],
        "options": {"cluster": cluster_id, "s3": keys}})
    assert submitted.status_code == 201, submitted.text
    run = _wait_run(api, submitted.json()["id"], 240)
    assert run["state"] == "SUCCEEDED", str(run["error"]) + _logs(tmp, "worker2", "s3")
    assert run["result"]["rows"] == 3
    [attempt] = run["attempts"]
    assert attempt["worker_id"] == "worker2" and attempt["spark_app_id"]
    log = api.get(f"/api/v1/runs/{run['id']}/log").text
    assert "S3: executors' way" in log

    written = s3.keys_under("alice-bucket", "out/")
    parts = [k for k in written if k.endswith(".parquet")]
    assert "out/adults/_SUCCESS" in written and parts and all(k.startswith("out/adults/") for k in written)
    objects = s3.client()
    rows = [row for key in parts for row in pq.read_table(io.BytesIO(
        objects.get_object(Bucket="alice-bucket", Key=key)["Body"].read())).to_pylist()]
    assert sorted((r["name"], r["age"]) for r in rows) == [("ana", 34), ("cy", 41), ("dee", 52)]
    assert "S3: staged way" not in log
    # Who moved the bytes, as the s3 host's access log says: the executors on the node hosts read
    # the input and wrote the part; worker2 only listed, and published the committed part.
    by_host = _s3_requests(tmp / "s3.log")
    nodes = {net.addresses["node1"], net.addresses["node2"]}
    readers = {a for a, request in by_host if request.startswith("GET /alice-bucket/in/people.csv ")}
    part_writers = {a for a, request in by_host if request.startswith("PUT /alice-bucket/out/_stoker_temporary_")
                    and "/part-" in request}
    assert readers and readers <= nodes and part_writers and part_writers <= nodes, by_host

    def events_and_hosts() -> tuple[str, set[str], set[str]] | None:
        # The events the driver streamed: where its block manager (the driver's) and its executors
        # ran, and the end of its SQL execution (the whole run's events are in).
        answer = api.get(f"/api/v1/spark/jobs/stoker-session/runs/{attempt['spark_app_id']}/events")
        if answer.status_code != 200:
            return None
        driver, executors = set(), set()
        for line in answer.text.splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerBlockManagerAdded":
                block_manager = event["Block Manager ID"]
                (driver if block_manager["Executor ID"] == "driver" else executors).add(block_manager["Host"])
        complete = ("SparkListenerSQLExecutionEnd" in answer.text
                    and "SparkListenerEnvironmentUpdate" in answer.text)
        return (answer.text, driver, executors) if complete and executors >= nodes else None

    events, driver, executors = wait_for(events_and_hosts, 60,
                                         "the run's Spark events, from the driver's and both executors' hosts")
    assert driver == {net.addresses["worker2"]} and executors == nodes
    assert "stoker_s3_" in events  # the executors' data sources ran in this application
    view = api.get(f"/api/v1/runs/{run['id']}").json()
    assert view["effective_conf"]  # the Spark conf the attempt ran with, as the API shows it
    for secret in (keys["aws_secret_access_key"], keys["aws_access_key_id"]):
        for where, text in (("events", events), ("log", log), ("view", json.dumps(view)),
                            ("conf", json.dumps(view["effective_conf"]))):
            assert secret not in text, f"an S3 key in the run's {where}"


def _s3_requests(log: Path) -> list[tuple[str, str]]:
    """(client address, request line) of each request in moto's access log (werkzeug's format:
    `ADDR - - [time] "METHOD PATH HTTP/1.1" status -`, in colour)."""
    found = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")).splitlines():
        matched = re.match(r'(\S+) - - \[[^]]*\] "([^"]*)"', line)
        if matched:
            found.append((matched[1], matched[2]))
    return found


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


def test_stoker_across_hosts_loses_nothing_when_one_host_at_a_time_dies(hosts):
    net, tmp, s3 = hosts
    clients = [httpx.Client(base_url=f"http://{net.addresses[a]}:8000", timeout=30,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) for a in ("api1", "api2")]
    try:
        _across_hosts(net, tmp, s3, *clients)
    finally:
        for client in clients:
            client.close()


def _across_hosts(net: Net, tmp: Path, s3: MotoS3, api: httpx.Client, api2: httpx.Client) -> None:
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

    def cluster(statuses, timeout, via=api):
        seen: list[dict] = []

        def reached() -> dict | None:
            seen[:] = [via.get(f"/api/v1/clusters/{cluster_id}").json()]
            return seen[0] if seen[0]["status"] in statuses else None

        try:
            return wait_for(reached, timeout, f"cluster in {statuses}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: it is {seen[0]['status']} ({seen[0]['reason']})"
                                 + _logs(tmp, "api1", "api2")) from None

    ready = cluster(("ready", "failed"), 240)
    assert ready["status"] == "ready", ready["reason"] + _logs(tmp, "api1", "api2")
    placed = {n["name"]: (n["host_name"], n["host"]) for n in ready["nodes"]}
    assert placed == {"master": ("node1", net.addresses["node1"]), "worker0": ("node1", net.addresses["node1"]),
                      "worker1": ("node2", net.addresses["node2"])}
    assert ready["master_url"].startswith(f"spark://{net.addresses['node1']}:")
    state = _master_state(ready["web_url"])
    assert sorted(w["host"] for w in state["workers"] if w["state"] == "ALIVE") == sorted(
        [net.addresses["node1"], net.addresses["node2"]])

    token = _worker_token(api)
    _start_remote_worker(net, tmp, "worker2", token)  # alone for now: the S3 run is its
    _s3_to_s3_on_the_cluster_from_worker2(net, tmp, s3, api, cluster_id)
    _start_remote_worker(net, tmp, "worker1", token)
    _a_container_task_runs_4_times_over_both_node_hosts(api, tmp)

    load = SteadySubmits([str(c.base_url) for c in (api, api2)]).start()
    try:
        _hosts_die_one_at_a_time_under_load(net, tmp, api2, load, cluster_id, cluster)
    finally:
        load.close()
    _no_run_lost_or_doubled(api2, load, f"postgresql://postgres@{net.addresses['db']}:5432/postgres")


def _hosts_die_one_at_a_time_under_load(net: Net, tmp: Path, api2: httpx.Client, load: SteadySubmits,
                                        cluster_id: str, cluster) -> None:
    wait_for(lambda: len(load.answers) >= 20, 60, "the first submits of the steady load")
    net.kill_host("api1")  # mid-submit: the load goes on with api2, and so do the remote workers
    on_api2 = len(load.answers) + 10
    wait_for(lambda: len(load.answers) >= on_api2, 60, "submits answered by api2")
    assert load.retried  # at least the submit that api1 never answered went again to api2

    # The worker host running a run dies mid-run: its lease expires, the other worker runs it again.
    slow = api2.post("/api/v1/runs", json={"steps": [["sleep", 6], ["noop"]]}).json()["id"]
    running = wait_for(lambda: (r := api2.get(f"/api/v1/runs/{slow}").json())["state"] == "RUNNING" and r, 60,
                       "the slow run running")
    victim = running["attempts"][-1]["worker_id"]
    net.kill_host(victim)
    survivor = {"worker1": "worker2", "worker2": "worker1"}[victim]
    done = _wait_run(api2, slow, 90)
    assert done["state"] == "SUCCEEDED", str(done["error"]) + _logs(tmp, survivor, "api2")
    assert [(a["worker_id"], a["outcome"]) for a in done["attempts"]] == [(victim, "lost"), (survivor, "succeeded")]

    net.kill_host("node1")  # the master's host: its Podman service, conmon and both JVMs, at once
    degraded = cluster(("degraded",), 60, api2)  # api2 holds the cluster duties since api1 died
    assert degraded["reason"] == "host node1 stopped answering: node(s) master, worker0 lost"
    assert api2.get("/api/v1/hosts/node1").json()["health"] == "down"

    assert api2.post(f"/api/v1/clusters/{cluster_id}/repair").status_code == 202
    repaired = cluster(("ready",), 240, api2)
    # The master moved: new URLs, and the worker that stayed on node2 restarted to join it.
    assert repaired["reason"] == "repaired: restarted master on node2, worker0 on node2, worker1"
    assert {n["name"]: n["host_name"] for n in repaired["nodes"]} == {"master": "node2", "worker0": "node2",
                                                                      "worker1": "node2"}
    assert repaired["master_url"].startswith(f"spark://{net.addresses['node2']}:")
    alive = {(w["host"], w["port"]) for w in _master_state(repaired["web_url"])["workers"] if w["state"] == "ALIVE"}
    assert alive == {(net.addresses["node2"], n["port"]) for n in repaired["nodes"] if n["role"] == "worker"}
    node2 = api2.get("/api/v1/hosts/node2").json()
    assert node2["used"]["cores"] == 3 and {n["node"] for n in node2["nodes"]} == {"master", "worker0", "worker1"}

    started = time.monotonic()
    destroyed = api2.delete(f"/api/v1/clusters/{cluster_id}")
    assert destroyed.status_code == 200 and destroyed.json()["status"] == "destroyed"
    assert time.monotonic() - started < 60  # the dead host does not hold the destroy up
    assert api2.get("/api/v1/hosts/node2").json()["used"] == {"cores": 0, "mem": 0}


def _no_run_lost_or_doubled(api2: httpx.Client, load: SteadySubmits, database_url: str) -> None:
    """Every key of the load was answered with one run, and the database holds that one run for it;
    a key sent again (those retried after a failure, and a sample) is still answered with that run;
    each run succeeded, with one succeeded attempt."""
    import psycopg

    assert len(load.answers) >= 30 and all(len(ids) == 1 for ids in load.answers.values()), load.answers
    answered = {key: run_id for key, (run_id,) in load.answers.items()}
    for key in [*load.retried, *list(answered)[::50]]:
        again = api2.post("/api/v1/runs", json={"steps": [["noop"]], "idempotency_key": key})
        assert again.status_code == 200 and again.json()["id"] == answered[key], again.text

    def stored() -> dict[str, tuple[str, str, int]] | None:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT r.idempotency_key, r.id, r.state, (SELECT count(*) FROM attempts a WHERE a.run_id = r.id"
                " AND a.outcome = 'succeeded') FROM runs r WHERE r.idempotency_key LIKE 'steady-%'").fetchall()
        found = {key: (run_id, state, int(n)) for key, run_id, state, n in rows}
        return found if all(state != "QUEUED" and state != "RUNNING" for _, state, _ in found.values()) else None

    found = wait_for(stored, 120, "every run of the load ended")
    assert {key: run_id for key, (run_id, _, _) in found.items()} == answered  # none lost, none extra
    assert {(state, n) for _, state, n in found.values()} == {("SUCCEEDED", 1)}
