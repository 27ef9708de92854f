"""Container specs, Stevedore's status rules, and a deployment with no container runtime."""

from __future__ import annotations

import pytest

from stoker.core.container_spec import check_spec, merge, parse_command
from stoker.core.errors import InvalidInput
from stoker.submission.container_tasks import detail_status, result_status


def test_command_is_split_as_a_shell_would():
    assert parse_command("sh -c 'echo a b; exit 3'") == ["sh", "-c", "echo a b; exit 3"]
    assert parse_command(["echo", 1]) == ["echo", "1"]
    with pytest.raises(InvalidInput, match="split"):
        parse_command("echo 'open")


def test_spec_defaults_and_refusals():
    spec = check_spec({"image": "localhost/x:1", "command": "echo hi", "env": {"N": 1}})
    assert spec["network"] == "none" and spec["command"] == ["echo", "hi"] and spec["env"] == {"N": "1"}
    assert merge(spec, {"memory_mb": 64, "cpus": None})["memory_mb"] == 64
    for bad, words in (({"image": "a b"}, "image"), ({"image": "x", "memory_mb": 2}, "memory_mb"),
                       ({"image": "x", "cpus": "two"}, "cpus"), ({"image": "x", "network": "wan"}, "network"),
                       ({"image": "x", "volumes": ["/:/host"]}, "unknown"), ({"image": "x", "env": []}, "env")):
        with pytest.raises(InvalidInput, match=words):
            check_spec(bad)


def test_registry_of_an_image_and_the_allow_list():
    from stoker.core.container_spec import check_registry, registry_of

    assert registry_of("johncosta/redis") == registry_of("busybox") == "docker.io"
    assert registry_of("localhost/stoker/busybox:latest") == "localhost"
    assert registry_of("127.0.0.1:5000/bb:1") == "127.0.0.1:5000" and registry_of("quay.io/x/y") == "quay.io"
    check_registry("johncosta/redis", ())  # empty: any registry
    check_registry("localhost/x", ("localhost",))
    with pytest.raises(InvalidInput, match=r"registry docker\.io"):
        check_registry("johncosta/redis", ("localhost",))


def test_detail_and_result_status_rules():
    assert detail_status("SUCCEEDED", "succeeded") == "COMPLETE"
    assert detail_status("FAILED", "timed_out") == "KILLED"
    assert detail_status("FAILED", "failed") == "ERROR"
    assert detail_status("QUEUED", "lost") == "QUEUED"  # waiting for its retry
    assert result_status(["QUEUED", "QUEUED"]) == "QUEUED"
    assert result_status(["COMPLETE", "QUEUED"]) == "RUNNING"
    assert result_status(["COMPLETE", "RUNNING"]) == "RUNNING"
    assert result_status(["COMPLETE", "COMPLETE"]) == "COMPLETE"
    assert result_status(["ERROR", "CANCELLED", "KILLED", "COMPLETE"]) == "KILLED"
    assert result_status(["ERROR", "CANCELLED"]) == "CANCELLED"
    assert result_status(["ERROR", "COMPLETE"]) == "ERROR"


def test_no_runtime_refuses_container_jobs_with_503_and_nothing_else(api):
    """`api` has no STOKER_DOCKER_HOST and starts no Podman: container jobs are refused, clearly."""
    answer = api.post("/task/", json={"repository": "localhost/stoker/busybox:latest"})
    assert answer.status_code == 503 and "container runtime" in answer.json()["message"]
    answer = api.post("/api/v1/jobs", json={"name": "c", "kind": "container", "image": "x"})
    assert answer.status_code == 503 and "container runtime" in answer.json()["detail"]
    assert api.get("/task/").json() == [] and api.get("/api/v1/jobs").json()["jobs"] == []
    assert api.post("/api/v1/runs", json={"steps": [["noop"]]}).status_code == 201  # the rest works
