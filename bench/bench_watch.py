"""What watching a run costs (issue 30), each measure side by side with its peer in the same run.

    PYTHONPATH=src .venv/bin/python bench/bench_watch.py [--events 200000] [--rounds 3] [--tasks 10000]

1. Ingest with and without a watcher: a real uvicorn server ingests gzipped 1,000-event payloads
   (real-size TaskEnds, the heavy case) into a warm session's application while a RUNNING run's job
   group is in it; rounds alternate between nobody watching and a client holding the run's SSE
   stream (`?run=ID`: the server folds the new events into the run's progress once a second and
   pushes it). Reported: events/s and the server's CPU seconds (its ingest helpers included) per
   100,000 events, and the watched/unwatched ratios. Target: under 2% cost.
2. The run page of a RUNNING run with `--tasks` tasks of its own (and as many of another run's in
   the same application), in-process like bench/bench_ui.py: the first view (the aggregate built;
   the process's first page, then an app's first view in a warm server; wall and CPU time) and
   later views (kept), p50/p95 of `--repeat`; peer: the Spark application page of the same
   application. Target: under 200 ms.
Prints a table and writes bench/results/watch-<time>.json.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil

from _server import TOKEN, UvicornServer, payload_bytes, percentile, print_table, process_cpu_seconds, write_results
from bench_events import payload, post_bodies, task_end

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "app-watch-bench"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def running_run(client: httpx.Client) -> tuple[str, str]:
    """A RUNNING run, claimed and annotated as a session-mode attempt: (run id, its job group)."""
    run = client.post("/api/v1/runs", json={"steps": [["range", 10], ["count"]]}).json()
    answer = client.post("/api/v1/worker/claim", json={"worker_id": "bench", "lease_seconds": 3600})
    [claimed] = answer.json()["attempts"]
    group = f"stoker-{run['id']}-1"
    answer = client.post(f"/api/v1/attempts/{claimed['attempt_id']}/annotate",
                         json={"spark_app_id": APP_ID, "spark_job_group": group, "executor": "spark_session"})
    assert answer.status_code == 204, answer.text
    return run["id"], group


def opening(group: str, t: int) -> list[tuple[int, bytes]]:
    return [(t, orjson.dumps({"Event": "SparkListenerApplicationStart", "App Name": "stoker-worker",
                              "App ID": APP_ID, "Timestamp": t})),
            (t, orjson.dumps({"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": t, "Stage IDs": [1],
                              "Stage Infos": [{"Stage ID": 1, "Stage Name": "bench", "Number of Tasks": 10**7}],
                              "Properties": {"spark.jobGroup.id": group}})),
            (t, orjson.dumps({"Event": "SparkListenerStageSubmitted", "Stage Info": {
                "Stage ID": 1, "Stage Name": "bench", "Number of Tasks": 10**7, "Submission Time": t}}))]


def ingest(url: str, bodies: list[bytes], pid: int) -> dict:
    """Post the bodies (bench_events.post_bodies); seconds and the server's CPU seconds."""
    server = psutil.Process(pid)

    def cpu() -> float:
        return process_cpu_seconds(server)

    before: list[float] = []
    elapsed = post_bodies(url, bodies, on_start=lambda: before.append(cpu()))
    return {"seconds": elapsed, "cpu_seconds": cpu() - before[0]}


class Watcher:
    """A client holding the run's SSE stream, counting the progress messages pushed."""

    def __init__(self, url: str, run_id: str) -> None:
        self.url, self.run_id = url, run_id
        self.progress = 0
        self.last: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _follow(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=httpx.Timeout(10, read=None)) as client, \
                client.stream("GET", "/api/v1/events/stream", params={"run": self.run_id}) as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data: ") and '"run.progress"' in line:
                    self.progress += 1
                    self.last = orjson.loads(line[6:])


