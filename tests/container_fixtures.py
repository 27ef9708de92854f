"""Real containers for the container tests: one private Podman API service for the session (its
own --root/--runroot under a temp dir, the built-in image imported into it) and a real local
registry (Debian's docker-registry) holding a pushed image. Skipped locally without Podman; a
failure under CI=true, where `make test` has installed it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN, IN_CI, make_services

PUSHED_REPOSITORY = "stoker/pushed"


@dataclass
class Runtime:
    docker_host: str
    podman: list[str]
    env: dict[str, str]
    registry: str | None  # 127.0.0.1:PORT, or None when docker-registry is not installed

    def run_containers(self, run_id: str) -> list[str]:
        """Ids of the containers (any state) labelled with this run."""
        done = subprocess.run([*self.podman, "ps", "-a", "-q", "--filter", f"label=io.stoker.run={run_id}"],
                              env=self.env, capture_output=True, text=True, check=True)
        return done.stdout.split()


def missing_tool(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (CI=true: `make test` installs it)")
    pytest.skip(what)


def _start_registry(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    from harness import free_port

    port = free_port()
    (tmp / "registry.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(tmp / "registry.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                return proc, address
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "docker-registry did not start"
        time.sleep(0.1)


@pytest.fixture(scope="session")
def container_runtime():
    from stoker.containers.image import ensure_builtin_image, podman_command
    from stoker.containers.runtime import PodmanService, podman_env

    if shutil.which("podman") is None:
        missing_tool("Podman is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="stoker-ct-"))
    podman = podman_command(tmp / "root", tmp / "runroot")
    registry_proc, registry = None, None
    extra_env: dict[str, str] = {}
    if shutil.which("docker-registry") is not None:
        registry_proc, registry = _start_registry(tmp)
        (tmp / "registries.conf").write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
        extra_env["CONTAINERS_REGISTRIES_CONF"] = str(tmp / "registries.conf")
    elif IN_CI:
        pytest.fail("docker-registry is not installed (CI=true: `make test` installs it)")
    env = podman_env(extra_env)
    ensure_builtin_image(podman)
    service = PodmanService(tmp, podman=podman, env=extra_env)
    runtime = Runtime(service.start(), podman, env, registry)
    if registry is not None:  # an image in the registry that the runtime does not have locally
        pushed = f"{registry}/{PUSHED_REPOSITORY}:1"
        subprocess.run([*podman, "tag", "localhost/stoker/busybox:latest", pushed], env=env, check=True)
        subprocess.run([*podman, "push", "--tls-verify=false", pushed], env=env, check=True, capture_output=True)
        subprocess.run([*podman, "rmi", pushed], env=env, check=True, capture_output=True)
    try:
        yield runtime
    finally:
        subprocess.run([*podman, "rm", "-a", "-f"], env=env, capture_output=True)
        service.stop()
        if registry_proc is not None:
            registry_proc.terminate()
            registry_proc.wait(10)
        # (not `system reset`: it also clears machine-wide network configuration)
        subprocess.run([*podman, "rmi", "-a", "-f"], env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def container_services(tmp_path, container_runtime):
    s = make_services(tmp_path / "data", docker_host=container_runtime.docker_host, lease_seconds=5.0,
                      heartbeat_seconds=1.0, reap_interval_seconds=0.5)
    yield s
    s.images.join()
    s.close()


@pytest.fixture
def container_api(container_services):
    """A TestClient with the embedded worker (its container lane on the session's Podman)."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    app = create_app(container_services, background=Background(container_services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def wait_until(read, done, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last: {value}"
        time.sleep(0.05)
