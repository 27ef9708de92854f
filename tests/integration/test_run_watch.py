"""Watching a run (issue 30): its own Spark work among a warm session's events (its job group's
jobs, stages and tasks only; another run's on the same application left out), a submit-mode
attempt's own application found by its name while it runs, its progress with an estimate of the
time left as a range, and that progress pushed on the run's SSE stream."""

from __future__ import annotations

import time

import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from harness import payload_bytes
from stoker.app import Background, create_app
from stoker.core.attempts import attempt_tag
from stoker.core.states import Outcome
from stoker.events.payload import parse_payload
from stoker.events.progress import describe, estimate_left, rounded
from stoker.store.queue import Ending

APP_ID = "local-1700000000000"


def ev(kind: str, **fields: object) -> bytes:
    return orjson.dumps({"Event": kind, **fields})


def task_end(stage: int, launch: int, finish: int, *, reason: dict | None = None, records: int = 100,
             executor: str = "driver") -> tuple[int, bytes]:
    return finish, ev("SparkListenerTaskEnd", **{
        "Stage ID": stage, "Stage Attempt ID": 0, "Task End Reason": reason or {"Reason": "Success"},
        "Task Info": {"Launch Time": launch, "Finish Time": finish, "Executor ID": executor},
        "Task Metrics": {"JVM GC Time": 1, "Memory Bytes Spilled": 0, "Disk Bytes Spilled": 64,
                         "Input Metrics": {"Bytes Read": 1000, "Records Read": records},
                         "Shuffle Write Metrics": {"Shuffle Bytes Written": 10}}})


def stage_info(stage: int, tasks: int, submitted: int | None = None, **more: object) -> dict:
    info: dict = {"Stage ID": stage, "Stage Attempt ID": 0, "Stage Name": f"stage {stage}", "Number of Tasks": tasks}
    if submitted is not None:
        info["Submission Time"] = submitted
    return {**info, **more}


def job_start(job: int, group: str, stages: list[tuple[int, int]], at: int) -> tuple[int, bytes]:
    return at, ev("SparkListenerJobStart", **{
        "Job ID": job, "Submission Time": at, "Stage IDs": [s for s, _ in stages],
        "Stage Infos": [stage_info(s, n) for s, n in stages],
        "Properties": {"spark.jobGroup.id": group, "spark.job.description": "stoker run"}})


def ingest(client, job_name: str, run_id: str, events: list[tuple[int, bytes]], counter: int) -> None:
    body = payload_bytes(job_name, run_id, events, payload_counter=counter, compress=False)
    client.app.state.event_store.ingest(parse_payload(body), body)


@pytest.fixture
def client(services):
    app = create_app(services, background=Background(services, embedded_worker=False))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        yield c


STEPS = [["range", 1000], ["count"]]


def start_run(client, services, *, executor: str = "spark_session", steps=STEPS) -> tuple[dict, object]:
    run = client.post("/api/v1/runs", json={"steps": steps}).json()
    [claimed] = services.queue.claim("w1")
    assert claimed.run_id == run["id"]
    if executor == "spark_session":
        services.queue.annotate(claimed.attempt_id, executor=executor, spark_app_id=APP_ID,
                                spark_job_group=attempt_tag(run["id"], 1))
    else:
        services.queue.annotate(claimed.attempt_id, executor=executor)
    return run, claimed


def session_events(mine: str, other: str) -> list[tuple[int, bytes]]:
    """The warm session: another run's job 0 (stage 0), then ours: job 1 planning stages 1 (4
    tasks) and 2 (2 tasks), stage 1 running with 2 tasks done and 1 failed on executor 3."""
    return [
        (0, ev("SparkListenerApplicationStart", **{"App Name": "stoker-worker", "App ID": APP_ID, "Timestamp": 0})),
        (0, ev("SparkListenerExecutorAdded", **{"Executor ID": "driver", "Timestamp": 0,
                                               "Executor Info": {"Total Cores": 2}})),
        job_start(0, other, [(0, 8)], 1000),
        (1000, ev("SparkListenerStageSubmitted", **{"Stage Info": stage_info(0, 8, 1000)})),
        *[task_end(0, 1000, 1500) for _ in range(8)],
        job_start(1, mine, [(1, 4), (2, 2)], 2000),
        (2000, ev("SparkListenerStageSubmitted", **{"Stage Info": stage_info(1, 4, 2000)})),
        task_end(1, 2000, 3000, records=250), task_end(1, 2000, 3500, records=250),
        task_end(1, 2000, 2500, executor="3", reason={
            "Reason": "ExceptionFailure", "Class Name": "java.lang.OutOfMemoryError",
            "Description": "Java heap space"}),
    ]


