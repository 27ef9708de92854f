"""No-op runs through the queue: HTTP submit → finished, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_noop.py [--runs 20000] [--batch 1000] [--single 2000] [--no-postgres]

Two ways in, both measured from the first submit until the last run is SUCCEEDED:
  batch    POST /api/v1/batches {"job", "count": B}: one request and one transaction per B runs
  single   POST /api/v1/runs, one run per request, from 4 client threads
Runs made only of `noop` need no Spark; the worker claims and finishes them 1000 at a time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _server import TOKEN, print_table, stoker_server, write_results

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def wait_all(client, job: str, expected: int, timeout: float = 600) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        job_row = client.get(f"/api/v1/jobs/{job}").json()
        queued = client.get("/api/v1/runs", params={"job": job, "state": "QUEUED", "limit": 1}).json()["runs"]
        if not queued and job_row["running_count"] == 0:
            done = client.get("/api/v1/runs", params={"job": job, "state": "SUCCEEDED", "limit": 1}).json()
            if done["runs"]:
                return
        if time.monotonic() > deadline:
            raise TimeoutError("runs did not finish")
        time.sleep(0.01)


def bench_batch(client, runs: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    job = f"noop-batch-{uuid.uuid4().hex[:6]}"
    client.post("/api/v1/jobs", json={"name": job, "steps": [["noop"]], "max_concurrent_runs": 100000})
    started = time.perf_counter()
    batch_ids = []
    for _ in range(runs // batch):
        response = client.post("/api/v1/batches", json={"job": job, "count": batch})
        response.raise_for_status()
        batch_ids.append(response.json()["batch_id"])
    for batch_id in batch_ids:
        while not client.get(f"/api/v1/batches/{batch_id}").json()["done"]:
            time.sleep(0.02)  # polling costs the server CPU too; 20 ms is below the precision needed
    elapsed = time.perf_counter() - started
    counts = [client.get(f"/api/v1/batches/{b}").json()["states"] for b in batch_ids]
    assert all(c == {"SUCCEEDED": batch} for c in counts), counts
    return runs / elapsed


def bench_single(client, runs: int, threads: int = 4) -> float:  # type: ignore[no-untyped-def]
    job = f"noop-single-{uuid.uuid4().hex[:6]}"
    client.post("/api/v1/jobs", json={"name": job, "steps": [["noop"]], "max_concurrent_runs": 100000})

    def submit(n: int) -> None:
        import httpx

        with httpx.Client(base_url=str(client.base_url), headers=dict(client.headers)) as own:
            for _ in range(n):
                own.post(f"/api/v1/jobs/{job}/runs", json={}).raise_for_status()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(submit, [runs // threads] * threads))
    wait_all(client, job, runs)
    return runs / (time.perf_counter() - started)


def fresh_postgres() -> tuple[str, str]:
    import psycopg

    name = f"stoker_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def worker_process(data_dir: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    """A separate `stoker worker` process: the API and the worker then use a core each."""
    env = {**os.environ, "STOKER_ADMIN_TOKEN": TOKEN}
    env.pop("STOKER_DATABASE_URL", None)
    if database_url:
        env["STOKER_DATABASE_URL"] = database_url
    proc = subprocess.Popen([sys.executable, "-m", "stoker.cli", "worker", "--data-dir", str(data_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    backends = [("sqlite", False)] + ([] if args.no_postgres else [("postgresql", True)])
    for backend, postgres in backends:
        for layout in ("embedded worker", "separate worker"):
            with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmp:
                pg_name, url = fresh_postgres() if postgres else (None, None)
                data = Path(tmp) / "data"
                separate = layout == "separate worker"
                try:
                    with stoker_server(data, database_url=url, args=("--no-worker",) if separate else ()) as client, \
                            worker_process(data, url) if separate else contextlib.nullcontext():
                            bench_batch(client, args.batch * 2, args.batch)  # warm-up
                            results[f"{backend}, {layout}"] = {
                                "batch_runs_per_s": bench_batch(client, args.runs, args.batch),
                                "single_runs_per_s": bench_single(client, args.single),
                            }
                finally:
                    if pg_name:
                        drop_postgres(pg_name)
    print_table(["backend, layout", f"batch of {args.batch} (runs/s)", "one run per request (runs/s)"],
                [[b, f"{r['batch_runs_per_s']:.0f}", f"{r['single_runs_per_s']:.0f}"] for b, r in results.items()])
    print("written to", write_results("noop", results))


if __name__ == "__main__":
    main()
