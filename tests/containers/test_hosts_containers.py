"""Cluster nodes across two container hosts, each a Podman API service of its own (its own storage,
so neither sees the other's containers or images): nodes placed by each host's free room, images
pulled from the registry by the host that needs them, a host whose API stops answering degrades its
cluster, and a repair moves the lost node onto the host that still answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services
from container_fixtures import PUSHED_REPOSITORY, missing_tool, wait_until

pytestmark = pytest.mark.containers

TEMPLATE = {"nodes": {f"node{i}": {"docker_image": "{{ opts['image'] }}", "cpu": 1, "mem": 64,
                                   "command": ["sleep", "3600"]} for i in range(2)},
            "services": {"sleepers": {"nodes": ["node0", "node1"]}}}


class PodmanHost:
    """A Podman API service with storage of its own: one "host" as Stoker sees it."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        from stoker.containers.image import podman_command
        from stoker.containers.runtime import PodmanService

        tmp.mkdir(parents=True)
        self.podman = podman_command(tmp / "root", tmp / "runroot")
        self.env = env
        self.service = PodmanService(tmp, podman=self.podman, env=env)
        self.endpoint = self.service.start()

    def labelled(self, cluster_id: str) -> list[str]:
        done = subprocess.run([*self.podman, "ps", "--format", "json", "--filter",
                               f"label=io.stoker.cluster={cluster_id}"], env=self.env, capture_output=True,
                              text=True, check=True)
        return sorted(c["Labels"]["io.stoker.cluster.node"] for c in json.loads(done.stdout or "[]"))

    def close(self) -> None:
        self.service.stop()
        subprocess.run([*self.podman, "rm", "-a", "-f"], env=self.env, capture_output=True)
        subprocess.run([*self.podman, "rmi", "-a", "-f"], env=self.env, capture_output=True)


@pytest.fixture
def two_hosts(container_runtime):
    from stoker.containers.runtime import podman_env

    if container_runtime.registry is None:
        missing_tool("docker-registry is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="stoker-hosts-"))
    env = {k: v for k, v in podman_env().items() if k == "CONTAINERS_REGISTRIES_CONF"}
    env.update({k: v for k, v in container_runtime.env.items() if k == "CONTAINERS_REGISTRIES_CONF"})
    made: list[PodmanHost] = []
    try:
        made.append(PodmanHost(tmp / "a", env))
        made.append(PodmanHost(tmp / "b", env))
        yield made
    finally:
        for host in made:
            host.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_nodes_spread_over_hosts_and_a_lost_host_is_repaired_onto_the_other(tmp_path, container_runtime,
                                                                            two_hosts):
    host_a, host_b = two_hosts
    services = make_services(tmp_path / "data", local_host=False, cluster_reconcile_seconds=0.3,
                             host_down_after_seconds=2.0)
    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False, schedules=False))
    image = f"{container_runtime.registry}/{PUSHED_REPOSITORY}:1"  # on neither host yet: each pulls it
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
            assert api.get("/api/v1/hosts").json()["hosts"] == []  # STOKER_LOCAL_HOST=false
            for name, host in (("hosta", host_a), ("hostb", host_b)):
                made = api.post("/api/v1/hosts", json={"name": name, "endpoint": host.endpoint, "cores": 2,
                                                       "mem": 1024})
                assert made.status_code == 201, made.text
            assert api.post("/api/v1/products", json={"name": "sleepers", "version": "1"}).status_code == 201
            template = json.dumps(TEMPLATE)
            assert api.put("/api/v1/products/sleepers/1/template", content=template,
                           headers={"content-type": "application/json"}).status_code == 204
            assert api.put("/api/v1/products/sleepers/1/options",
                           json={"required": {}, "optional": {"image": image}, "advanced": {}}).status_code == 204
            launched = api.post("/api/v1/products/sleepers/1/clusters", json={})
            assert launched.status_code == 202, launched.text
            cluster_id = launched.json()["id"]

            def cluster(statuses, timeout=60.0):
                return wait_until(lambda: api.get(f"/api/v1/clusters/{cluster_id}").json(),
                                  lambda c: c["status"] in statuses, timeout, f"cluster in {statuses}")

            ready = cluster(("ready", "failed"))
            assert ready["status"] == "ready", ready["reason"]
            # One node a host: each took the one with the most room when it was placed.
            assert {n["name"]: n["host_name"] for n in ready["nodes"]} == {"node0": "hosta", "node1": "hostb"}
            assert host_a.labelled(cluster_id) == ["node0"] and host_b.labelled(cluster_id) == ["node1"]
            views = {h["name"]: h for h in api.get("/api/v1/hosts").json()["hosts"]}
            assert views["hostb"]["used"] == {"cores": 1, "mem": 64} and views["hostb"]["health"] == "up"
            assert [n["node"] for n in views["hostb"]["nodes"]] == ["node1"]

            host_b.service.stop()  # its API stops answering (what runs there cannot be reached)
            degraded = cluster(("degraded",), timeout=30)
            assert degraded["reason"] == "host hostb stopped answering: node(s) node1 lost"
            hostb = api.get("/api/v1/hosts/hostb").json()
            assert hostb["health"] == "down" and hostb["last_error"] and hostb["failing_since"]

            assert api.post(f"/api/v1/clusters/{cluster_id}/repair").status_code == 202
            repaired = cluster(("ready",), timeout=60)
            assert repaired["reason"] == "repaired: restarted node1 on hosta"
            assert {n["name"]: n["host_name"] for n in repaired["nodes"]} == {"node0": "hosta", "node1": "hosta"}
            assert host_a.labelled(cluster_id) == ["node0", "node1"]
            assert api.get("/api/v1/hosts/hosta").json()["free"] == {"cores": 0, "mem": 1024 - 128}

            # Placement now skips the host that does not answer, and says so.
            second = api.post("/api/v1/products/sleepers/1/clusters", json={}).json()["id"]
            waiting = wait_until(lambda: api.get(f"/api/v1/clusters/{second}").json(),
                                 lambda c: c["reason"], 30, "a reason")
            assert waiting["status"] == "scheduling"
            assert "hostb is not answering" in waiting["reason"] and "hosta has 0 cores" in waiting["reason"]
            api.delete(f"/api/v1/clusters/{second}")

            assert api.delete(f"/api/v1/clusters/{cluster_id}").json()["status"] == "destroyed"
            assert host_a.labelled(cluster_id) == []
    finally:
        services.close()