def test_a_session_runs_spark_view_is_its_own_job_group_only(client, services):
    run, _ = start_run(client, services)
    mine = attempt_tag(run["id"], 1)
    ingest(client, "stoker-session", APP_ID, session_events(mine, "stoker-other-run-1"), 1)
    view = client.get(f"/api/v1/runs/{run['id']}/spark").json()
    assert view["job_group"] == mine and view["spark_app"]["shared"] is True
    assert view["spark_app"]["app_id"] == APP_ID
    assert [j["job_id"] for j in view["jobs"]] == [1]
    stages = {s["stage_id"]: s for s in view["stages"]}
    assert set(stages) == {1, 2}  # not the other run's stage 0
    one = stages[1]
    assert (one["status"], one["done"], one["tasks"], one["failed_tasks"]) == ("active", 2, 4, 1)
    assert (stages[2]["status"], stages[2]["tasks"]) == ("pending", 2)
    assert stages[1]["failures"] == [{"reason": "ExceptionFailure", "executor": "3",
                                      "class_name": "java.lang.OutOfMemoryError", "message": "Java heap space"}]
    totals = view["totals"]
    assert (totals["input_records"], totals["input_bytes"], totals["done"], totals["tasks"]) == (600, 3000, 2, 6)
    assert totals["spilled"] == 3 * 64 and totals["shuffle_write"] == 30
    # Cores busy are the run's own tasks (1 + 1.5 + 0.5 core·s), on its own time range.
    assert view["cores"]["busy_core_ms"] == 3000
    assert min(view["cores"]["t"]) >= 2000
    # The whole application's page still has every run's work.
    app = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{APP_ID}/summary").json()
    assert app["tasks"] == 11


def test_progress_counts_the_planned_tasks_and_gives_a_range(client, services):
    run, _ = start_run(client, services)
    ingest(client, "stoker-session", APP_ID, session_events(attempt_tag(run["id"], 1), "x"), 1)
    progress = client.get(f"/api/v1/runs/{run['id']}/progress").json()
    assert progress["state"] == "RUNNING" and progress["attempt"] == 1
    assert progress["tasks"] == {"done": 2, "planned": 6, "failed": 1}
    assert progress["fraction"] == pytest.approx(2 / 6, abs=1e-3)
    assert (progress["rows_read"], progress["bytes_read"]) == (600, 3000)
    assert progress["active_stages"] == 1 and [s["stage_id"] for s in progress["stages"]] == [1, 2]
    assert progress["elapsed_s"] is not None and progress["elapsed_s"] >= 0
    # Under a second of work: the pace says nothing yet, and there is no earlier run.
    assert progress["estimate"] is None


def test_a_running_submit_attempt_is_found_by_its_applications_name(client, services):
    run, _ = start_run(client, services, executor="spark_submit")
    tag = attempt_tag(run["id"], 1)
    ingest(client, "adhoc", "app-20260101-0001", [
        (0, ev("SparkListenerApplicationStart", **{"App Name": tag, "App ID": "app-20260101-0001", "Timestamp": 0})),
        job_start(0, "", [(0, 3)], 10),
        (10, ev("SparkListenerStageSubmitted", **{"Stage Info": stage_info(0, 3, 10)})),
        task_end(0, 10, 20)], 1)
    view = client.get(f"/api/v1/runs/{run['id']}/spark").json()
    assert view["spark_app"]["app_id"] == "app-20260101-0001" and view["spark_app"]["shared"] is False
    assert view["job_group"] is None and view["totals"]["done"] == 1 and view["totals"]["tasks"] == 3


