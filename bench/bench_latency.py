"""Enqueue → attempt start latency at about half of the measured maximum submit rate.

    .venv/bin/python bench/bench_latency.py [--runs 2000] [--no-postgres] [--driver wrk --seconds 10]
        [--rate 100] [--configs postgresql,postgresql+worker]

For each backend: first measure the maximum rate of one-run-per-request submits, then submit no-op
runs at half that rate and read, per run, `started_at − queued_at` (both taken by the server: the
submit transaction and the claim transaction). Two drivers: `httpx` (4 Python client threads,
open loop; they top out at a few hundred submits/s here) and `wrk` (the client of
bench_submit.py: its maximum with 8 connections, then 8 connections each pausing so that together
they offer half of it, the pause shortened by the latency a 3 s trial at that rate shows; the rate
reached is counted from the runs made and reported). With `--rate`, wrk offers that rate instead
of half a maximum it measured first: two versions compared at the same load (the maximum varies
from minute to minute on a shared machine, and with it the rate each would be measured at).
Configurations:
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
        out = _all_runs(client, job)
        if len(out) == expected and all(r["state"] == "SUCCEEDED" for r in out):
            return [parse(r["started_at"]) - parse(r["queued_at"]) for r in out]
        assert time.monotonic() < deadline, "runs did not finish"
        time.sleep(0.2)


def measure_httpx(client: httpx.Client, runs: int) -> dict[str, float]:
    max_rate = bench_single(client, 800)
    rate = max_rate / 2
    job = f"latency-{uuid.uuid4().hex[:6]}"
    client.post("/api/v1/jobs", json={"name": job, "steps": [["noop"]], "max_concurrent_runs": 100000})
    paced_submit(client, job, runs, rate)
    lat = latencies(client, job, runs)
    return {"max_submit_rate": max_rate, "offered_rate": rate, "n": len(lat),
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": max(lat) * 1000}


PACED_LUA = '''
wrk.method = "POST"
wrk.body = "{{}}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
function delay() return {delay_ms} end
'''


def measure_wrk(client: httpx.Client, seconds: int, connections: int = 8,
                fixed_rate: float | None = None) -> dict[str, float]:
    """The maximum with wrk, then half of it (or `fixed_rate`): each connection waits
    `connections / rate` between its answer and its next request, so the rate offered is at most
    that (a little below, by the requests' own latency); what it reached is counted from the runs
    made."""
    from bench_submit import LUA_POST, ensure_wrk, run_wrk

    wrk = ensure_wrk()
    base = str(client.base_url).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="stoker-bench-lua-") as tmp:
        script = Path(tmp) / "post.lua"
        probe = f"latency-max-{uuid.uuid4().hex[:6]}"
        client.post("/api/v1/jobs", json={"name": probe, "steps": [["noop"]], "max_concurrent_runs": 100000})
        script.write_text(LUA_POST.format(body="{}", token=TOKEN))
        if fixed_rate is None:
            max_rate = run_wrk(wrk, f"{base}/api/v1/jobs/{probe}/runs", connections, seconds, script)["rps"]
            time.sleep(3)  # let the worker finish the probe's runs before the measured ones
            rate = max_rate / 2
        else:
            max_rate, rate = float("nan"), fixed_rate
        # A connection's cycle is its pause plus the request's latency: a short paced run finds
        # the latency at this rate, and the pause is shortened by it.
        cycle_ms = connections * 1000 / rate
        script.write_text(PACED_LUA.format(token=TOKEN, delay_ms=max(1, round(cycle_ms))))
        trial = run_wrk(wrk, f"{base}/api/v1/jobs/{probe}/runs", connections, 3, script)["rps"]
        latency_ms = max(0.0, connections * 1000 / trial - round(cycle_ms))
        time.sleep(2)
        job = f"latency-{uuid.uuid4().hex[:6]}"
        client.post("/api/v1/jobs", json={"name": job, "steps": [["noop"]], "max_concurrent_runs": 100000})
        script.write_text(PACED_LUA.format(token=TOKEN, delay_ms=max(1, round(cycle_ms - latency_ms))))
        offered = run_wrk(wrk, f"{base}/api/v1/jobs/{job}/runs", connections, seconds, script)
    time.sleep(1)  # requests in flight when wrk stopped are still answered
    made = len(_all_runs(client, job))
    assert made, "no run was made"
    lat = latencies(client, job, made)
    return {"max_submit_rate": max_rate, "offered_rate": len(lat) / seconds, "n": len(lat),
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": max(lat) * 1000, "submit_p50_ms": offered["p50_ms"], "submit_p99_ms": offered["p99_ms"]}


def _all_runs(client: httpx.Client, job: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"job": job, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/runs", params=params).json()
        out += page["runs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--driver", choices=("httpx", "wrk"), default="httpx")
    parser.add_argument("--seconds", type=int, default=10, help="with --driver wrk: each wrk run's length")
    parser.add_argument("--rate", type=float, help="with --driver wrk: offer this many submits/s instead of "
                                                   "half the maximum")
    parser.add_argument("--configs", default="sqlite,postgresql,postgresql+worker",
                        help="which configurations, comma-separated")
    args = parser.parse_args()
    configs = args.configs.split(",")

    def measure(client: httpx.Client, runs: int) -> dict[str, float]:
        if args.driver == "wrk":
            return measure_wrk(client, args.seconds, fixed_rate=args.rate)
        return measure_httpx(client, runs)

    results: dict[str, dict[str, float]] = {}
    if "sqlite" in configs:
        with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmp, stoker_server(Path(tmp) / "sqlite") as client:
            results["sqlite"] = measure(client, args.runs)
    if not args.no_postgres:
        for label, separate in (("postgresql", False), ("postgresql+worker", True)):
            if label not in configs:
                continue
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