def bench_ingest_cost(events: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="stoker-bench-watch-") as tmp:
        server = UvicornServer(Path(tmp) / "data").start()
        try:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
                run_id, group = running_run(client)
            assert server.proc is not None
            t0 = 1_800_000_000_000
            counter = 1
            first = gzip.compress(payload("stoker-session", APP_ID, opening(group, t0), counter), 6)
            ingest(server.url, [first], server.proc.pid)
            per_round = events // 1000
            results: dict[str, list[dict]] = {"unwatched": [], "watched": []}
            for r in range(rounds * 2):
                watched = r % 2 == 1
                bodies = []
                for _ in range(per_round):
                    counter += 1
                    base = counter * 1000
                    batch = [(t0 + base + i, task_end(base + i, t0 + base + i)) for i in range(1000)]
                    bodies.append(gzip.compress(payload("stoker-session", APP_ID, batch, counter), 6))
                if watched:
                    with Watcher(server.url, run_id) as watcher:
                        # Connected, and its first progress sent: the first one after events arrived
                        # unwatched reads them (a one-off, as the run page's first view does).
                        deadline = time.monotonic() + 120
                        while watcher.progress < 2 and time.monotonic() < deadline:
                            time.sleep(0.1)
                        pushed_before = watcher.progress
                        measured = ingest(server.url, bodies, server.proc.pid)
                        time.sleep(1.2)
                        measured["progress_messages"] = watcher.progress - pushed_before
                        measured["last_done"] = watcher.last["tasks"]["done"] if watcher.last else None
                else:
                    measured = ingest(server.url, bodies, server.proc.pid)
                measured["events_per_s"] = per_round * 1000 / measured["seconds"]
                measured["cpu_s_per_100k"] = measured["cpu_seconds"] / (per_round * 1000) * 100_000
                results["watched" if watched else "unwatched"].append(measured)
                print("ingest", "watched" if watched else "unwatched", measured, flush=True)
        finally:
            server.stop()
    summary = {k: {"events_per_s": statistics.median(m["events_per_s"] for m in v),
                   "cpu_s_per_100k": statistics.median(m["cpu_s_per_100k"] for m in v)} for k, v in results.items()}
    summary["throughput_cost"] = 1 - summary["watched"]["events_per_s"] / summary["unwatched"]["events_per_s"]
    summary["cpu_cost"] = summary["watched"]["cpu_s_per_100k"] / summary["unwatched"]["cpu_s_per_100k"] - 1
    return {"rounds": results, "summary": summary}


