"""Scale-out check on PostgreSQL: two API processes and two workers vs one of each, same run.

    .venv/bin/python bench/bench_scaleout.py [--seconds 10] [--connections 8]

Each layout gets a fresh database. `stoker serve --no-worker` processes (one or two, different
ports, one data dir) and `stoker worker` processes (one or two). `wrk` submits one no-op run per
request for `--seconds`; with two APIs, two `wrk` processes (one per API, half the connections
each) run at once. Reported: submits/s (sum of the wrk runs), no-op runs finished/s (from the
first run queued to the last finished, read from the database), the CPU each process used over
that span (in cores), PostgreSQL's commits/s (pg_stat_database), and what its active backends wait
on (pg_stat_activity, sampled every 50 ms). Run on a machine of 2 cores
shared with the client, the database and other work: read it for what limits what.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import TOKEN, print_table, stoker_server, write_results
from bench_noop import drop_postgres, fresh_postgres, worker_process
from bench_submit import LUA_POST, ensure_wrk


def _pid_listening(port: int) -> int:
    """The pid of the process that serves on this local port (the bench starts it, as this user)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise RuntimeError(f"nothing listens on port {port}")


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            times = [proc.cpu_times(), *(c.cpu_times() for c in proc.children(recursive=True))]
            out[name] = sum(t.user + t.system for t in times)
        except psutil.NoSuchProcess:
            out[name] = 0.0
    return out


def _postgres_cpu() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def _commits(url: str, name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def _sample_waits(url: str, name: str, stop: threading.Event, into: Counter[str]) -> None:
    """What the database's active backends wait on, sampled every 50 ms: lock waits on the job row
    show up as Lock:tuple / Lock:transactionid (with the waiting statement), commits as IO:WALSync
    / LWLock:WALWrite, a backend on the CPU as "running"."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(0.05):
            for etype, event, query in conn.execute(
                    "SELECT wait_event_type, wait_event, left(query, 22) FROM pg_stat_activity "
                    "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()", (name,)):
                what = f"{etype}:{event}" if etype else "running"
                # A lock wait names its statement: which of claim, finish or submit waits.
                into[f"{what} ({' '.join(query.split())})" if etype == "Lock" else what] += 1
            into["(samples)"] += 1


def _finished(url: str) -> tuple[int, int, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE state = 'SUCCEEDED'), count(*), "
                           "coalesce(max(finished_at) - min(queued_at), 0) FROM runs").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


def layout(apis: int, workers: int, seconds: int, connections: int) -> dict[str, float]:
    wrk = ensure_wrk()
    pg_name, url = fresh_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="stoker-bench-scale-") as tmp, contextlib.ExitStack() as stack:
            data = Path(tmp) / "data"
            clients = [stack.enter_context(stoker_server(data, database_url=url, args=("--no-worker",)))
                       for _ in range(apis)]
            procs = [stack.enter_context(worker_process(data, url)) for _ in range(workers)]
            clients[0].post("/api/v1/jobs", json={"name": "nop", "steps": [["noop"]],
                                                  "max_concurrent_runs": 100000}).raise_for_status()
            time.sleep(2)  # the workers are up and waiting
            pids = {f"api{i + 1}": _pid_listening(c.base_url.port or 80) for i, c in enumerate(clients)}
            pids.update({f"worker{i + 1}": p.pid for i, p in enumerate(procs)})
            script = Path(tmp) / "post.lua"
            script.write_text(LUA_POST.format(body="{}", token=TOKEN))
            waits: Counter[str] = Counter()
            sampling = threading.Event()
            sampler = threading.Thread(target=_sample_waits, args=(url, pg_name, sampling, waits), daemon=True)
            sampler.start()
            cpu0, pg0, commits0, t0 = _cpu(pids), _postgres_cpu(), _commits(url, pg_name), time.monotonic()
            runs = [subprocess.Popen([wrk, "-t1", f"-c{connections // apis}", f"-d{seconds}s", "-s", str(script),
                                      f"{str(c.base_url).rstrip('/')}/api/v1/jobs/nop/runs"],
                                     stdout=subprocess.PIPE, text=True) for c in clients]
            outputs = [r.communicate()[0] for r in runs]
            sampling.set()
            sampler.join()
            deadline = time.monotonic() + 120
            while True:
                done, total, span = _finished(url)
                if done == total or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
            cpu1, pg1, commits1 = _cpu(pids), _postgres_cpu(), _commits(url, pg_name)
    finally:
        drop_postgres(pg_name)
    import re

    submits = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1)) for o in outputs)  # type: ignore[union-attr]
    result = {"submits_per_s": submits, "finished_per_s": done / span if span else 0.0, "runs": float(total),
              "finished": float(done), "pg_commits_per_s": (commits1 - commits0) / elapsed,
              "postgres_cores": (pg1 - pg0) / elapsed}
    result.update({f"{name}_cores": (cpu1[name] - cpu0[name]) / elapsed for name in pids})
    samples = max(waits.pop("(samples)", 0), 1)
    # Active backends per sample, by what they wait on (the five most frequent).
    result.update({f"wait {k}": v / samples for k, v in waits.most_common(6)})
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    results = {"1 API + 1 worker": layout(1, 1, args.seconds, args.connections),
               "2 APIs + 2 workers": layout(2, 2, args.seconds, args.connections)}
    rows = []
    for name, r in results.items():
        cores = ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in r.items()
                          if k.endswith("_cores") and k != "postgres_cores")
        rows.append([name, f"{r['submits_per_s']:.0f}", f"{r['finished_per_s']:.0f}",
                     f"{int(r['finished'])}/{int(r['runs'])}", f"{r['pg_commits_per_s']:.0f}",
                     f"{r['postgres_cores']:.2f}", cores])
    print_table(["layout", "submits/s", "finished/s", "runs done", "PG commits/s", "PG cores",
                 "cores per process"], rows)
    for name, r in results.items():
        print(f"{name}: active backends per sample, by wait: " + ", ".join(
            f"{k.removeprefix('wait ')} {v:.2f}" for k, v in r.items() if k.startswith("wait ")))
    write_results("scaleout-postgres", results)


if __name__ == "__main__":
    main()