def test_an_api_without_a_runtime_of_its_own_imports_and_runs_container_jobs_on_a_host(
        tmp_path, container_runtime, two_hosts):
    """An API replica on a machine without Podman (docs/deploy.md): a container job is refused until
    a container host is registered, then its image is imported through that host's API, and its runs
    are placed there by a worker that has no runtime either."""
    host_a, _host_b = two_hosts
    services = make_services(tmp_path / "data", local_host=False, lease_seconds=5.0, heartbeat_seconds=1.0)
    assert not services.containers.available
    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=True, schedules=False))
    image = f"{container_runtime.registry}/{PUSHED_REPOSITORY}:1"  # on no host yet
    job = {"name": "hello", "kind": "container", "image": image, "command": "echo hello-from-a-host",
           "memory_mb": 64}
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
            refused = api.post("/api/v1/jobs", json=job)
            assert refused.status_code == 503 and "POST /api/v1/hosts" in refused.json()["detail"], refused.text
            assert api.get("/api/v1/jobs/hello").status_code == 404  # nothing was made
            assert api.post("/api/v1/hosts", json={"name": "hosta", "endpoint": host_a.endpoint, "cores": 2,
                                                   "mem": 1024}).status_code == 201
            assert api.post("/api/v1/jobs", json=job).status_code == 201
            ready = wait_until(lambda: api.get("/api/v1/jobs/hello").json(),
                               lambda j: j["image_status"] in ("READY", "ERROR"), 60, "the image import")
            assert ready["image_status"] == "READY", ready
            pulled = subprocess.run([*host_a.podman, "image", "exists", image], env=host_a.env)
            assert pulled.returncode == 0  # imported through the host's API
            run_id = api.post("/api/v1/jobs/hello/runs", json={}).json()["id"]
            run = wait_until(lambda: api.get(f"/api/v1/runs/{run_id}").json(),
                             lambda r: r["state"] in ("SUCCEEDED", "FAILED"), 60, "the run")
            assert run["state"] == "SUCCEEDED", run
            attempt = api.get(f"/api/v1/runs/{run_id}/attempts/1").json()
            assert attempt["host_name"] == "hosta", attempt
            assert "hello-from-a-host" in api.get(f"/api/v1/runs/{run_id}/log").text
    finally:
        services.images.join()
        services.close()
