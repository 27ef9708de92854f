"""Soak: SIGKILL a worker every few seconds while runs are submitted, then count lost and doubled runs.

A `stoker serve --no-worker` API takes submits (one run per request and batches, instant no-op runs
and 0.2 s sleeps that a kill catches mid-run); one `stoker worker` process at a time runs them and
is SIGKILLed after a random 0.3-2 x `--interval` seconds, `--kills` times, then a last worker
finishes the queue. Every run that got a 2xx must end SUCCEEDED (lost: 0) with exactly one
succeeded attempt (doubled: 0). Run on SQLite and PostgreSQL:

    .venv/bin/python bench/bench_soak.py --kills 300 --interval 1.0
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import TOKEN, print_table, stoker_server, write_results
from bench_noop import drop_postgres, fresh_postgres

FAST = {"STOKER_LEASE_SECONDS": "2", "STOKER_HEARTBEAT_SECONDS": "0.4", "STOKER_REAP_INTERVAL_SECONDS": "0.3",
        "STOKER_WORKER_CONCURRENCY": "4"}


def start_worker(data: Path, url: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **FAST, "STOKER_ADMIN_TOKEN": TOKEN}
    env.pop("STOKER_DATABASE_URL", None)
    if url:
        env["STOKER_DATABASE_URL"] = url
    return subprocess.Popen([sys.executable, "-m", "stoker.cli", "worker", "--data-dir", str(data)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def submit_loop(client: httpx.Client, acknowledged: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if random.random() < 0.2:
                response = client.post("/api/v1/batches", json={"job": "soak", "count": 20})
                if response.status_code == 201:
                    acknowledged.extend(response.json()["run_ids"])
            else:
                job = "soak" if random.random() < 0.5 else "soak-sleep"
                response = client.post(f"/api/v1/jobs/{job}/runs", json={})
                if response.status_code in (200, 201):
                    acknowledged.append(response.json()["id"])
        except httpx.HTTPError:
            pass
        time.sleep(0.02)


def outcome(url: str | None, data: Path, run_ids: list[str]) -> tuple[int, int, int, int]:
    """(not SUCCEEDED, runs with more than one succeeded attempt, attempts lost, attempts in all)."""
    ids = set(run_ids)
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            states = conn.execute("SELECT id, state FROM runs").fetchall()
            attempts = conn.execute("SELECT run_id, outcome FROM attempts").fetchall()
    else:
        with sqlite3.connect(data / "stoker.db") as conn:
            states = conn.execute("SELECT id, state FROM runs").fetchall()
            attempts = conn.execute("SELECT run_id, outcome FROM attempts").fetchall()
    not_done = sum(1 for run_id, state in states if run_id in ids and state != "SUCCEEDED")
    not_done += len(ids - {run_id for run_id, _ in states})
    succeeded: dict[str, int] = {}
    for run_id, result in attempts:
        if result == "succeeded":
            succeeded[run_id] = succeeded.get(run_id, 0) + 1
    doubled = sum(1 for n in succeeded.values() if n > 1)
    lost = sum(1 for _, result in attempts if result == "lost")
    return not_done, doubled, lost, len(attempts)


def soak(backend: str, kills: int, interval: float) -> dict[str, object]:
    pg_name, url = fresh_postgres() if backend == "postgresql" else (None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="stoker-soak-") as tmp:
            data = Path(tmp) / "data"
            with stoker_server(data, database_url=url, args=("--no-worker",), extra_env=FAST) as client:
                for name, steps in (("soak", [["noop"]]), ("soak-sleep", [["sleep", 0.2], ["noop"]])):
                    client.post("/api/v1/jobs", json={"name": name, "steps": steps, "max_attempts": 100,
                                                      "max_concurrent_runs": 1000, "backoff_seconds": 0})
                acknowledged: list[str] = []
                stop = threading.Event()
                submitter = threading.Thread(target=submit_loop, args=(client, acknowledged, stop))
                submitter.start()
                started = time.monotonic()
                for n in range(kills):
                    worker = start_worker(data, url)
                    time.sleep(random.uniform(0.3, 2 * interval))
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    if (n + 1) % 50 == 0:
                        print(f"  {backend}: {n + 1} kills, {len(acknowledged)} runs acknowledged", flush=True)
                stop.set()
                submitter.join()
                last = start_worker(data, url)
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    queued = client.get("/api/v1/runs", params={"state": "QUEUED", "limit": 1}).json()["runs"]
                    running = client.get("/api/v1/runs", params={"state": "RUNNING", "limit": 1}).json()["runs"]
                    if not queued and not running:
                        break
                    time.sleep(1)
                last.terminate()
                last.wait(30)
                not_done, doubled, lost_attempts, attempts = outcome(url, data, acknowledged)
                return {"backend": backend, "kills": kills, "seconds": round(time.monotonic() - started),
                        "runs": len(acknowledged), "attempts": attempts, "attempts_lost_to_kills": lost_attempts,
                        "lost_runs": not_done, "doubled_runs": doubled}
    finally:
        if pg_name:
            drop_postgres(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--interval", type=float, default=1.0, help="mean seconds between kills")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = [soak(backend, args.kills, args.interval) for backend in args.backends.split(",")]
    print_table(list(rows[0]), [list(r.values()) for r in rows])
    write_results("soak", {"rows": rows})


if __name__ == "__main__":
    main()
