"""Container jobs as first-class Stoker jobs: the native API, the container lane, and a worker
SIGKILLed mid-container (real `stoker serve` / `stoker worker` processes)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from container_fixtures import wait_until
from harness import Server, Worker

pytestmark = pytest.mark.containers

BUILTIN = "localhost/stoker/busybox:latest"


def test_native_container_job_with_params_batches_and_idempotency(container_api):
    client = container_api
    created = client.post("/api/v1/jobs", json={
        "name": "greet", "kind": "container", "image": BUILTIN,
        "command": "sh -c 'echo {{greeting}} $WHO'", "env": {"WHO": "{{who}}"}, "memory_mb": 64,
        "max_concurrent_runs": 4})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["kind"] == "container" and job["image_status"] == "READY"
    assert job["links"]["stevedore_task"] == f"/task/{job['id']}/"
    assert client.get(f"/task/{job['id']}/").json()["status"] == "READY"  # a task is a container job

    body = {"params": {"greeting": "hello", "who": "world"}, "idempotency_key": "k1"}
    first = client.post("/api/v1/jobs/greet/runs", json=body)
    again = client.post("/api/v1/jobs/greet/runs", json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    run_id = first.json()["id"]
    run = wait_until(lambda: client.get(f"/api/v1/runs/{run_id}").json(),
                     lambda r: r["state"] in ("SUCCEEDED", "FAILED"), 60, "the run")
    assert run["state"] == "SUCCEEDED" and run["result"]["stdout"] == "hello world\n"
    assert run["attempts"][0]["executor"] == "container"
    assert "hello world" in client.get(f"/api/v1/runs/{run_id}/log").text

    missing = client.post("/api/v1/jobs/greet/runs", json={"params": {"greeting": "hi"}})
    assert missing.status_code == 422 and "who" in missing.json()["detail"]

    # Without params the placeholders are missing: the batch is refused whole (nothing queued).
    refused = client.post("/api/v1/batches", json={"job": "greet", "count": 3})
    assert refused.status_code == 422 and len(client.get("/api/v1/jobs/greet/runs").json()["runs"]) == 1
    batch = client.post("/api/v1/batches", json={"job": "greet", "params_list": [
        {"greeting": "hi", "who": "a"}, {"greeting": "hi", "who": "b"}]}).json()
    wait_until(lambda: client.get(f"/api/v1/batches/{batch['batch_id']}").json(), lambda b: b["done"],
               60, "the batch")
    outputs = sorted(client.get(f"/api/v1/runs/{r}").json()["result"]["stdout"] for r in batch["run_ids"])
    assert outputs == ["hi a\n", "hi b\n"]
    result = client.get(f"/result/{batch['batch_id']}/").json()  # a batch is a Stevedore result
    assert result["status"] == "COMPLETE" and result["times"] == 2


def test_secret_env_reaches_the_container_and_nothing_else(container_api, container_services):
    """options.secret_env: sealed at rest, redacted in answers, set in the container only."""
    client = container_api
    secret = "s3cr3t-8c1f0e7a-unique"
    client.post("/api/v1/jobs", json={"name": "uses-key", "kind": "container", "image": BUILTIN,
                                      "command": ["sh", "-c", 'printf %s "$API_KEY" | md5sum']})
    submitted = client.post("/api/v1/jobs/uses-key/runs", json={"options": {"secret_env": {"API_KEY": secret}}})
    assert submitted.status_code == 201, submitted.text
    run_id = submitted.json()["id"]
    run = wait_until(lambda: client.get(f"/api/v1/runs/{run_id}").json(),
                     lambda r: r["state"] in ("SUCCEEDED", "FAILED"), 60, "the run")
    digest = hashlib.md5(secret.encode()).hexdigest()
    assert run["state"] == "SUCCEEDED" and run["result"]["stdout"].split()[0] == digest, run  # it had the key
    assert run["options"]["secret_env"] == "***redacted***"
    answers = [submitted.text, client.get(f"/api/v1/runs/{run_id}").text, client.get(f"/api/v1/runs/{run_id}/log").text,
               client.get("/api/v1/jobs/uses-key/runs").text, client.get("/api/v1/runs").text]
    assert [text for text in answers if secret in text] == []
    files = [p for p in container_services.settings.data_dir.rglob("*") if p.is_file()]
    assert not [p for p in files if secret.encode() in p.read_bytes()]

    bad = client.post("/api/v1/jobs/uses-key/runs", json={"options": {"secret_env": {"A=B": secret}}})
    assert bad.status_code == 422 and "options.secret_env" in bad.text and secret not in bad.text
    s3 = client.post("/api/v1/jobs/uses-key/runs", json={"options": {"s3": {"aws_access_key_id": "k"}}})
    assert s3.status_code == 422 and "secret_env" in s3.json()["detail"]
    pipeline = client.post("/api/v1/runs", json={"steps": [["noop"]], "options": {"secret_env": {"A": "b"}}})
    assert pipeline.status_code == 422 and "container runs" in pipeline.json()["detail"]


def test_a_container_job_gets_its_env_from_a_named_secret_and_its_output_is_redacted(container_api,
                                                                                     container_services):
    """The job names an `env` secret (options.secret_env); a run with no body gets its keys as
    variables when its attempt starts, and the container that prints them shows [REDACTED]."""
    client = container_api
    value, other = "envval-3e9d1c7b2a", "second-6f2a9c"
    made = client.post("/api/v1/secrets", json={"name": "app-env", "kind": "env",
                                                "values": {"API_KEY": value, "OTHER": other}})
    assert made.status_code == 201, made.text
    job = client.post("/api/v1/jobs", json={
        "name": "prints-env", "kind": "container", "image": BUILTIN, "max_attempts": 1,
        "command": ["sh", "-c", 'echo "key=$API_KEY"; echo "other=$OTHER" >&2; printf %s "$API_KEY" | md5sum'],
        "options": {"secret_env": {"secret": "app-env"}}})
    assert job.status_code == 201, job.text
    run_id = client.post("/api/v1/jobs/prints-env/runs", json={}).json()["id"]
    run = wait_until(lambda: client.get(f"/api/v1/runs/{run_id}").json(),
                     lambda r: r["state"] in ("SUCCEEDED", "FAILED"), 60, "the run")
    assert run["state"] == "SUCCEEDED", run["error"]
    assert run["result"]["stdout"].split("\n")[0] == "key=[REDACTED]"
    assert run["result"]["stderr"] == "other=[REDACTED]\n"
    assert run["result"]["stdout"].split("\n")[1].split()[0] == hashlib.md5(value.encode()).hexdigest()  # it had it
    assert run["options"]["secret_env"] == {"secret": "app-env"}  # the reference, shown as such
    answers = [client.get(f"/api/v1/runs/{run_id}").text, client.get(f"/api/v1/runs/{run_id}/log").text,
               client.get("/api/v1/secrets").text, client.get("/api/v1/jobs/prints-env").text]
    assert "[REDACTED]" in answers[1]
    assert [text for text in answers if value in text or other in text] == []
    files = [p for p in container_services.settings.data_dir.rglob("*") if p.is_file()]
    assert not [p for p in files if value.encode() in p.read_bytes()]


def test_container_lane_does_not_wait_behind_spark_work(container_services, container_api):
    """A worker whose Spark thread is busy still runs container attempts on its own pool."""
    client = container_api
    client.post("/api/v1/jobs", json={"name": "quick", "kind": "container", "image": BUILTIN,
                                      "command": ["echo", "quick"]})
    slow = client.post("/api/v1/runs", json={"steps": [["sleep", 20], ["noop"]]}).json()
    wait_until(lambda: client.get(f"/api/v1/runs/{slow['id']}").json()["state"], lambda s: s == "RUNNING",
               30, "the slow Spark-lane run")
    started = time.monotonic()
    quick = client.post("/api/v1/jobs/quick/runs", json={}).json()
    run = wait_until(lambda: client.get(f"/api/v1/runs/{quick['id']}").json(),
                     lambda r: r["state"] == "SUCCEEDED", 15, "the container run")
    assert time.monotonic() - started < 10 and run["attempts"][0]["executor"] == "container"
    assert client.get(f"/api/v1/runs/{slow['id']}").json()["state"] == "RUNNING"
    client.post(f"/api/v1/runs/{slow['id']}/cancel")


@pytest.mark.e2e
def test_worker_killed_mid_container_the_run_completes_once(tmp_path, container_runtime, monkeypatch):
    monkeypatch.setenv("STOKER_DOCKER_HOST", container_runtime.docker_host)
    server = Server(tmp_path / "data", worker=False).start()
    first = second = None
    try:
        first = Worker(tmp_path / "data", name="first").start()
        with server.client() as client:
            task_id = client.post("/task/", json={"repository": BUILTIN}).json()["task_id"]
            result_id = client.post(f"/task/{task_id}/", json={
                "command": "sh -c 'sleep 3; echo done'"}).json()["result_id"]
            [detail] = wait_until(lambda: client.get(f"/result/{result_id}/detail/").json(),
                                  lambda ds: ds and ds[0]["status"] == "RUNNING", 60, "a running execution")
            run_id = detail["detail_id"]
            wait_until(lambda: container_runtime.run_containers(run_id), bool, 30, "the container")
            first.kill()
            assert container_runtime.run_containers(run_id)  # the dead worker's container lives on
            second = Worker(tmp_path / "data", name="second").start()
            result = wait_until(lambda: client.get(f"/result/{result_id}").json(),
                                lambda r: r["status"] in ("COMPLETE", "ERROR", "KILLED"), 90, "the result")
            assert result["status"] == "COMPLETE"
            run = client.get(f"/api/v1/runs/{run_id}").json()
            assert [a["outcome"] for a in run["attempts"]] == ["lost", "succeeded"]
            assert run["attempts"][1]["worker_id"] == "second"
            log = client.get(f"/api/v1/runs/{run_id}/log", params={"attempt": 2}).text
            assert "removed 1 container(s) left by an earlier attempt" in log
            logs = client.get(f"/result/{result_id}/detail/{run_id}/logs").json()
            assert logs["stdout"] == "done\n"
            assert container_runtime.run_containers(run_id) == []
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.stop()
        server.stop()


@pytest.mark.e2e
def test_serve_starts_a_private_podman_service_and_stops_it(tmp_path, container_runtime, monkeypatch):
    """`make run`'s path: no STOKER_DOCKER_HOST, so `stoker serve` starts its own Podman API service
    (the built-in image there or built), runs the README's example, and stops the service on exit."""
    from harness import children_of

    monkeypatch.delenv("STOKER_DOCKER_HOST", raising=False)
    server = Server(tmp_path / "data").start()
    try:
        services = [pid for pid, cmd in children_of(server.proc.pid) if "system service" in cmd]
        assert len(services) == 1
        with server.client() as client:
            created = client.post("/task/", json={"repository": BUILTIN, "name": "hello"})
            assert created.json()["status"] == "READY", created.text
            task_id = created.json()["task_id"]
            result_id = client.post(f"/task/{task_id}/", json={
                "operation": "RUN", "times": 3, "command": "sh -c 'echo hello from $HOSTNAME'"}).json()["result_id"]
            result = wait_until(lambda: client.get(f"/result/{result_id}/").json(),
                                lambda r: r["status"] not in ("QUEUED", "RUNNING"), 90, "the result")
            assert result["status"] == "COMPLETE"
            for detail in client.get(f"/result/{result_id}/detail/").json():
                logs = client.get(f"/result/{result_id}/detail/{detail['detail_id']}/logs").json()
                assert logs["stdout"].startswith("hello from ")
            # The service dies (kill -9): the watchdog starts it again on the same socket.
            os.kill(services[0], signal.SIGKILL)
            revived = wait_until(lambda: [pid for pid, cmd in children_of(server.proc.pid) if "system service" in cmd],
                                 lambda pids: pids and pids != services, 30, "the Podman service to be started again")
            again = client.post(f"/task/{task_id}/", json={"operation": "RUN", "times": 1}).json()["result_id"]
            result = wait_until(lambda: client.get(f"/result/{again}/").json(),
                                lambda r: r["status"] not in ("QUEUED", "RUNNING"), 90, "the result after the restart")
            assert result["status"] == "COMPLETE", result
            services = revived
    finally:
        server.stop()
    wait_until(lambda: not Path(f"/proc/{services[0]}").exists(), lambda gone: gone, 20, "the service to stop")


