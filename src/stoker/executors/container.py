"""The container executor: one attempt = one container, over the Docker Engine API (Docker or Podman).

An attempt's container carries labels naming its run and attempt, so a container left by an earlier
attempt of the same run (its worker died: the reaper re-queued the run) is found and removed before
the next one starts: no run ever has two containers at once. The container is created with its
limits (memory without extra swap, CPUs, pids) and no network unless the spec names one, started,
waited for, its stdout and stderr collected apart, and removed.

How it ends:
* exit 0 → the attempt succeeded; its result is {exit_code, stdout, stderr, image_digest, …};
* another exit code → failed, with the exit code and the last lines of its output; out of memory is
  said as such. A container that ran and exited non-zero did what it was told, so the failure is
  permanent (not retried automatically; POST /runs/{id}/retry runs it again);
* past the spec's `timeout_seconds` → killed, outcome `timed_out` (retried by the job's policy, as
  every timeout: the next attempt may be faster);
* cancelled (or the worker stops) → the container is stopped through the attempt's cancel hook.
Failures of the runtime itself (API unreachable, image missing) are ordinary failures: retried.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from stoker.core.routing import CONTAINER_EXECUTOR
from stoker.core.states import Outcome
from stoker.executors.base import Execution

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

log = logging.getLogger(__name__)

LABEL_RUN = "io.stoker.run"
LABEL_ATTEMPT = "io.stoker.attempt"  # containers/janitor.py removes those of ended attempts
LABEL_JOB = "io.stoker.job"
MAX_STREAM_CHARS = 1_000_000  # of each of stdout and stderr, the tail is kept
ERROR_TAIL_LINES = 10
STOP_GRACE_SECONDS = 2


class ContainerFailed(Exception):
    """The container ran and ended badly; `result` holds its exit code and output."""

    def __init__(self, message: str, result: dict[str, Any], *, permanent: bool = True) -> None:
        super().__init__(message)
        self.result = result
        self.permanent = permanent


class ContainerExecutor:
    name = CONTAINER_EXECUTOR

    def __init__(self, docker_host: str | None, *, api_timeout: float = 60.0) -> None:
        self.docker_host = docker_host  # this worker's own runtime; None: only runs placed on a host
        self.api_timeout = api_timeout
        self._clients: dict[str, docker.DockerClient] = {}  # by endpoint
        self._lock = threading.Lock()
        self._digests: dict[str, str | None] = {}  # image id -> registry digest (one inspect per image)
        self._podman: dict[str, bool] = {}  # by endpoint, known at its first wait

    def client(self, endpoint: str | None = None) -> docker.DockerClient:
        """One client per container API (this worker's runtime, or a host's a run was placed on),
        made at first use (its connection pool serves every thread)."""
        endpoint = endpoint or self.docker_host
        if endpoint is None:
            raise RuntimeError("this worker has no container runtime of its own and the run was placed on no host")
        with self._lock:
            if endpoint not in self._clients:
                import docker

                self._clients[endpoint] = docker.DockerClient(base_url=endpoint, timeout=int(self.api_timeout))
            return self._clients[endpoint]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def execute(self, execution: Execution) -> Any:
        claimed = execution.claimed
        spec = container_spec(claimed.options)
        client = self.client(claimed.host_endpoint)
        # Only a later attempt can find a container of its run (left by a worker that died).
        # On the host this attempt was placed on, and on the one the attempt before it ran on (a
        # host that died took its containers with it: nothing to remove there, nothing to wait for).
        removed = remove_run_containers(client, claimed.run_id) if claimed.number > 1 else 0
        earlier = claimed.earlier_host_endpoint
        if earlier and earlier != (claimed.host_endpoint or self.docker_host):
            removed += _remove_on_earlier_host(self.client(earlier), claimed.run_id, execution)
        if removed:
            execution.log.info("removed %d container(s) left by an earlier attempt of this run", removed)
        container = client.containers.create(
            spec["image"], spec.get("command") or None,
            environment={**(spec.get("env") or {}), **(execution.secrets.get("secret_env") or {})},
            labels={LABEL_RUN: claimed.run_id, LABEL_ATTEMPT: claimed.attempt_id,
                    LABEL_JOB: claimed.job_name},
            name=f"stoker-{claimed.run_id}-{claimed.number}", detach=True,
            **limits(spec))
        try:
            return self._run(execution, container, spec, claimed.host)
        finally:
            with contextlib.suppress(Exception):  # already gone, or the runtime is down: logged by labels
                container.remove(force=True)

    def _run(self, execution: Execution, container: Container, spec: dict[str, Any], host: str | None) -> Any:
        import requests

        control = execution.control
        execution.annotate(executor=self.name)
        started = time.time()
        if control.cancelled.is_set():
            raise ContainerFailed(control.message or "stopped before it started", {}, permanent=False)
        container.start()
        # Registered once started: a cancel that came earlier runs the hook right here.
        control.on_cancel(lambda: _stop(container, kill=control.reason is Outcome.TIMED_OUT))
        execution.log.info("container %s started (image %s)%s", container.short_id, spec["image"],
                           f" on host {host}" if host else "")
        timeout = spec.get("timeout_seconds")
        try:
            exit_code = self._wait(container, timeout) if timeout else self._wait_forever(container)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            if not timeout or time.time() - started < timeout:
                raise
            control.cancel(Outcome.TIMED_OUT, f"timed out after {timeout:g} s: the container was killed")
            exit_code = self._wait(container, self.api_timeout)
        if exit_code != 0:
            container.reload()  # for State.OOMKilled
        result = self._result(container, exit_code, started)
        if host is not None:
            result["host"] = host
        # Podman on cgroup v1 does not always set OOMKilled; a SIGKILL (137) we did not send to a
        # container with a memory limit is the kernel's OOM killer.
        result["oom_killed"] = result["oom_killed"] or (
            result["exit_code"] == 137 and bool(spec.get("memory_mb")) and control.reason is None)
        for stream in ("stdout", "stderr"):
            if result[stream]:
                execution.attempt_log.append(f"--- {stream} ---\n{result[stream]}")
        if control.reason is not None:
            # Stopped from outside (cancel, timeout, worker stop): the loop reports the reason.
            raise ContainerFailed(control.message or control.reason.value, result, permanent=False)
        if result["exit_code"] != 0:
            raise ContainerFailed(_failure_message(result), result)
        return result


    def _wait(self, container: Container, timeout: float) -> int:
        """The container's exit code, once it has exited (a read timeout past `timeout` seconds).

        On Podman, its own wait endpoint is asked to look every 10 ms: the Docker-compatible one
        looks every 250 ms, which cost each short run ~200 ms (measured: start → exit seen, 380 ms
        vs 190 ms for `echo`). The SDK's request helpers are used for it, as it has no method."""
        api = container.client.api
        if api.base_url not in self._podman:
            self._podman[api.base_url] = _is_podman(container.client)
        if not self._podman[api.base_url]:
            return int(container.wait(timeout=timeout).get("StatusCode", -1))
        response = api._post(api._url("/libpod/containers/{0}/wait", container.id),
                             params={"condition": ["stopped", "exited"], "interval": "10ms"}, timeout=timeout)
        api._raise_for_status(response)
        return int(response.json())

    def _wait_forever(self, container: Container) -> int:
        """Wait with no deadline, re-asking every minute (a read timeout is not the container's end)."""
        import requests

        while True:
            try:
                return self._wait(container, 60)
            except requests.exceptions.ReadTimeout:
                continue

    def _result(self, container: Container, exit_code: int, started: float) -> dict[str, Any]:
        return {
            "exit_code": exit_code,
            "oom_killed": bool(container.attrs.get("State", {}).get("OOMKilled")),
            "stdout": _tail(container.logs(stdout=True, stderr=False)),
            "stderr": _tail(container.logs(stdout=False, stderr=True)),
            "image_digest": self._digest(container),
            "container_id": container.id,
            "seconds": round(time.time() - started, 3),
        }

    def _digest(self, container: Container) -> str | None:
        """The registry digest of the container's image (its id for a local image), cached per image."""
        image_id = container.attrs.get("Image")
        if image_id not in self._digests:
            image = container.image
            digests = (image.attrs.get("RepoDigests") or []) if image is not None else []
            self._digests[image_id] = digests[0].split("@", 1)[1] if digests else image_id
        return self._digests[image_id]