def test_a_run_without_spark_events_yet_and_unknown_ones(client, services):
    run, _ = start_run(client, services)
    view = client.get(f"/api/v1/runs/{run['id']}/spark").json()
    assert view["spark_app"] is None and view["stages"] == [] and view["attempt"] == 1
    assert client.get(f"/api/v1/runs/{run['id']}/progress").json()["tasks"]["planned"] == 0
    assert client.get("/api/v1/runs/nope/spark").status_code == 404
    assert client.get("/api/v1/runs/nope/progress").status_code == 404
    missing = client.get(f"/api/v1/runs/{run['id']}/spark?attempt=2")
    assert missing.status_code == 404 and "no attempt 2" in missing.json()["detail"]
    assert client.get(f"/api/v1/runs/{run['id']}/spark?attempt=0").status_code == 422


def test_earlier_runs_of_the_same_steps_give_the_estimate(client, services):
    at: list[float | None] = [time.time() + 1]  # the queue's clock; None: the real one
    services.queue.clock = lambda: at[0] if at[0] is not None else time.time()
    _, claimed = start_run(client, services, steps=STEPS)
    at[0] += 60  # the earlier run of these steps took a minute
    services.queue.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED, result={"type": "count", "count": 1}))
    _, claimed_other = start_run(client, services, steps=[["range", 5], ["count"]])
    at[0] += 1  # another pipeline of the ad-hoc job, a second
    services.queue.finish(Ending(claimed_other.attempt_id, Outcome.SUCCEEDED, result={"type": "count", "count": 5}))
    at[0] = None
    run, _ = start_run(client, services, steps=STEPS)
    estimate = client.get(f"/api/v1/runs/{run['id']}/progress").json()["estimate"]
    # Just started a run whose steps took 60 s before: 55–60 s left, rounded to 5 s (the other
    # pipeline's second is not this run's history: with it the range would start at 0).
    assert estimate == {"low_s": 55, "high_s": 60, "basis": "1 earlier run", "text": "about 55–60 s left"}


def test_the_estimate_is_a_rounded_range_from_history_and_pace():
    # 10 earlier runs of 100–190 s, 40 s in: 10th–90th percentile less 40 s.
    history = estimate_left(40.0, None, [100.0 + 10 * i for i in range(10)])
    assert history is not None and history["basis"] == "10 earlier runs"
    assert history["low_s"] == 60 and history["high_s"] == 150
    # A third of the tasks done in 30 s: about 60 s left, widened to 45–90 s.
    pace = estimate_left(30.0, 1 / 3, [])
    assert pace == {"low_s": 45, "high_s": 90, "basis": "tasks done so far", "text": "about 45–90 s left"}
    both = estimate_left(30.0, 1 / 3, [50.0, 70.0])
    assert (both["low_s"], both["high_s"]) == (20, 90) and both["basis"] == "2 earlier runs and tasks done so far"
    # Longer than every earlier run, nothing done yet: no estimate rather than a made-up one.
    assert estimate_left(500.0, 0.0, [100.0, 120.0]) is None
    assert rounded(601) == 660 and rounded(601, down=True) == 600 and rounded(7) == 10
    assert describe(120, 300) == "about 2–5 min left" and describe(0, 5) == "under 5 s left"


def sse_messages(response, count: int, timeout: float = 15) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line.startswith("data: "):
            out.append(orjson.loads(line[6:]))
            if len(out) >= count:
                break
        assert time.monotonic() < deadline, out
    return out


def test_progress_is_pushed_on_the_runs_stream_until_it_ends(client, services):
    run, claimed = start_run(client, services)
    mine = attempt_tag(run["id"], 1)
    ingest(client, "stoker-session", APP_ID, session_events(mine, "x"), 1)
    with client.stream("GET", f"/api/v1/events/stream?run={run['id']}&after=0") as response:
        assert response.status_code == 200
        messages = iter_progress(response, client, services, claimed)
    progress = [m for m in messages if m.get("event") == "run.progress"]
    assert progress[0]["tasks"]["done"] == 2
    assert any(m["tasks"]["done"] == 6 for m in progress)  # the events that came later were pushed
    assert progress[-1]["state"] == "SUCCEEDED" and progress[-1]["estimate"] is None
    stored = [m for m in messages if m.get("event") != "run.progress"]
    assert stored and all(m["run_id"] == run["id"] for m in stored)


