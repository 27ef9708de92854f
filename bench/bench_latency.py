"""Enqueue → attempt start latency at about half of the measured maximum submit rate.

    .venv/bin/python bench/bench_latency.py [--runs 2000] [--no-postgres]

For each backend: first measure the maximum rate of one-run-per-request submits (4 client threads),
then submit no-op runs open-loop at half that rate and read, per run, `started_at − queued_at`
(both taken by the server: the submit transaction and the claim transaction). Configurations:
  sqlite            `stoker serve` with its embedded worker (woken in-process)
  postgresql        the same on PostgreSQL
  postgresql+worker API with --no-worker plus a separate `stoker worker` process (woken by LISTEN/NOTIFY)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

from _server import TOKEN, percentile, print_table, stoker_server, write_results
from bench_noop import bench_single, drop_postgres, fresh_postgres


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def paced_submit(client: httpx.Client, job: str, runs: int, rate: float, threads: int = 4) -> None:
    """Open loop: run i is sent at start + i / rate, whatever earlier answers took."""
    start = time.perf_counter() + 0.2
    per_thread = [list(range(i, runs, threads)) for i in range(threads)]

    def sender(indices: list[int]) -> None:
        with httpx.Client(base_url=str(client.base_url), headers=dict(client.headers)) as own:
            for i in indices:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                own.post(f"/api/v1/jobs/{job}/runs", json={}).raise_for_status()

    workers = [threading.Thread(target=sender, args=(idx,)) for idx in per_thread]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def latencies(client: httpx.Client, job: str, expected: int) -> list[float]:
    deadline = time.monotonic() + 120
    while True:
        out, cursor = [], None
        while True:
            params = {"job": job, "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/runs", params=params).json()
            out += page["runs"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        if len(out) == expected and all(r["state"] == "SUCCEEDED" for r in out):
            return [parse(r["started_at"]) - parse(r["queued_at"]) for r in out]
        assert time.monotonic() < deadline, "runs did not finish"
        time.sleep(0.2)


def measure(client: httpx.Client, runs: int) -> dict[str, float]:
    max_rate = bench_single(client, 800)
    rate = max_rate / 2
    job = f"latency-{uuid.uuid4().hex[:6]}"
    client.post("/api/v1/jobs", json={"name": job, "steps": [["noop"]], "max_concurrent_runs": 100000})
    paced_submit(client, job, runs, rate)
    lat = latencies(client, job, runs)
    return {"max_submit_rate": max_rate, "offered_rate": rate, "n": len(lat),
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": max(lat) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmp, stoker_server(Path(tmp) / "sqlite") as client:
        results["sqlite"] = measure(client, args.runs)
    if not args.no_postgres:
        for label, separate in (("postgresql", False), ("postgresql+worker", True)):
            name, url = fresh_postgres()
            try:
                with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmp:
                    data = Path(tmp) / "data"
                    extra = ("--no-worker",) if separate else ()
                    with stoker_server(data, database_url=url, args=extra) as client:
                        worker = None
                        if separate:
                            env = {**os.environ, "STOKER_DATABASE_URL": url, "STOKER_ADMIN_TOKEN": TOKEN}
                            worker = subprocess.Popen([sys.executable, "-m", "stoker.cli", "worker",
                                                       "--data-dir", str(data)], env=env,
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        try:
                            results[label] = measure(client, args.runs)
                        finally:
                            if worker:
                                worker.terminate()
                                worker.wait(30)
            finally:
                drop_postgres(name)
    print_table(["backend", "max submits/s", "offered/s", "p50 ms", "p99 ms", "max ms", "runs"],
                [[k, f"{v['max_submit_rate']:.0f}", f"{v['offered_rate']:.0f}", f"{v['p50_ms']:.2f}",
                  f"{v['p99_ms']:.2f}", f"{v['max_ms']:.1f}", int(v["n"])] for k, v in results.items()])
    print("written to", write_results("latency", results))


if __name__ == "__main__":
    main()
