"""Server time of every UI page with 100,000 runs and a 100,000-event Spark application stored.

    .venv/bin/python bench/bench_ui.py [--runs 100000] [--events 100000] [--repeat 30]

The app runs in-process (SQLite in a temporary data dir) and each page is requested `repeat` times
through Starlette's TestClient, signed in; the time is the request's wall time in this process
(the client's share included, so an upper bound). Target: p95 ≤ 100 ms per page (DESIGN.md).
The Spark page's first view aggregates the events (reported separately as "cold"); later views
read the kept aggregate until more events arrive.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TOKEN = "stk_bench_admin_token"


def store_runs(services, count: int) -> None:  # type: ignore[no-untyped-def]
    from stoker.store.runs import NewRun
    from stoker.store.tables import runs

    for start in range(0, count, 5000):
        services.runs.submit(None, [NewRun(steps=[["noop"]], lane="instant") for _ in range(min(5000, count - start))])
    now = time.time()
    with services.db.write() as conn:  # most runs finished over the last two hours, some failed
        ids = [r[0] for r in conn.execute(sa.select(runs.c.seq))]
        rng = random.Random(7)
        done = [{"s": s, "t": now - rng.uniform(0, 7200), "st": "FAILED" if s % 10 == 0 else "SUCCEEDED"}
                for s in ids if s % 20 != 0]
        conn.execute(runs.update().where(runs.c.seq == sa.bindparam("s"))
                     .values(state=sa.bindparam("st"), finished_at=sa.bindparam("t"), started_at=sa.bindparam("t")),
                     done)


def spark_events(count: int) -> list[tuple[int, bytes]]:
    """A synthetic application: two 4-core executors, jobs of one stage each, 200 tasks a stage."""
    t = 1_700_000_000_000
    out: list[tuple[int, bytes]] = [(t, orjson.dumps({"Event": "SparkListenerApplicationStart", "App Name": "bench",
                                                      "App ID": "app-bench", "Timestamp": t}))]
    for ex in ("1", "2"):
        out.append((t, orjson.dumps({"Event": "SparkListenerExecutorAdded", "Timestamp": t, "Executor ID": ex,
                                     "Executor Info": {"Total Cores": 4}})))
    job = 0
    rng = random.Random(3)
    while len(out) < count - 2:
        out.append((t, orjson.dumps({"Event": "SparkListenerJobStart", "Job ID": job, "Submission Time": t,
                                     "Stage IDs": [job]})))
        info = {"Stage ID": job, "Stage Attempt ID": 0, "Stage Name": f"stage {job}", "Number of Tasks": 200,
                "Submission Time": t}
        out.append((t, orjson.dumps({"Event": "SparkListenerStageSubmitted", "Stage Info": info})))
        for task in range(200):
            launch = t + (task // 8) * 40
            finish = launch + rng.randint(20, 60) + (3000 if task == 199 and job % 5 == 0 else 0)
            out.append((launch, orjson.dumps({"Event": "SparkListenerTaskStart", "Stage ID": job,
                                              "Task Info": {"Launch Time": launch, "Executor ID": str(task % 2 + 1)}})))
            out.append((finish, orjson.dumps({
                "Event": "SparkListenerTaskEnd", "Stage ID": job, "Task End Reason": {"Reason": "Success"},
                "Task Info": {"Launch Time": launch, "Finish Time": finish, "Executor ID": str(task % 2 + 1)},
                "Task Metrics": {"Executor Run Time": finish - launch, "JVM GC Time": 2,
                                 "Shuffle Write Metrics": {"Shuffle Bytes Written": 1024}}})))
        t += 25 * 40 + 3100
        completed = {**info, "Completion Time": t}
        out.append((t, orjson.dumps({"Event": "SparkListenerStageCompleted", "Stage Info": completed})))
        out.append((t, orjson.dumps({"Event": "SparkListenerJobEnd", "Job ID": job, "Completion Time": t,
                                     "Job Result": {"Result": "JobSucceeded"}})))
        job += 1
    out.append((t, orjson.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": t})))
    return out


def store_spark_app(app, count: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from _server import payload_bytes
    from stoker.events.payload import parse_payload

    events = spark_events(count)
    store = app.state.event_store
    for n, start in enumerate(range(0, len(events), 1000)):
        body = payload_bytes("bench-job", "bench-run", events[start:start + 1000], payload_counter=n + 1,
                             compress=False)
        store.ingest(parse_payload(body), body)
    return "bench-job", "bench-run"


def store_clusters_and_tasks(services, clusters: int = 200, results: int = 20,  # type: ignore[no-untyped-def]
                             times: int = 500) -> tuple[list[str], str, list[str]]:
    """Clusters of the `external` product (no process started), and a container task with
    `results` results of `times` executions each (queued: no runtime runs them here)."""
    from stoker.submission.container_tasks import TASK_POLICY
    from stoker.submission.runs import RunRequest, Submitter

    cluster_ids = [services.clusters.launch("bench", "external", "1", {"master": f"spark://h{i}:7077"}).id
                   for i in range(clusters)]
    services.containers.docker_host = "unix:///nonexistent/podman.sock"  # accepted, never reached
    task = services.container_jobs.create("bench-task", {"image": "localhost/stoker/busybox:latest",
                                                         "command": ["true"], "env": {}, "network": "none"},
                                          status="READY", **TASK_POLICY)
    result_ids = [Submitter(services).submit_batch([RunRequest(container={})], job_name=task.id,
                                                   copies=times)[0] for _ in range(results)]
    return cluster_ids, task.id, result_ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from _server import payload_bytes
    from stoker.app import create_app
    from stoker.app.wiring import bootstrap_admin_token, build_services
    from stoker.config import Settings
    from stoker.events.payload import parse_payload

    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings.from_env(data_dir=Path(tmp), admin_token=TOKEN, ingest_processes=0))
        bootstrap_admin_token(services)
        began = time.perf_counter()
        store_runs(services, args.runs)
        app = create_app(services)
        job_name, run_id = store_spark_app(app, args.events)
        print(f"stored {args.runs} runs and a {args.events}-event Spark app in {time.perf_counter() - began:.1f} s")
        clusters, task, results = store_clusters_and_tasks(services)
        some_run = services.runs.list(limit=1)[0][0].id
        middle = services.runs.list(limit=1, before_seq=args.runs // 2)[0][0].seq
        with TestClient(app, follow_redirects=False) as client:
            assert client.post("/ui/sign-in", data={"token": TOKEN}).status_code == 303
            spark_page = f"/ui/spark/{job_name}/{run_id}"
            cold = time.perf_counter()
            assert client.get(spark_page).status_code == 200
            cold_ms = (time.perf_counter() - cold) * 1000
            pages = ["/ui/", "/ui/runs", "/ui/runs?state=FAILED", f"/ui/runs?cursor={middle}",
                     "/ui/runs?job=adhoc&state=QUEUED", f"/ui/runs/{some_run}", "/ui/jobs", "/ui/functions",
                     "/ui/dead-letters", "/ui/tokens", "/ui/spark", spark_page,
                     "/ui/clusters", f"/ui/clusters/{clusters[-1]}", "/ui/products", "/ui/products/external/1",
                     "/ui/tasks", f"/ui/tasks/{task}", f"/ui/results/{results[-1]}",
                     f"/ui/results/{results[-1]}/details/{services.container_jobs.batch_runs(results[-1])[0].id}"]
            print(f"{'page':48} {'p50 ms':>8} {'p95 ms':>8}")
            worst = 0.0
            for path in pages:
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                worst = max(worst, p95)
                print(f"{path[:48]:48} {statistics.median(times):8.1f} {p95:8.1f}")
            print(f"Spark page, first view (aggregating {args.events} events): {cold_ms:.0f} ms")
            # A live application: 1,000 more events arrive; the next view folds in only those.
            more = [(ms, line.replace(b'"Job ID":', b'"Job ID":1', 1)) for ms, line in spark_events(1000)]
            body = payload_bytes(job_name, run_id, more, payload_counter=10**6, compress=False)
            app.state.event_store.ingest(parse_payload(body), body)
            live = time.perf_counter()
            assert client.get(spark_page).status_code == 200
            print(f"Spark page after 1,000 more events arrived: {(time.perf_counter() - live) * 1000:.0f} ms")
            print(f"worst p95: {worst:.1f} ms (target ≤ 100 ms)")
        services.close()


if __name__ == "__main__":
    main()