def iter_progress(response, client, services, claimed) -> list[dict]:
    """Read the stream; after the first progress, more events arrive; then the run succeeds."""
    messages: list[dict] = []
    step = 0
    deadline = time.monotonic() + 30
    for line in response.iter_lines():
        assert time.monotonic() < deadline, messages
        if not line.startswith("data: "):
            continue
        doc = orjson.loads(line[6:])
        messages.append(doc)
        if doc.get("event") != "run.progress":
            continue
        if step == 0:
            ingest(client, "stoker-session", APP_ID, [
                task_end(1, 2000, 3600), task_end(1, 2000, 3700),
                (3700, ev("SparkListenerStageCompleted", **{"Stage Info": stage_info(1, 4, 2000, **{
                    "Completion Time": 3700})})),
                (3700, ev("SparkListenerStageSubmitted", **{"Stage Info": stage_info(2, 2, 3700)})),
                task_end(2, 3700, 3800), task_end(2, 3700, 3900)], 2)
            step = 1
        elif step == 1 and doc["tasks"]["done"] == 6:
            services.queue.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED, result={"type": "count", "count": 1}))
            step = 2
        elif doc["state"] == "SUCCEEDED":
            return messages
    raise AssertionError(messages)


def test_the_run_page_shows_its_own_stages_and_progress(client, services):
    from ui.test_ui_pages import sign_in

    run, _ = start_run(client, services)
    ingest(client, "stoker-session", APP_ID, session_events(attempt_tag(run["id"], 1), "stoker-other-run-1"), 1)
    browser = TestClient(client.app, follow_redirects=False)  # the app is started by `client` already
    sign_in(browser)
    page = browser.get(f"/ui/runs/{run['id']}")
    assert page.status_code == 200
    html = page.text
    table = html[html.index('<table id="run-stages">'):]
    table = table[:table.index("</table>")]
    assert 'data-stage-id="1"' in table and 'data-stage-id="2"' in table and 'data-stage-id="0"' not in table
    assert '<span data-field="tasks">2 / 4</span>' in table
    assert '<strong id="progress-tasks">2 of 6 tasks</strong>' in html
    assert "600 rows, 2.9 KiB read" in html
    assert "in the worker's shared application" in html and f"/ui/spark/stoker-session/{APP_ID}" in html
    assert 'data-chart="cores"' in html


def test_a_runs_first_view_after_a_restart_equals_the_view_built_from_its_events(tmp_path, backend_url,
                                                                                  monkeypatch):
    """After a restart the run's view and progress come from the digests ingest stored with each
    chunk (no event read again), and say what a view built from the events themselves says (the
    same server with every digest dropped: a database of chunks stored before digests existed)."""
    import sqlalchemy as sa

    from conftest import make_services
    from stoker.store.spark_events import ChunkSnapshot
    from stoker.store.tables import spark_event_chunks

    loads: list[int] = []  # the chunks whose events were read
    load = ChunkSnapshot.load
    monkeypatch.setattr(ChunkSnapshot, "load", lambda self, ids: loads.extend(ids) or load(self, ids))

    def started(services):
        app = create_app(services, background=Background(services, embedded_worker=False))
        return TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def first_views(run_id):
        loads.clear()
        services = make_services(tmp_path / "data", backend_url)  # a restart: nothing kept in memory
        try:
            with started(services) as client:
                spark = client.get(f"/api/v1/runs/{run_id}/spark").json()
                progress = client.get(f"/api/v1/runs/{run_id}/progress").json()
        finally:
            services.close()
        return spark, {k: v for k, v in progress.items() if k not in ("estimate", "elapsed_s")}  # the clock moved

    services = make_services(tmp_path / "data", backend_url)
    with started(services) as client:
        run, _ = start_run(client, services)
        events = session_events(attempt_tag(run["id"], 1), "stoker-other-run-1")
        for counter, start in enumerate(range(0, len(events), 3), start=1):
            ingest(client, "stoker-session", APP_ID, events[start:start + 3], counter)
    services.close()
    spark, progress = first_views(run["id"])
    assert loads == []  # the digests only
    assert (spark["totals"]["done"], spark["totals"]["failed_tasks"], progress["tasks"]["done"]) == (2, 1, 2)
    services = make_services(tmp_path / "data", backend_url)
    with services.db.write() as conn:
        conn.execute(sa.update(spark_event_chunks).values(digest=None))
    services.close()
    from_events, progress_from_events = first_views(run["id"])
    assert len(loads) >= 5  # every chunk's events read, this time
    assert spark == from_events and progress == progress_from_events


