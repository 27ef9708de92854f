"""Where a run's time goes, phase by phase: the same pipeline submitted again and again to one warm
`stoker serve`, each run's phases from its own record and its collected Spark events.

    .venv/bin/python bench/bench_run_phases.py [--runs 12] [--size 10] [--pipeline group_by] [--cluster]
        [--data DIR] [--profile FILE] [--conf KEY=VALUE ...]

Inputs are bench_sizes.py's (generated under --data if missing). Phases, in ms, per run:
  submit    the HTTP POST until its answer
  queue     queued_at → the attempt's start (the claim)
  to task   the attempt's start → its first task's launch (session, reads, planning, scheduling)
  tasks     first task's launch → last task's end
  commit    last task's end → the attempt's finish (the write's commit, the result, the record)
  answer    the attempt's finish → the client's long-poll answer
With --cluster the runs go to a 2-worker `spark-standalone` cluster launched first. With --profile,
py-spy (`.venv/bin/pip install py-spy`) samples the server from the fourth run on, idle threads
included, into FILE (collapsed stacks): the worker thread's samples say where its wall time went.
--conf adds server-level Spark settings (STOKER_SPARK_CONF_DEFAULTS), e.g. to try the warm session
without one of its defaults: --conf spark.scheduler.mode=FIFO.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _server import percentile, print_table
from bench_sizes import floor_session, generate, launch_cluster, stoker_steps, task_times, wait_ready
from harness import Server


def epoch(value: Any) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if isinstance(value, str) else value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--size", type=int, default=10, help="MB of CSV (bench_sizes' sizes)")
    parser.add_argument("--pipeline", default="group_by", choices=("csv_filter", "group_by", "join", "sort"))
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data" / "bench-sizes"))
    parser.add_argument("--profile", default="")
    parser.add_argument("--conf", action="append", default=[], help="KEY=VALUE, a server-level Spark setting")
    args = parser.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stoker-bench-phases-") as t:
        conf = dict(item.split("=", 1) for item in args.conf)
        server = Server(Path(t) / "stoker", env={"STOKER_STORAGE_ROOTS": str(data),
                                                 "STOKER_CLUSTER_CAPACITY": "cores=6",
                                                 "STOKER_SPARK_CONF_DEFAULTS": json.dumps(conf)},
                        fast_leases=False, start_timeout=120).start()
        spy = None
        try:
            client = server.client(timeout=300)
            if not (data / f"{args.size}mb" / ".complete").exists():
                spark = floor_session(server.url, "phases-generate")
                generate(spark, data, args.size)
                spark.stop()
            paths = {k: str(data / f"{args.size}mb" / v) for k, v in
                     {"csv": "people.csv", "people": "people.parquet", "accounts": "accounts.parquet"}.items()}
            options = {}
            if args.cluster:
                cluster = launch_cluster(client, 2048)
                wait_ready(client, cluster)
                options = {"cluster": cluster}
            runs = []
            for n in range(args.runs):
                if n == 3 and args.profile and server.proc is not None:
                    spy = subprocess.Popen(["py-spy", "record", "--idle", "-r", "200", "-f", "raw", "-p",
                                            str(server.proc.pid), "-o", args.profile],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                body = {"steps": stoker_steps(args.pipeline, paths, str(data / "out" / f"phases-{n}")),
                        "options": options}
                sent = time.time()
                answer = client.post("/api/v1/runs", json=body)
                answered = time.time()
                answer.raise_for_status()
                while True:
                    view = client.get(f"/api/v1/runs/{answer.json()['id']}", params={"wait_seconds": 30}).json()
                    if view["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                        break
                seen = time.time()
                assert view["state"] == "SUCCEEDED", view["error"]
                runs.append((sent, answered, view, seen))
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)
            time.sleep(8)  # the listener posts every few seconds
            app = runs[-1][2]["attempts"][-1]["spark_app_id"]
            tasks = task_times(client, "stoker-session", app)
            rows, phases = [], {k: [] for k in ("submit", "queue", "to task", "tasks", "commit", "answer", "total")}
            for sent, answered, view, seen in runs[1:]:  # the first run starts the session
                attempt = view["attempts"][-1]
                mine = tasks.get(attempt["spark_job_group"], [])
                if not mine:
                    continue
                started, finished = epoch(attempt["started_at"]), epoch(attempt["finished_at"])
                first, last = min(x[0] for x in mine) / 1000, max(x[1] for x in mine) / 1000
                figures = {"submit": answered - sent, "queue": started - epoch(view["queued_at"]),
                           "to task": first - started, "tasks": last - first, "commit": finished - last,
                           "answer": seen - finished, "total": seen - sent}
                for key, value in figures.items():
                    phases[key].append(value * 1000)
                rows.append([f"{figures[k] * 1000:.0f}" for k in phases])
            print_table(list(phases), rows)
            print("p50: " + ", ".join(f"{k} {percentile(v, 50):.0f} ms" for k, v in phases.items() if v))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
