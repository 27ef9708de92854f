"""Container hosts through the real API (docs/hosts.md): the local machine registered by default,
register / drain / undrain / remove with the refusals, placement's reasons at launch and while a
cluster waits, what runs on each host, the health check against a real and a silent endpoint,
the CLI and the UI page."""

from __future__ import annotations

import itertools
import socket

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services


@pytest.fixture
def hosts_services(tmp_path):
    s = make_services(tmp_path / "data", cluster_capacity="cores=4,mem=4096")
    yield s
    s.close()


@pytest.fixture
def hosts_api(hosts_services):
    """The API without the duties: the tests run the scheduler and the host check themselves."""
    from stoker.app import Background, create_app

    app = create_app(hosts_services, background=Background(
        hosts_services, embedded_worker=False, schedules=False, cluster_duties=False))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def _silent_endpoint() -> str:
    """A tcp endpoint nothing listens on (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def _ready_cluster_on(services, placed: dict[str, str]) -> str:
    """A cluster in status ready whose nodes (1 core, 256 MB each) are recorded on these hosts."""
    store = services.clusters.store
    cluster = store.register(owner="alice", product="spark-standalone", version="4.3", size=1, options={},
                             spec={"nodes": {}}, orchestrator="local", needs=(len(placed), 256 * len(placed)))
    for before, after in itertools.pairwise(["registered", "scheduling", "scheduled", "configuring",
                                             "configured", "ready"]):
        store.transition(cluster.id, after, allowed_from=(before,))
    store.set_nodes(cluster.id, [running_node(cluster.id, node, host) for node, host in placed.items()])
    return str(cluster.id)


def running_node(cluster_id: str, name: str, host_name: str):
    from stoker.store.records.clusters import Node

    return Node(cluster_id=cluster_id, name=name, service=None, role="worker", cpu=1, mem=256, host="127.0.0.1",
                port=None, web_port=None, pid=None, pid_started_at=None, state="running", workdir=None,
                host_name=host_name)


def test_the_local_machine_is_registered_by_default_with_the_configured_capacity(hosts_api):
    listed = hosts_api.get("/api/v1/hosts")
    assert listed.status_code == 200
    [local] = listed.json()["hosts"]
    assert local["name"] == "local" and local["local"] is True and local["endpoint"] is None
    assert (local["cores"], local["mem"], local["address"]) == (4, 4096, "127.0.0.1")
    assert local["state"] == "active" and local["free"] == {"cores": 4, "mem": 4096} and local["nodes"] == []


def test_register_drain_undrain_remove(hosts_api):
    made = hosts_api.post("/api/v1/hosts", json={"name": "node1", "endpoint": "tcp://10.250.0.11:8888",
                                                 "cores": 2, "mem": 2048})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["address"] == "10.250.0.11" and body["health"] == "unknown" and body["local"] is False
    assert body["links"]["self"] == "/api/v1/hosts/node1"
    again = hosts_api.post("/api/v1/hosts", json={"name": "node1", "endpoint": "tcp://10.250.0.12:8888",
                                                  "cores": 2, "mem": 2048})
    assert again.status_code == 409 and "node1" in again.text
    assert hosts_api.get("/api/v1/hosts/node1").json()["endpoint"] == "tcp://10.250.0.11:8888"
    assert hosts_api.post("/api/v1/hosts/node1/drain").json()["state"] == "draining"
    assert hosts_api.get("/api/v1/hosts/node1").json()["state"] == "draining"
    assert hosts_api.post("/api/v1/hosts/node1/undrain").json()["state"] == "active"
    assert hosts_api.delete("/api/v1/hosts/node1").status_code == 204
    assert hosts_api.get("/api/v1/hosts/node1").status_code == 404
    for method, path in [("POST", "/api/v1/hosts/nope/drain"), ("DELETE", "/api/v1/hosts/nope")]:
        assert hosts_api.request(method, path).status_code == 404


@pytest.mark.parametrize("change, words", [
    ({"endpoint": "ssh://10.0.0.1:22"}, "tcp://"),
    ({"endpoint": "tcp://10.0.0.1"}, "port"),
    ({"endpoint": "tcp://10.0.0.1:8888/v1.40"}, "nothing else"),
    ({"endpoint": "unix://relative.sock"}, "absolute"),
    ({"name": "../x"}, "name"),
    ({"cores": 0}, "cores"),
    ({"mem": 10}, "mem"),
    ({"cores": "4"}, "cores"),
    ({"address": "not an address!"}, "address"),
    ({"extra": 1}, "extra"),
])
def test_bad_hosts_are_refused_and_nothing_is_stored(hosts_api, change, words):
    body = {"name": "node1", "endpoint": "tcp://10.250.0.11:8888", "cores": 2, "mem": 2048, **change}
    response = hosts_api.post("/api/v1/hosts", json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    assert [h["name"] for h in hosts_api.get("/api/v1/hosts").json()["hosts"]] == ["local"]


def test_what_runs_on_a_host_holds_its_capacity_and_keeps_it_from_removal(hosts_api, hosts_services):
    hosts_api.post("/api/v1/hosts", json={"name": "node1", "endpoint": "tcp://10.250.0.11:8888",
                                          "cores": 2, "mem": 2048})
    cluster_id = _ready_cluster_on(hosts_services, {"worker0": "node1", "worker1": "node1", "master": "local"})
    node1 = hosts_api.get("/api/v1/hosts/node1").json()
    assert node1["used"] == {"cores": 2, "mem": 512} and node1["free"] == {"cores": 0, "mem": 1536}
    assert [(n["cluster_id"], n["node"]) for n in node1["nodes"]] == [(cluster_id, "worker0"),
                                                                      (cluster_id, "worker1")]
    nodes = hosts_api.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["nodes"]
    assert {n["name"]: n["host_name"] for n in nodes} == {"master": "local", "worker0": "node1",
                                                          "worker1": "node1"}
    refused = hosts_api.delete("/api/v1/hosts/node1")
    assert refused.status_code == 409 and cluster_id in refused.text
    assert hosts_api.get("/api/v1/hosts/node1").status_code == 200
    hosts_services.clusters.store.transition(cluster_id, "destroyed", allowed_from=("ready",))
    assert hosts_api.get("/api/v1/hosts/node1").json()["used"] == {"cores": 0, "mem": 0}
    assert hosts_api.delete("/api/v1/hosts/node1").status_code == 204


def test_a_cluster_that_fits_no_host_is_refused_and_one_with_no_room_now_waits_saying_why(hosts_api,
                                                                                       hosts_services):
    launch = "/api/v1/products/spark-standalone/4.3/clusters"
    too_big = hosts_api.post(launch, json={"size": 1, "worker.cores": 5})
    assert too_big.status_code == 422, too_big.text
    assert "never fit" in too_big.text and "worker0 (5 cores, 512 MB) fits on none" in too_big.text
    assert "local has 4 cores" in too_big.text
    assert hosts_api.get("/api/v1/clusters").json()["clusters"] == []
    hosts_api.post("/api/v1/hosts/local/drain")
    waiting = hosts_api.post(launch, json={"size": 1})
    assert waiting.status_code == 202, waiting.text
    cluster_id = waiting.json()["id"]
    hosts_services.clusters.schedule()
    view = hosts_api.get(f"/api/v1/clusters/{cluster_id}").json()
    assert view["status"] == "scheduling"
    assert view["reason"].startswith("waiting for a host: needs 2 cores and 768 MB in all; worker0 (1 cores, "
                                     "512 MB) fits on none")
    assert "local is draining" in view["reason"]
    # A host the local orchestrator cannot start processes on does not help it.
    hosts_api.post("/api/v1/hosts", json={"name": "node1", "endpoint": "tcp://10.250.0.11:8888",
                                          "cores": 8, "mem": 8192})
    hosts_services.clusters.schedule()
    view = hosts_api.get(f"/api/v1/clusters/{cluster_id}").json()
    assert view["status"] == "scheduling" and "node1 is not usable by this orchestrator" in view["reason"]
    assert hosts_api.delete(f"/api/v1/clusters/{cluster_id}").json()["status"] == "destroyed"


def test_the_health_check_asks_each_hosts_container_api(hosts_api, hosts_services, container_runtime):
    hosts_api.post("/api/v1/hosts", json={"name": "podman", "endpoint": container_runtime.docker_host,
                                          "cores": 2, "mem": 2048})
    silent = _silent_endpoint()
    hosts_api.post("/api/v1/hosts", json={"name": "silent", "endpoint": silent, "cores": 2, "mem": 2048})
    checker = hosts_services.clusters.hosts
    checker.down_after = 3600.0  # one failed check is not a lost host
    assert checker.check() == []
    views = {h["name"]: h for h in hosts_api.get("/api/v1/hosts").json()["hosts"]}
    assert views["podman"]["health"] == "up" and views["podman"]["last_error"] is None
    assert views["local"]["health"] == "up"
    assert views["silent"]["health"] == "unknown" and views["silent"]["last_error"]
    assert views["silent"]["failing_since"] is not None and views["podman"]["failing_since"] is None
    checker.down_after = 0.0  # failing for long enough now
    assert checker.check() == ["silent"]
    views = {h["name"]: h for h in hosts_api.get("/api/v1/hosts").json()["hosts"]}
    assert views["silent"]["health"] == "down" and views["podman"]["health"] == "up"
    assert checker.check() == []  # still down: lost once, not at every check
    assert checker.down() == {"silent"}


def test_the_cli_lists_adds_drains_and_removes(hosts_api, monkeypatch):
    from stoker.cli import main
    from stoker.cli.remote import api_errors
    from stoker.client import StokerClient

    def request(url, token, method, path, **kwargs):  # cli/remote.py's request, on the in-process app
        made = StokerClient(url, token)
        made.http = hosts_api  # the TestClient is an httpx client on the app
        with api_errors():  # as connect() does: the server's message, one line
            return made.request(method, path, **kwargs)

    monkeypatch.setattr("stoker.cli.hosts._request", request)
    runner = CliRunner()
    added = runner.invoke(main, ["hosts", "add", "node1", "--endpoint", "tcp://10.250.0.11:8888", "--cores", "2",
                                 "--mem", "2048"])
    assert added.exit_code == 0, added.output
    assert "node1" in added.output and "10.250.0.11" in added.output
    listed = runner.invoke(main, ["hosts", "list"])
    assert listed.exit_code == 0 and "local" in listed.output and "(this machine)" in listed.output
    assert "cores 0/2 (free 2)" in listed.output
    drained = runner.invoke(main, ["hosts", "drain", "node1"])
    assert drained.exit_code == 0 and "draining" in drained.output
    bad = runner.invoke(main, ["hosts", "add", "x", "--endpoint", "ftp://a:1", "--cores", "1", "--mem", "128"])
    assert bad.exit_code != 0 and "422" in bad.output and "endpoint" in bad.output
    removed = runner.invoke(main, ["hosts", "remove", "node1"])
    assert removed.exit_code == 0 and "removed host node1" in removed.output
    assert [h["name"] for h in hosts_api.get("/api/v1/hosts").json()["hosts"]] == ["local"]