def bench_run_page(tasks: int, repeat: int) -> dict:
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app
    from stoker.app.wiring import bootstrap_admin_token, build_services
    from stoker.config import Settings
    from stoker.events.payload import parse_payload

    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings.from_env(data_dir=Path(tmp), admin_token=TOKEN, ingest_processes=0))
        bootstrap_admin_token(services)
        app = create_app(services, background=Background(services, embedded_worker=False))
        with TestClient(app, headers=AUTH) as api:
            run_id, group = running_run(api)
            events = session_app(group, tasks)
            for n, start in enumerate(range(0, len(events), 1000)):
                body = payload_bytes("stoker-session", APP_ID, events[start:start + 1000], payload_counter=n + 1,
                                     compress=False)
                app.state.event_store.ingest(parse_payload(body), body)
            page = TestClient(app, follow_redirects=False)
            page.post("/ui/sign-in", data={"token": TOKEN, "next": "/ui/"})
            out = {}
            pages = (("run page", f"/ui/runs/{run_id}"), ("Spark app page", f"/ui/spark/stoker-session/{APP_ID}"))
            for name, path in pages:
                # Cold: the aggregate is built by this view. The first is also the process's first
                # view of its page (templates, imports); the second is a running server's first view
                # of an application. CPU seconds too: on a shared machine, wall time is mostly load.
                colds = []
                for _ in range(2):
                    app.state.event_store._analyses.clear()
                    started, cpu = time.perf_counter(), time.process_time()
                    response = page.get(path)
                    colds.append(((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000))
                    assert response.status_code == 200, response.text[:300]
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    assert page.get(path).status_code == 200
                    times.append((time.perf_counter() - started) * 1000)
                out[name] = {"cold_ms": colds[0][0], "cold_cpu_ms": colds[0][1], "app_cold_ms": colds[1][0],
                             "app_cold_cpu_ms": colds[1][1], "p50_ms": percentile(times, 50),
                             "p95_ms": percentile(times, 95)}
                print("page", name, out[name], flush=True)
            progress = api.get(f"/api/v1/runs/{run_id}/progress").json()
            assert progress["tasks"]["done"] == tasks, progress["tasks"]
        services.close()
    return out


def session_app(group: str, tasks: int) -> list[tuple[int, bytes]]:
    """A warm session's application: this run's job group with `tasks` tasks in stages of 200, and
    another run's as many, interleaved in time."""
    t = 1_700_000_000_000
    out: list[tuple[int, bytes]] = [(t, orjson.dumps({"Event": "SparkListenerApplicationStart", "App Name": "w",
                                                      "App ID": APP_ID, "Timestamp": t})),
                                    (t, orjson.dumps({"Event": "SparkListenerExecutorAdded", "Timestamp": t,
                                                      "Executor ID": "driver", "Executor Info": {"Total Cores": 8}}))]
    stages = tasks // 200
    for s in range(stages * 2):
        owner = group if s % 2 == 0 else "stoker-someone-else-1"
        info = {"Stage ID": s, "Stage Name": f"stage {s}", "Number of Tasks": 200, "Submission Time": t}
        out.append((t, orjson.dumps({"Event": "SparkListenerJobStart", "Job ID": s, "Submission Time": t,
                                     "Stage IDs": [s], "Stage Infos": [info],
                                     "Properties": {"spark.jobGroup.id": owner}})))
        out.append((t, orjson.dumps({"Event": "SparkListenerStageSubmitted", "Stage Info": info})))
        out += [(t + 50, task_end(s * 200 + i, t + 50).replace(b'"Stage ID":1,', b'"Stage ID":%d,' % s))
                for i in range(200)]
        t += 60
        completed = {**info, "Completion Time": t}
        out.append((t, orjson.dumps({"Event": "SparkListenerStageCompleted", "Stage Info": completed})))
        out.append((t, orjson.dumps({"Event": "SparkListenerJobEnd", "Job ID": s, "Completion Time": t,
                                     "Job Result": {"Result": "JobSucceeded"}})))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000, help="events per ingest round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (unwatched, watched), alternating")
    parser.add_argument("--tasks", type=int, default=10_000, help="the run's own tasks, for the run page")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    results = {"ingest": bench_ingest_cost(args.events, args.rounds), "page": bench_run_page(args.tasks, args.repeat)}
    s = results["ingest"]["summary"]
    rows = [["ingest, nobody watching", f"{s['unwatched']['events_per_s']:,.0f} events/s",
             f"{s['unwatched']['cpu_s_per_100k']:.2f} CPU s / 100k events", "peer"],
            ["ingest, the run watched (SSE progress)", f"{s['watched']['events_per_s']:,.0f} events/s",
             f"{s['watched']['cpu_s_per_100k']:.2f} CPU s / 100k events",
             f"throughput {s['throughput_cost']:+.1%}, CPU {s['cpu_cost']:+.1%} (target < 2%)"]]
    for name, page in results["page"].items():
        rows.append([f"{name}, {args.tasks:,} tasks of the run",
                     f"first view {page['cold_ms']:.0f} ms ({page['cold_cpu_ms']:.0f} ms CPU), the app's first "
                     f"in a warm server {page['app_cold_ms']:.0f} ms ({page['app_cold_cpu_ms']:.0f} ms CPU)",
                     f"p50 {page['p50_ms']:.1f} ms, p95 {page['p95_ms']:.1f} ms",
                     "target < 200 ms" if name == "run page" else "peer"])
    print_table(["measure", "", "", "vs"], rows)
    print("results:", write_results("watch", results))


if __name__ == "__main__":
    sys.exit(main())