def container_spec(options: dict[str, Any]) -> dict[str, Any]:
    spec = options.get("container")
    if not isinstance(spec, dict) or not spec.get("image"):
        raise ValueError("this run has no container spec (options.container with an image)")
    return spec


def limits(spec: dict[str, Any]) -> dict[str, Any]:
    """Docker SDK arguments for the spec's limits; memory gets no extra swap, so the limit holds."""
    args: dict[str, Any] = {"network_mode": spec.get("network") or "none"}
    if spec.get("memory_mb"):
        args["mem_limit"] = args["memswap_limit"] = f"{int(spec['memory_mb'])}m"
    if spec.get("cpus"):
        args["nano_cpus"] = int(float(spec["cpus"]) * 1e9)
    if spec.get("pids"):
        args["pids_limit"] = int(spec["pids"])
    return args


def remove_run_containers(client: docker.DockerClient, run_id: str) -> int:
    """Remove every container of a run (an earlier attempt's, left by a worker that died)."""
    import docker.errors

    removed = 0
    for leftover in client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}):
        with contextlib.suppress(docker.errors.NotFound):
            leftover.remove(force=True)
            removed += 1
    return removed




def _remove_on_earlier_host(client: docker.DockerClient, run_id: str, execution: Execution) -> int:
    """The run's containers on the host its earlier attempt ran on; a host that does not answer is
    logged and passed over (one that died took its containers with it)."""
    import docker.errors
    import requests

    try:
        return remove_run_containers(client, run_id)
    except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
        execution.log.warning("the host of the earlier attempt did not answer (%s): its container, if "
                              "any, was not removed", exc)
        return 0


def _is_podman(client: docker.DockerClient) -> bool:
    components = client.version().get("Components") or []
    return any("podman" in str(c.get("Name", "")).lower() for c in components)


def _stop(container: Container, *, kill: bool) -> None:
    """Past its timeout a container is killed; otherwise (a cancel, a worker stop) it gets SIGTERM
    and STOP_GRACE_SECONDS before SIGKILL."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        if kill:
            container.kill()
        else:
            container.stop(timeout=STOP_GRACE_SECONDS)




def _tail(raw: bytes) -> str:
    text = raw.decode(errors="replace")
    if len(text) > MAX_STREAM_CHARS:
        return "[… earlier output dropped …]\n" + text[-MAX_STREAM_CHARS:]
    return text


def _failure_message(result: dict[str, Any]) -> str:
    if result["oom_killed"]:
        head = f"out of memory: the container was killed at its memory limit (exit code {result['exit_code']})"
    else:
        head = f"the container exited with code {result['exit_code']}"
    lines = (result["stderr"] or result["stdout"]).strip().splitlines()[-ERROR_TAIL_LINES:]
    return head + ("\n" + "\n".join(lines) if lines else "")
