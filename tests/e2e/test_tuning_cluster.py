"""The tuning loop end to end (docs/tuning.md): a job in mode auto on a real Spark standalone
cluster that Stoker launched, through a real `stoker serve`. Its first run, as written, holds both
workers' cores while the driver does most of the work; the loop reads that run's collected events,
replays its tasks on fewer cores, and the second run gets `spark.cores.max` from the tuning layer,
says so in its effective configuration, and uses fewer core-seconds. `stoker tuning show` and the
job's tuning page (in Chromium, screenshotted into docs/screenshots/tuning.png) show it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_ui_browser import browser, page, shoot, sign_in  # noqa: F401  (the fixtures)

from harness import TOKEN, Server, kill_every_node, wait_for
from stoker.cli import main

pytestmark = pytest.mark.e2e

P = "/bigdata/api/v1"
PIPELINE = [["range", 20000], ["filter", "id % 7 = 0"], ["group_by", [], {"n": "count(*)"}], ["collect"]]


class ClusterServer(Server):
    def env(self) -> dict[str, str]:
        return {**super().env(), "STOKER_CLUSTER_CAPACITY": "cores=3", "STOKER_TUNING_INTERVAL_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tuning") / "data"
    started = ClusterServer(data_dir).start()
    try:
        yield started
    finally:
        started.stop()
        kill_every_node(data_dir)


def test_a_job_in_auto_mode_uses_fewer_core_seconds_on_its_second_run(server, page):  # noqa: F811
    with server.client(timeout=60) as client:
        launched = client.post(f"{P}/products/spark-standalone/4.3", json={"size": 2})
        assert launched.status_code == 202, launched.text
        cluster = launched.json()["id"]
        ready = wait_for(lambda: (v := client.get(f"/api/v1/clusters/{cluster}").json())["status"]
                         in ("ready", "failed") and v, 180, "the cluster")
        assert ready["status"] == "ready", ready["reason"]
        job = client.post("/api/v1/jobs", json={"name": "nightly", "steps": PIPELINE, "mode": "submit",
                                                "cluster": cluster, "tuning": {"mode": "auto"}})
        assert job.status_code == 201, job.text

        def run_once() -> dict:
            run_id = client.post("/api/v1/jobs/nightly/runs", json={}).json()["id"]
            return wait_for(lambda: (r := client.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 10}).json())
                            ["state"] in ("SUCCEEDED", "FAILED") and r, 300, f"run {run_id}")

        first = run_once()
        assert first["state"] == "SUCCEEDED", first["error"]
        tuning = wait_for(lambda: (t := client.get("/api/v1/jobs/nightly/tuning").json())["trials"] and t,
                          120, "a trial from the first run's events")
        (trial,) = tuning["trials"]
        assert trial["status"] == "trial" and trial["conf"].get("spark.cores.max") == "1", trial
        assert "idle_cores" in {f["kind"] for f in trial["findings"]}

        second = run_once()
        assert second["state"] == "SUCCEEDED", second["error"]
        assert second["effective_conf"]["spark.cores.max"] == {"value": "1", "source": "tuning"}
        tuning = wait_for(lambda: (t := client.get("/api/v1/jobs/nightly/tuning").json())["trials"][0]["status"]
                          != "trial" and t, 120, "the trial's verdict")
        base, tuned = tuning["runs"]
        assert tuned["trial"] == 1 and tuned["core_s"] < base["core_s"], tuning["runs"]
        assert tuning["trials"][0]["status"] == "kept", tuning["trials"][0]["verdict"]

    shown = CliRunner().invoke(main, ["tuning", "show", "nightly", "--url", server.url, "--token", TOKEN])
    assert shown.exit_code == 0, shown.output
    assert "tuning auto" in shown.output and "trial 1 (kept" in shown.output
    assert "spark.cores.max=1" in shown.output and "measured" in shown.output

    sign_in(page)
    page.goto("/ui/jobs/nightly/tuning")
    page.wait_for_selector("#chart-core_s canvas")
    assert page.locator(".chart canvas").count() == 3
    assert "kept" in page.locator("#trials").inner_text()
    shoot(page, "tuning")