def test_a_remote_worker_runs_container_runs_over_http(tmp_path, container_runtime):
    """A worker holding only an API token runs container attempts on its own runtime; the exit code
    and output of a failed container reach the server with the finish."""
    from integration.test_sinks_support import LiveServer
    from stoker.config import Settings
    from stoker.worker.remote import remote_worker

    server = LiveServer(tmp_path / "server", embedded_worker=False, docker_host=container_runtime.docker_host)
    server.services.tokens.ensure("remote worker", ["worker"], "stk_test_remote_containers")
    settings = Settings(data_dir=tmp_path / "worker", lease_seconds=5.0, heartbeat_seconds=0.5)
    worker = remote_worker(settings, server.url, "stk_test_remote_containers", worker_id="remote-c",
                           docker_host=container_runtime.docker_host)
    worker.start()
    try:
        with server.client() as client:
            task_id = client.post("/task/", json={"repository": BUILTIN}).json()["task_id"]
            ok = client.post(f"/task/{task_id}/", json={"command": "echo remote"}).json()["result_id"]
            bad = client.post(f"/task/{task_id}/", json={"command": "sh -c 'echo no >&2; exit 7'"}).json()
            for result_id, status in ((ok, "COMPLETE"), (bad["result_id"], "ERROR")):
                result = wait_until(lambda r=result_id: client.get(f"/result/{r}/").json(),
                                    lambda r: r["status"] not in ("QUEUED", "RUNNING"), 60, "the result")
                assert result["status"] == status
            [detail] = client.get(f"/result/{bad['result_id']}/detail/").json()
            assert detail["exit_code"] == 7 and "no" in detail["error"]
            run = client.get(detail["links"]["run"]).json()
            assert run["attempts"][0]["worker_id"] == "remote-c" and run["attempts"][0]["executor"] == "container"
    finally:
        worker.stop()
        server.close()


