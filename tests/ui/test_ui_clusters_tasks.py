"""The UI's clusters, products, container tasks and results through the app (TestClient): each page,
each action, the service's refusals in words, CSRF and scopes. No JVM and no container runs here:
clusters are of the `external` product, and tasks are container jobs whose runs stay queued
(no container runtime); the browser tests launch real ones."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from container_fixtures import wait_until
from stoker.app import Background, create_app
from stoker.submission.runs import RunRequest, Submitter
from stoker.ui.clusters import form_options, option_fields
from stoker.ui.tasks import parse_env
from ui.test_ui_pages import sign_in

EXTERNAL = "/ui/products/external/1"


@pytest.fixture
def ui(services):
    app = create_app(services, background=Background(services, embedded_worker=False))
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def reader(services, ui):
    client = TestClient(ui.app, follow_redirects=False)
    csrf = sign_in(client, services.tokens.create("reader", ["read"]))
    return client, csrf


def post_forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="([^"]+)"', page)


def a_task(services, name: str = "hello"):
    """A READY container task, registered without a runtime (its image is taken as imported). Its
    runs are accepted as if a runtime were there (no worker runs here: they stay queued)."""
    from stoker.submission.container_tasks import TASK_POLICY

    services.containers.docker_host = "unix:///nonexistent/podman.sock"

    return services.container_jobs.create(name, {"image": "localhost/stoker/busybox:latest",
                                                 "command": ["echo", "hi"], "env": {"A": "1"},
                                                 "network": "none"}, status="READY", **TASK_POLICY)


# ---- the launch form from a product's options ---------------------------------------------------
def test_the_launch_form_has_a_field_per_option_with_its_default_and_converts_by_type():
    from stoker.clusters.builtin import OPTIONS

    fields = {f["name"]: f for f in option_fields(OPTIONS)}
    assert fields["size"] == {"name": "size", "section": "optional", "kind": "int", "default": 2, "value": "2",
                              "description": "number of worker nodes", "required": False}
    assert fields["daemon.memory"]["section"] == "advanced" and fields["daemon.memory"]["value"] == "256m"
    body = form_options(OPTIONS, {"size": "1", "worker.mem": "", "daemon.memory": "300m"})
    assert body == {"size": 1, "daemon.memory": "300m"}  # an empty field keeps the default
    assert form_options(OPTIONS, {"size": "two"}) == {"size": "two"}  # the service says what is wrong
    options = {"required": {"master": None}, "optional": {"flag": False, "ratio": 0.5, "tags": []},
               "advanced": {}, "descriptions": {}}
    assert form_options(options, {"master": "spark://h:1", "flag": "true", "ratio": "2", "tags": '["a"]'}) == \
        {"master": "spark://h:1", "flag": True, "ratio": 2.0, "tags": ["a"]}
    assert [f["required"] for f in option_fields(options)] == [True, False, False, False]


def test_env_lines():
    assert parse_env("A=1\n\nB=x=y\n") == {"A": "1", "B": "x=y"}
    assert parse_env("  ") is None
    from stoker.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="line 2"):
        parse_env("A=1\nnope")


# ---- products and clusters -------------------------------------------------------------------
def test_products_and_the_launch_form(ui):
    sign_in(ui)
    page = ui.get("/ui/products").text
    assert "spark-standalone" in page and "external" in page
    page = ui.get("/ui/products/spark-standalone/4.3").text
    for name in ("size", "worker.cores", "worker.mem", "master.mem", "daemon.memory"):
        assert f'name="opt:{name}"' in page
    assert 'value="2"' in page and "number of worker nodes" in page and "Advanced options" in page
    assert 'id="product-template"' in page and "local" in page
    assert ui.get("/ui/products/nope/1").status_code == 404


def test_a_launch_refused_by_the_service_comes_back_with_its_words_and_the_values(services, ui):
    csrf = sign_in(ui)
    refused = ui.post("/ui/products/spark-standalone/4.3/clusters",
                      data={"csrf_token": csrf, "opt:size": "two", "opt:worker.mem": "640"})
    assert refused.status_code == 422
    assert "option &#39;size&#39; must be an integer" in refused.text
    assert 'value="two"' in refused.text and 'value="640"' in refused.text  # what was typed is kept
    assert 'class="option bad"' in refused.text
    missing = ui.post(f"{EXTERNAL}/clusters", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "missing required option" in missing.text
    assert services.clusters.store.list() == []  # nothing was registered


def test_launch_list_detail_and_destroy_a_cluster(services, ui):
    csrf = sign_in(ui)
    launched = ui.post(f"{EXTERNAL}/clusters", data={"csrf_token": csrf, "opt:master": "spark://10.0.0.1:7077",
                                                     "opt:web_url": ""})
    assert launched.status_code == 303, launched.text
    cluster_id = launched.headers["location"].rsplit("/", 1)[1]
    cluster = services.clusters.store.get(cluster_id)
    assert cluster.owner == "admin (first start)" or cluster.owner
    assert cluster.options["master"] == "spark://10.0.0.1:7077"
    page = ui.get("/ui/clusters").text
    assert cluster_id[:8] in page and 'data-after="' in page and "external 1" in page
    page = ui.get(f"/ui/clusters/{cluster_id}").text
    assert 'id="cluster-status"' in page and 'id="cluster-history"' in page and 'id="cluster-nodes"' in page
    assert f"/ui/clusters/{cluster_id}/destroy" in post_forms(page)
    assert ui.get("/ui/clusters?status=registered").status_code == 200
    assert ui.get("/ui/clusters?status=bogus").status_code == 422
    assert ui.get("/ui/clusters/nope").status_code == 404

    assert ui.post(f"/ui/clusters/{cluster_id}/destroy", data={"csrf_token": csrf}).status_code == 303
    assert services.clusters.store.get(cluster_id).status == "destroyed"
    page = ui.get(f"/ui/clusters/{cluster_id}").text
    assert "destroyed" in page and f"/ui/clusters/{cluster_id}/destroy" not in post_forms(page)
    statuses = [h.status for h in services.clusters.store.history(cluster_id)]
    assert statuses[0] == "registered" and statuses[-1] == "destroyed"
    refused = ui.post(f"/ui/clusters/{cluster_id}/repair", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "only a degraded cluster is repaired" in refused.text


def test_cluster_actions_need_the_csrf_token_and_the_submit_scope(services, ui, reader):
    sign_in(ui)
    cluster = services.clusters.launch("someone", "external", "1", {"master": "spark://h:7077"})
    client, csrf = reader
    for path in ("/ui/clusters", f"/ui/clusters/{cluster.id}", "/ui/products", EXTERNAL):
        page = client.get(path)
        assert page.status_code == 200, path
        assert post_forms(page.text) == ["/ui/sign-out"], path
    for path, data in ((f"/ui/clusters/{cluster.id}/destroy", {}), (f"{EXTERNAL}/clusters",
                                                                       {"opt:master": "spark://h:1"})):
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403  # no submit scope
        forged = ui.post(path, data=data)  # the admin, without the CSRF token
        assert forged.status_code == 403 and "CSRF" in forged.text
    assert [c.id for c in services.clusters.store.list()] == [cluster.id]
    assert services.clusters.store.get(cluster.id).status != "destroyed"


# ---- tasks and results -----------------------------------------------------------------------
def test_registering_without_a_runtime_says_why_and_a_bad_form_says_what(services, ui):
    csrf = sign_in(ui)
    page = ui.get("/ui/tasks").text
    assert 'id="no-runtime"' in page and 'id="task-form"' in page
    refused = ui.post("/ui/tasks", data={"csrf_token": csrf, "repository": "localhost/stoker/busybox:latest",
                                         "command": "echo hi"})
    assert refused.status_code == 503 and "container jobs cannot run" in refused.text
    assert 'value="echo hi"' in refused.text  # the form keeps what was typed
    bad = ui.post("/ui/tasks", data={"csrf_token": csrf, "repository": "x", "memory_mb": "lots"})
    assert bad.status_code == 422 and "memory_mb" in bad.text
    bad_env = ui.post("/ui/tasks", data={"csrf_token": csrf, "repository": "x", "env": "NOEQUALS"})
    assert bad_env.status_code == 422 and "KEY=VALUE" in bad_env.text
    assert services.container_jobs.all() == []


def test_register_goes_through_the_stevedore_service(monkeypatch, services, ui):
    """With a runtime, the form registers exactly what POST /task/ would."""
    from stoker.submission import container_tasks as stevedore

    seen = {}

    def register(svc, task):
        seen["task"] = task
        return a_task(svc, task.name)

    monkeypatch.setattr(stevedore, "register", register)
    csrf = sign_in(ui)
    answer = ui.post("/ui/tasks", data={"csrf_token": csrf, "repository": "localhost/stoker/busybox:latest",
                                        "name": "greeter", "command": "echo 'hello there'", "env": "A=1\nB=2",
                                        "timeout_seconds": "5", "memory_mb": "64", "cpus": "", "network": ""})
    assert answer.status_code == 303, answer.text
    task = seen["task"]
    assert (task.repository, task.name, task.command, task.env, task.timeout_seconds, task.memory_mb, task.cpus) \
        == ("localhost/stoker/busybox:latest", "greeter", "echo 'hello there'", {"A": "1", "B": "2"}, 5.0, 64, None)


def test_run_a_task_n_times_and_read_its_result_and_executions(services, ui):
    task = a_task(services)
    csrf = sign_in(ui)
    page = ui.get("/ui/tasks").text
    assert f"/ui/tasks/{task.id}" in page and "READY" in page
    page = ui.get(f"/ui/tasks/{task.id}").text
    assert f"/ui/tasks/{task.id}/run" in post_forms(page) and "echo hi" in page and "Not run yet" in page

    refused = ui.post(f"/ui/tasks/{task.id}/run", data={"csrf_token": csrf, "times": "0"})
    assert refused.status_code == 422 and "times must be between 1 and" in refused.text
    refused = ui.post(f"/ui/tasks/{task.id}/run", data={"csrf_token": csrf, "times": "many"})
    assert refused.status_code == 422 and "whole number" in refused.text
    answer = ui.post(f"/ui/tasks/{task.id}/run", data={"csrf_token": csrf, "times": "3", "command": "echo bye",
                                                          "env": "B=2", "timeout_seconds": "9"})
    assert answer.status_code == 303
    result_id = answer.headers["location"].rsplit("/", 1)[1]
    runs = services.container_jobs.batch_runs(result_id)
    assert len(runs) == 3
    for run in runs:  # the run's fields in place of the task's
        spec = run.options["container"]
        assert (spec["command"], spec["env"], spec["timeout_seconds"]) == (["echo", "bye"], {"B": "2"}, 9.0)

    page = ui.get(f"/ui/results/{result_id}").text
    assert page.count('data-watch-run="') == 3 and "QUEUED" in page and 'data-after="' in page
    assert f"/ui/results/{result_id}/cancel" in post_forms(page)
    assert result_id[:8] in ui.get(f"/ui/tasks/{task.id}").text

    # An execution that ended: its exit code, duration and output.
    from stoker.store.tables import attempts
    from stoker.store.tables import runs as runs_table

    first = runs[0].id
    with services.db.write() as conn:
        conn.execute(runs_table.update().where(runs_table.c.id == first).values(
            state="FAILED", started_at=runs_table.c.queued_at, finished_at=runs_table.c.queued_at + 2.5,
            attempt_count=1, error="exit code 3"))
        conn.execute(attempts.insert().values(
            id="att-1", run_id=first, number=1, worker_id="w", lease_expires_at=0, heartbeat_at=0, started_at=0,
            finished_at=1, outcome="failed",
            result={"exit_code": 3, "stdout": "out <b>line</b>\n", "stderr": "oops\n"}))
    page = ui.get(f"/ui/results/{result_id}").text
    assert "ERROR" in page and "2.5 s" in page and ">3<" in page
    detail = ui.get(f"/ui/results/{result_id}/details/{first}").text
    assert 'id="detail-stdout"' in detail and "out &lt;b&gt;line&lt;/b&gt;" in detail and "oops" in detail
    assert 'id="detail-exit">3<' in detail
    assert ui.get(f"/ui/results/{result_id}/details/nope").status_code == 404
    assert ui.get("/ui/results/nope").status_code == 404
    assert ui.get("/ui/tasks/nope").status_code == 404

    assert ui.post(f"/ui/results/{result_id}/cancel", data={"csrf_token": csrf}).status_code == 303
    assert {r.state for r in services.container_jobs.batch_runs(result_id)} == {"FAILED", "CANCELLED"}
    again = ui.post(f"/ui/results/{result_id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409 and "nothing is left to cancel" in again.text


def test_task_actions_need_the_csrf_token_and_the_submit_scope(services, ui, reader):
    task = a_task(services)
    sign_in(ui)
    client, csrf = reader
    result_id, _ = Submitter(services).submit_batch([RunRequest(container={})], job_name=task.id, copies=1)
    for path in ("/ui/tasks", f"/ui/tasks/{task.id}", f"/ui/results/{result_id}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert post_forms(page.text) == ["/ui/sign-out"], path
    actions = (("/ui/tasks", {"repository": "x"}), (f"/ui/tasks/{task.id}/run", {"times": "1"}),
               (f"/ui/results/{result_id}/cancel", {}))
    for path, data in actions:
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403, path
        assert ui.post(path, data=data).status_code == 403, path  # no CSRF token
    assert len(services.container_jobs.batches()) == 1
    assert {r.state for r in services.container_jobs.batch_runs(result_id)} == {"QUEUED"}


def test_a_large_result_shows_its_executions_a_page_at_a_time(services, ui):
    task = a_task(services)
    result_id, _ = Submitter(services).submit_batch([RunRequest(container={})], job_name=task.id, copies=150)
    sign_in(ui)
    first = ui.get(f"/ui/results/{result_id}").text
    assert first.count('data-watch-run="') == 100 and "Executions 1–100 of 150" in first
    assert f'href="/ui/results/{result_id}?offset=100"' in first
    second = ui.get(f"/ui/results/{result_id}?offset=100").text
    assert second.count('data-watch-run="') == 50 and "Executions 101–150 of 150" in second
    shown = set(re.findall(r'data-watch-run="([^"]+)"', first)) | set(re.findall(r'data-watch-run="([^"]+)"', second))
    assert len(shown) == 150
    assert ui.get(f"/ui/results/{result_id}?offset=-1").status_code == 422


def test_a_web_url_is_a_link_only_when_it_is_http(services, ui):
    """An external cluster's web_url is whatever its owner typed: never a javascript: link."""
    sign_in(ui)
    bad = services.clusters.launch("x", "external", "1", {"master": "spark://h:1", "web_url": "javascript:alert(1)"})
    good = services.clusters.launch("x", "external", "1", {"master": "spark://h:1", "web_url": "http://h:8080"})
    for cluster in (bad, good):  # the cluster duties (external orchestrator) set the URLs on the way to ready
        wait_until(lambda c=cluster: services.clusters.store.get(c.id),
                   lambda view: view.status == "ready" and view.web_url, 20, "the cluster to be ready")
    page = ui.get(f"/ui/clusters/{bad.id}").text
    assert 'href="javascript:' not in page and "<code>javascript:alert(1)</code>" in page
    assert 'id="cluster-web" href' not in page
    page = ui.get(f"/ui/clusters/{good.id}").text
    assert 'href="http://h:8080"' in page