def test_a_stage_whose_shuffle_exists_already_is_skipped_not_planned():
    """A later job lists the shuffle an earlier one wrote as a new stage that never runs: once a
    later stage of that job runs, it counts as skipped, not as tasks still to do."""
    from stoker.events.analysis import analyse

    events = [job_start(5, "g", [(3, 28), (4, 1)], 100),
              (100, ev("SparkListenerStageSubmitted", **{"Stage Info": stage_info(4, 1, 100)}))]
    view = analyse([b"\n".join(line for _, line in events)], group="g")
    assert [(s["stage_id"], s["status"]) for s in view["stages"]] == [(3, "skipped"), (4, "active")]
    from stoker.events.progress import progress_view
    from stoker.events.run_work import totals

    spark = {"attempt": 1, "stages": view["stages"], "totals": totals(view["stages"])}
    progress = progress_view("r", "RUNNING", spark, started_at=0.0, now=10.0, earlier=[])
    assert progress["tasks"]["planned"] == 1
    assert spark["totals"]["tasks"] == 1


def test_a_failed_run_names_its_step_and_the_stage_executor_and_setting_of_an_oom(client, services):
    from ui.test_ui_pages import sign_in

    run, claimed = start_run(client, services)
    mine = attempt_tag(run["id"], 1)
    events = session_events(mine, "x")
    # the same task failure, on executor 3 of a cluster: not the driver, so executor memory is the setting
    events.append((0, ev("SparkListenerExecutorAdded", **{"Executor ID": "3", "Timestamp": 0,
                                                         "Executor Info": {"Total Cores": 2}})))
    ingest(client, "stoker-session", APP_ID, events, 1)
    error = ("step 1 (count): Job aborted due to stage failure: Task 2 in stage 1.0 failed 4 times, most recent "
             "failure: java.lang.OutOfMemoryError: Java heap space")
    services.queue.finish(Ending(claimed.attempt_id, Outcome.FAILED, error=error, permanent=True))
    browser = TestClient(client.app, follow_redirects=False)
    sign_in(browser)
    html = browser.get(f"/ui/runs/{run['id']}").text
    box = html[html.index('id="run-failure"'):html.index("</section>", html.index('id="run-failure"'))]
    assert "Failed at step 1 (count)" in box and "java.lang.OutOfMemoryError: Java heap space" in box
    assert "<strong>Stage 1</strong>" in box and "<strong>executor 3</strong>" in box
    assert "raise spark.executor.memory" in box
    assert html.index('id="run-failure"') < html.index('id="run-spark"')  # at the top
    failure = client.get(f"/api/v1/runs/{run['id']}/spark").json()["failure"]
    assert failure["step"] == 1 and failure["hints"][0]["setting"] == "spark.executor.memory"


def test_failure_hints_for_lost_executors_the_driver_and_plain_errors():
    from stoker.events.failures import explain_failure

    lost = {"stages": [{"stage_id": 4, "name": "s", "failures": [
        {"reason": "ExecutorLostFailure", "executor": "7", "class_name": None,
         "message": "Container killed by YARN for exceeding memory limits"}]}], "executors_lost": [
        {"executor": "7", "at": 1, "reason": "Container killed"},
        {"executor": "9", "at": 2, "reason": "heartbeat timed out"}]}
    failure = explain_failure("step 2 (write_parquet): Job aborted", lost, {"spark.executor.memoryOverhead": "384m"})
    assert (failure["step"], failure["function"], failure["message"]) == (2, "write_parquet", "Job aborted")
    first, second = failure["hints"]
    assert (first["stage"], first["executor"], first["setting"], first["now"]) == (
        4, "7", "spark.executor.memoryOverhead", "384m")
    assert (second["executor"], second["setting"]) == ("9", "spark.executor.memory")
    driver = explain_failure("step 3 (collect): java.lang.OutOfMemoryError: Java heap space", {}, {})
    assert [h["setting"] for h in driver["hints"]] == ["spark.driver.memory"]
    plain = explain_failure("step 0 (fail): broken on purpose", None)
    assert plain == {"step": 0, "function": "fail", "message": "broken on purpose", "hints": []}
    assert explain_failure(None, None) is None
