"""The Stevedore API on real containers (Podman through the Docker Engine API)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from datetime import datetime

import pytest

from container_fixtures import PUSHED_REPOSITORY, wait_until

pytestmark = pytest.mark.containers

BUILTIN = "localhost/stoker/busybox:latest"
TERMINAL = ("COMPLETE", "ERROR", "KILLED", "CANCELLED")


def register(client, repository=BUILTIN, **extra):
    answer = client.post("/task/", json={"repository": repository, **extra})
    assert answer.status_code == 201, answer.text
    return answer


def run(client, task_id, **body):
    answer = client.post(f"/task/{task_id}/", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/result/{answer.json()['result_id']}/"
    return answer.json()["result_id"]


def finished(client, result_id, timeout=60.0):
    return wait_until(lambda: client.get(f"/result/{result_id}/").json(),
                      lambda r: r["status"] in TERMINAL, timeout, f"result {result_id}")


def test_seed_flow_three_executions_each_with_its_own_logs(container_api, container_runtime):
    client = container_api
    created = register(client, name="hello")
    task_id = created.json()["task_id"]
    assert created.json() == {"task_id": task_id, "status": "READY"}  # the image is there already
    assert created.headers["Location"] == f"/task/{task_id}/"
    assert client.get("/task").json() == [{"Id": task_id, "Name": "hello", "task_id": task_id,
                                           "name": "hello", "status": "READY"}]
    again = client.post("/task", json={"repository": BUILTIN})
    assert again.status_code == 409 and task_id in again.json()["message"]
    task = client.get(f"/task/{task_id}").json()
    assert task["status"] == "READY" and task["image_digest"].startswith("sha256:")

    result_id = run(client, task_id, times=3, command="sh -c 'echo out-$HOSTNAME; echo err-line >&2'")
    result = finished(client, result_id)
    assert result["status"] == "COMPLETE" and result["times"] == 3
    assert result["duration"] == pytest.approx(result["end"] - result["start"], abs=0.002)
    details = client.get(f"/result/{result_id}/detail").json()
    assert [d["status"] for d in details] == ["COMPLETE"] * 3
    outputs = set()
    for detail in details:
        assert detail["exit_code"] == 0 and detail["error"] is None
        assert detail["start"] >= detail["submitted_at"] and detail["end"] >= detail["start"]
        assert detail["duration"] == pytest.approx(detail["end"] - detail["start"], abs=0.002)
        assert detail["image_digest"].startswith("sha256:")
        assert client.get(f"/result/{result_id}/detail/{detail['detail_id']}/").json() == detail
        logs = client.get(f"/result/{result_id}/detail/{detail['detail_id']}/logs").json()
        assert logs["stdout"].startswith("out-") and logs["stderr"] == "err-line\n"
        outputs.add(logs["stdout"])
        assert container_runtime.run_containers(detail["detail_id"]) == []  # removed after its run
    assert len(outputs) == 3  # three containers, three hostnames
    assert any(r["result_id"] == result_id for r in client.get("/result/").json())
    # The same records through the native API: a result is a batch, a detail is a run.
    batch = client.get(f"/api/v1/batches/{result_id}").json()
    assert batch["states"] == {"SUCCEEDED": 3}
    native = client.get(details[0]["links"]["run"]).json()
    assert native["batch_id"] == result_id and native["result"]["exit_code"] == 0


def test_exit_code_timeout_and_memory(container_api):
    client = container_api
    task_id = register(client).json()["task_id"]
    exit3 = run(client, task_id, command=["sh", "-c", "echo failing >&2; exit 3"])
    started = time.monotonic()
    sleeper = run(client, task_id, command="sleep 60", timeout_seconds=1)
    hungry = run(client, task_id, command="dd if=/dev/zero of=/dev/null bs=64M count=1", memory_mb=16)

    result = finished(client, exit3)
    [detail] = client.get(f"/result/{exit3}/detail/").json()
    assert result["status"] == detail["status"] == "ERROR"
    assert detail["exit_code"] == 3 and "code 3" in detail["error"] and "failing" in detail["error"]
    assert detail["attempts"] == 1  # a container that exited non-zero is not retried by itself

    result = finished(client, sleeper)
    assert result["status"] == "KILLED" and time.monotonic() - started < 45  # not the 60 s of sleep 60
    [detail] = client.get(f"/result/{sleeper}/detail/").json()
    assert detail["status"] == "KILLED" and "timed out" in detail["error"]
    assert detail["attempts"] == 3  # a timeout is retried (the next attempt may be faster), then KILLED
    for attempt in client.get(detail["links"]["run"]).json()["attempts"]:
        seconds = (datetime.fromisoformat(attempt["finished_at"].replace("Z", "+00:00"))
                   - datetime.fromisoformat(attempt["started_at"].replace("Z", "+00:00"))).total_seconds()
        assert attempt["outcome"] == "timed_out" and seconds < 8  # killed at once past its 1 s

    result = finished(client, hungry)
    [detail] = client.get(f"/result/{hungry}/detail/").json()
    assert result["status"] == "ERROR" and "out of memory" in detail["error"]


def test_network_none_by_default(container_api):
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = container_api
        task_id = register(client).json()["task_id"]
        command = f"wget -q -O - http://127.0.0.1:{server.server_port}/"
        default = finished(client, run(client, task_id, command=command))
        host = finished(client, run(client, task_id, command=command, network="host"))
        assert default["status"] == "ERROR"
        assert host["status"] == "COMPLETE"  # the same command reaches the server with a network
        [detail] = client.get(f"/result/{host['result_id']}/detail").json()
        logs = client.get(f"/result/{host['result_id']}/detail/{detail['detail_id']}/logs").json()
        assert logs["stdout"] == "hello from the host"
    finally:
        server.shutdown()
        server.server_close()


def test_cancel_a_running_result(container_api, container_runtime):
    client = container_api
    task_id = register(client).json()["task_id"]
    result_id = run(client, task_id, command="sleep 60", times=2)
    wait_until(lambda: client.get(f"/result/{result_id}").json(), lambda r: r["status"] == "RUNNING",
               30, "a running execution")
    started = time.monotonic()
    answer = client.post(f"/result/{result_id}/", json={"operation": "CANCEL"})
    assert answer.status_code == 202, answer.text
    result = finished(client, result_id, timeout=20)
    assert result["status"] == "CANCELLED" and time.monotonic() - started < 15
    details = client.get(f"/result/{result_id}/detail").json()
    assert {d["status"] for d in details} == {"CANCELLED"}
    for detail in details:
        assert container_runtime.run_containers(detail["detail_id"]) == []
    again = client.post(f"/result/{result_id}", json={"operation": "CANCEL"})
    assert again.status_code == 409 and "CANCELLED" in again.json()["message"]


def test_refusals_say_what_is_wrong(container_api):
    client = container_api
    task_id = register(client).json()["task_id"]
    for path in ("/task/nope/", "/result/nope", "/result/nope/detail/", "/result/nope/detail/x/logs"):
        answer = client.get(path)
        assert answer.status_code == 404 and "does not exist" in answer.json()["message"], path
    assert client.post("/task/nope/", json={}).status_code == 404
    for times in (0, 10_001):
        answer = client.post(f"/task/{task_id}/", json={"times": times})
        assert answer.status_code == 422 and "between 1 and 10,000" in answer.json()["message"]
    for body, words in (({"operation": "DANCE"}, "RUN"), ({"memory_mb": 1}, "memory_mb"),
                        ({"network": "bridge0"}, "network"), ({"command": "echo 'open"}, "split"),
                        ({"env": "A=1"}, "env")):
        answer = client.post(f"/task/{task_id}", json=body)
        assert answer.status_code == 422 and words in answer.json()["message"], (body, answer.text)
    assert client.post("/task/", json={"name": "no repository"}).status_code == 422
    assert client.post(f"/task/{task_id}/", content=b"{not json").status_code == 422
    # Legacy clients send JSON without a Content-Type: it is read all the same.
    plain = client.post(f"/task/{task_id}/", content=b'{"times": 10001}', headers={"Content-Type": ""})
    assert plain.status_code == 422 and "between 1 and 10,000" in plain.json()["message"]
    assert client.get("/result/").json() == []  # nothing was queued by the refused requests


def test_import_from_a_local_registry_and_a_failing_import(container_api, container_runtime):
    if container_runtime.registry is None:
        pytest.skip("docker-registry is not installed")
    client = container_api
    repository = f"{container_runtime.registry}/{PUSHED_REPOSITORY}:1"
    created = register(client, repository=repository)
    task_id = created.json()["task_id"]
    assert created.json()["status"] == "SUBMITTED"  # not present locally: pulled in the background
    task = wait_until(lambda: client.get(f"/task/{task_id}/").json(),
                      lambda t: t["status"] in ("READY", "ERROR"), 60, "the import")
    assert task["status"] == "READY" and task["image_digest"].startswith("sha256:"), task
    result = finished(client, run(client, task_id, command="echo pulled"))
    assert result["status"] == "COMPLETE"

    missing = register(client, repository=f"{container_runtime.registry}/no/such-image:1")
    missing_id = missing.json()["task_id"]
    task = wait_until(lambda: client.get(f"/task/{missing_id}").json(),
                      lambda t: t["status"] in ("READY", "ERROR"), 60, "the failing import")
    assert task["status"] == "ERROR" and task["error"]
    answer = client.post(f"/task/{missing_id}/", json={"operation": "RUN"})
    assert answer.status_code == 409 and "ERROR" in answer.json()["message"]


def test_docker_compatible_wait(container_api, monkeypatch):
    """Against Docker (no libpod endpoints) the executor waits with the Docker API's own `wait`:
    the same exit codes and timeouts (proven here on Podman's Docker-compatible endpoint)."""
    monkeypatch.setattr("stoker.executors.container._is_podman", lambda _client: False)
    client = container_api
    task_id = register(client).json()["task_id"]
    exit3, sleeper = run(client, task_id, command="sh -c 'exit 3'"), run(
        client, task_id, command="sleep 60", timeout_seconds=1)
    assert finished(client, exit3)["status"] == "ERROR"
    [failed] = client.get(f"/result/{exit3}/detail/").json()
    assert failed["exit_code"] == 3
    assert finished(client, sleeper, timeout=20)["status"] == "KILLED"


def test_the_original_readmes_sample_curls(container_api):
    """The original API README's sample curls, as written (curl --data: a form content type,
    `repository` sent again beside the RUN, `command` and `times`), on the local busybox image in
    place of johncosta/fortytwo (no registry is reachable here). Results and details carry the
    original's `id` and `command`."""
    client = container_api
    form = {"content-type": "application/x-www-form-urlencoded"}  # what curl --data sends
    created = client.post("/task/", content=json.dumps({"repository": BUILTIN}), headers=form)
    assert created.status_code == 201
    task_id = created.json()["task_id"]
    assert client.get(f"/task/{task_id}/").json()["status"] == "READY"
    assert any(t["Id"] == task_id for t in client.get("/task/").json())
    body = json.dumps({"repository": BUILTIN, "command": "echo fortytwo", "times": 10})
    posted = client.post(f"/task/{task_id}/", content=body, headers=form)
    assert posted.status_code == 201, posted.text
    result_id = posted.json()["result_id"]
    result = finished(client, result_id)
    assert result["status"] == "COMPLETE" and result["times"] == 10
    assert result["id"] == result_id and result["command"] == "echo fortytwo" and result["task_id"] == task_id
    assert client.get(f"/result/{result_id}/").json() == result
    listed = [r for r in client.get("/result/").json() if r["id"] == result_id]
    assert listed == [result]
    details = client.get(f"/result/{result_id}/detail/").json()
    assert len(details) == 10
    for detail in details:
        assert detail["id"] == detail["detail_id"] and detail["command"] == "echo fortytwo"
        assert detail["status"] == "COMPLETE" and detail["result_id"] == result_id
    logs = client.get(f"/result/{result_id}/detail/{details[0]['id']}/logs").json()
    assert logs["stdout"] == "fortytwo\n"
    # Without a command, a detail shows the task's own (busybox's image default: none given, null).
    plain = run(client, task_id, times=1)
    finished(client, plain)
    assert client.get(f"/result/{plain}/").json()["command"] is None