def test_a_run_on_a_cluster_links_to_it(services, ui):
    sign_in(ui)
    cluster = services.clusters.launch("x", "external", "1", {"master": "spark://h:1"})
    submitted = Submitter(services).submit(RunRequest(steps=[["noop"]], options={"cluster": cluster.id}))
    page = ui.get(f"/ui/runs/{submitted.run_id}").text
    assert f'href="/ui/clusters/{cluster.id}" id="run-cluster"' in page


def test_a_container_jobs_page_submits_a_run_with_parameters(services, ui):
    """A container job (a task) takes a run with parameters from its job page, as a pipeline job does."""
    from stoker.submission.container_tasks import TASK_POLICY

    services.containers.docker_host = "unix:///nonexistent/podman.sock"
    job = services.container_jobs.create("greet", {"image": "localhost/stoker/busybox:latest",
                                                   "command": ["echo", "{{who}}"], "network": "none"},
                                         status="READY", **TASK_POLICY)
    csrf = sign_in(ui)
    page = ui.get("/ui/jobs/greet").text
    assert "/ui/jobs/greet/runs" in post_forms(page) and f'href="/ui/tasks/{job.id}"' in page
    missing = ui.post("/ui/jobs/greet/runs", data={"csrf_token": csrf, "params": "{}"})
    assert missing.status_code == 422 and "who" in missing.text
    answer = ui.post("/ui/jobs/greet/runs", data={"csrf_token": csrf, "params": '{"who": "ana"}'})
    assert answer.status_code == 303
    run = services.runs.get(answer.headers["location"].rsplit("/", 1)[1])
    assert run.options["container"]["command"] == ["echo", "ana"] and run.state == "QUEUED"
