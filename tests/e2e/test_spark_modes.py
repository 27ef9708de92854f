"""Spark runs through a real `stoker serve`: session mode and submit mode, each streaming its
listener events back to Stoker and linked to its Spark app; a run's Spark settings (issue 26) as
the collected events show them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness import Server, wait_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def wait_events(client, job_name: str, app_id: str, predicate, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/spark/jobs/{job_name}/runs/{app_id}/events")
        lines = response.text.splitlines() if response.status_code == 200 else []
        if predicate(lines):
            return lines
        assert time.monotonic() < deadline, f"events of {job_name}/{app_id} never arrived: {lines[-3:]}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("spark-modes") / "data"
    (data / "files").mkdir(parents=True)
    (data / "files" / "people.csv").write_text("name,age\nana,34\nbo,28\ncy,41\n")
    srv = Server(data, None, worker=True).start()
    yield srv
    srv.stop()


def test_session_mode_run_streams_events_with_its_job_group(server):
    with server.client() as c:
        run = c.post("/api/v1/runs", json={"steps": [
            ["read_csv", "people.csv", {"header": True, "inferSchema": True}], ["filter", "age > 30"],
            ["count"]]}).json()
        [done] = wait_terminal(c, [run["id"]], timeout=180)
        assert done["state"] == "SUCCEEDED" and done["result"] == {"type": "count", "count": 2}
        attempt = done["attempts"][0]
        group, app_id = attempt["spark_job_group"], attempt["spark_app_id"]
        lines = wait_events(c, "stoker-session", app_id,
                            lambda ls: any(group in line and "SparkListenerJobStart" in line for line in ls))
        assert any("SparkListenerApplicationStart" in line for line in lines)
        summary = c.get(f"/api/v1/spark/jobs/stoker-session/runs/{app_id}/summary").json()
        assert summary["jobs"] >= 1 if "jobs" in summary else summary
    # The listener's token reached Spark in a file only the server's user reads, not on the Spark
    # driver's command line, which any local user can list.
    drivers = [cmd for cmd in _command_lines() if "SparkSubmit" in cmd and server.url in cmd]
    assert drivers and all("spark.stoker.tokenFile=" in cmd for cmd in drivers)
    assert not any("stk_internal_" in cmd or "spark.stoker.token=" in cmd for cmd in drivers)
    token_file = server.data_dir / "spark-listener.token"
    assert token_file.read_text().startswith("stk_internal_")
    assert token_file.stat().st_mode & 0o777 == 0o600


def agrees(spark_value: str | None, recorded: str, key: str) -> bool:
    """Spark's value of a key is the recorded one; Spark puts its own JVM flags (module opens)
    before the ones Stoker gives in *.extraJavaOptions."""
    if key.endswith(".extraJavaOptions"):
        return spark_value is not None and spark_value.endswith(recorded)
    return spark_value == recorded


def _job_properties(lines: list[str], group: str) -> dict[str, str]:
    starts = [json.loads(line) for line in lines if "SparkListenerJobStart" in line and group in line]
    assert starts, f"no job of group {group}"
    return starts[-1]["Properties"]


def test_session_mode_settings_reach_the_runs_own_jobs_and_no_later_run(server):
    """The run's SQL settings are on its jobs' properties (Spark propagates a session's SQL conf
    to its jobs), over Stoker's input sizing; the next run's jobs, on the same warm app, lack them."""
    steps = [["range", 100], ["group_by", ["id"], {"n": "count(*)"}], ["count"]]
    with server.client() as c:
        run = c.post("/api/v1/runs", json={"steps": steps, "conf": {
            "spark.sql.shuffle.partitions": 3, "spark.sql.session.timeZone": "Asia/Tokyo"}}).json()
        [done] = wait_terminal(c, [run["id"]], timeout=180)
        later = c.post("/api/v1/runs", json={"steps": steps}).json()
        [after] = wait_terminal(c, [later["id"]], timeout=180)
        assert done["state"] == after["state"] == "SUCCEEDED", (done["error"], after["error"])
        mine, next_one = done["attempts"][0], after["attempts"][0]
        assert mine["spark_app_id"] == next_one["spark_app_id"]
        lines = wait_events(c, "stoker-session", mine["spark_app_id"], lambda ls: any(
            next_one["spark_job_group"] in line and "SparkListenerJobStart" in line for line in ls))
        props = _job_properties(lines, mine["spark_job_group"])
        effective = done["effective_conf"]
        for key, entry in effective.items():
            if entry["source"] == "run":
                assert props[key] == entry["value"], key
        assert props["spark.sql.shuffle.partitions"] == "3" and props["spark.sql.session.timeZone"] == "Asia/Tokyo"
        later_props = _job_properties(lines, next_one["spark_job_group"])
        assert later_props.get("spark.sql.session.timeZone") != "Asia/Tokyo"
        assert later_props.get("spark.sql.shuffle.partitions") != "3"
        assert "spark.sql.session.timeZone" not in after["effective_conf"]


def _command_lines() -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


def test_submit_mode_run_is_its_own_spark_app(server):
    """With settings that need an application of its own (issue 26): the job's and the run's reach
    it, and its environment event agrees with the run's effective configuration."""
    with server.client() as c:
        made = c.post("/api/v1/jobs", json={"name": "isolated", "mode": "submit",
                                            "steps": [["range", 100], ["filter", "id % 2 = 0"], ["count"]],
                                            "conf": {"spark.driver.memory": "600m", "spark.sql.shuffle.partitions": 5}})
        assert made.status_code == 201, made.text
        run = c.post("/api/v1/jobs/isolated/runs", json={"conf": {
            "spark.sql.session.timeZone": "UTC", "spark.executor.cores": 1}}).json()
        [done] = wait_terminal(c, [run["id"]], timeout=240)
        assert done["state"] == "SUCCEEDED", done["error"]
        assert done["result"] == {"type": "count", "count": 50}
        attempt = done["attempts"][0]
        assert attempt["executor"] == "spark_submit" and attempt["spark_app_id"]
        lines = wait_events(c, "isolated", attempt["spark_app_id"],
                            lambda ls: any("SparkListenerApplicationEnd" in line for line in ls))
        effective = done["effective_conf"]
        assert effective["spark.driver.memory"] == {"value": "600m", "source": "job"}
        assert effective["spark.sql.shuffle.partitions"] == {"value": "5", "source": "job"}
        assert effective["spark.executor.cores"] == {"value": "1", "source": "run"}
        assert effective["spark.ui.enabled"]["source"] == "default"
        [env] = [json.loads(line) for line in lines if "SparkListenerEnvironmentUpdate" in line]
        spark_props = env["Spark Properties"]
        spark_props = dict(spark_props) if isinstance(spark_props, list) else spark_props
        for key, entry in effective.items():
            assert agrees(spark_props.get(key), entry["value"], key), key
        # the run's shuffle partitions, not the driver's input sizing, on its jobs
        starts = [json.loads(line) for line in lines if "SparkListenerJobStart" in line]
        assert starts and all(s["Properties"].get("spark.sql.shuffle.partitions") == "5" for s in starts)
        duration = c.get(f"/api/v1/spark/jobs/isolated/runs/{attempt['spark_app_id']}/duration").json()
        assert duration["duration_ms"] > 0
        log = c.get(f"/api/v1/runs/{run['id']}/log").text
        assert "spark-submit" in log and "driver exited with code 0" in log
        assert "stk_internal_" not in log  # the listener token never reaches a log