def test_janitor_removes_containers_of_ended_attempts_only(container_services, container_runtime):
    import docker

    from stoker.containers.janitor import ContainerJanitor
    from stoker.core.states import Outcome
    from stoker.store.queue import Ending
    from stoker.submission.runs import RunRequest, Submitter

    services = container_services
    services.images.register("janitor", {"image": BUILTIN, "command": ["sleep", "60"]})
    run = Submitter(services).submit(RunRequest(), job_name="janitor")
    [claimed] = services.queue.claim("w", lanes=("container",))
    client = docker.DockerClient(base_url=container_runtime.docker_host)
    try:
        def labelled(attempt_id):
            container = client.containers.create(BUILTIN, ["sleep", "60"], network_mode="none", labels={
                "io.stoker.run": run.run_id, "io.stoker.attempt": attempt_id})
            container.start()
            return container.id

        active = labelled(claimed.attempt_id)
        labelled("an-attempt-that-ended")
        janitor = ContainerJanitor(services.container_jobs, services.containers)
        assert janitor.sweep_once() == 1
        assert container_runtime.run_containers(run.run_id) == [active[:12]]
        services.queue.finish(Ending(claimed.attempt_id, Outcome.CANCELLED, error="stopped"))
        assert janitor.sweep_once() == 1 and container_runtime.run_containers(run.run_id) == []
    finally:
        for container in client.containers.list(all=True, filters={"label": f"io.stoker.run={run.run_id}"}):
            container.remove(force=True)
        client.close()


def test_a_run_of_a_job_whose_image_is_not_ready_is_a_documented_409(container_api):
    client = container_api
    created = client.post("/api/v1/jobs", json={"name": "ghost", "kind": "container",
                                                "image": "localhost/stoker/no-such-image:1", "command": "true"})
    assert created.status_code == 201, created.text
    refused = client.post("/api/v1/jobs/ghost/runs", json={})
    assert refused.status_code == 409, refused.text
    assert "cannot run yet" in refused.json()["detail"]
    assert client.get("/api/v1/jobs/ghost/runs").json()["runs"] == []  # nothing queued
    for path in ("/api/v1/jobs/{job}/runs", "/api/v1/runs", "/api/v1/batches"):
        assert "409" in client.get("/openapi.json").json()["paths"][path]["post"]["responses"], path
