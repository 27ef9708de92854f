"""Schedules: how fast and how cheap (issue 27, docs/schedules.md).

Against a real `stoker serve --no-worker` (the scheduler runs in every API process; runs only need
to be queued here):
1. burst: N jobs (default 1,000) whose one tick is the same second; how long from that second until
   every tick's run is queued (the last fired_at), and the fire delay per tick (p50, p99, max);
2. idle fire delay: 20 jobs ticking every second for 30 s on an otherwise idle server (p50, p99);
3. idle cost: the server's CPU seconds per hour with N schedules whose next tick is far away, against
   the same server with none (the peer, same run): what the one loop costs when nothing is due.

    .venv/bin/python bench/bench_schedules.py [--jobs 1000] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil

from _server import TOKEN, Server, percentile, print_table, process_cpu_seconds, write_results


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _make_jobs(client: httpx.Client, prefix: str, count: int, schedule: dict) -> list[str]:
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    for name in names:
        response = client.post("/api/v1/jobs", json={"name": name, "steps": [["noop"]], "schedule": schedule})
        response.raise_for_status()
    return names


def _queued_ticks(client: httpx.Client, name: str) -> list[dict]:
    ticks = client.get(f"/api/v1/jobs/{name}/ticks", params={"limit": 200}).json()["ticks"]
    return [t for t in ticks if t["outcome"] == "queued"]


def _fired(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("stoker_schedule_fire_delay_seconds_count"):
            return float(line.split()[-1])
    return 0.0


def burst(client: httpx.Client, count: int) -> dict:
    target = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=max(20, count // 40))
    cron = f"{target.second} {target.minute} {target.hour} {target.day} {target.month} *"
    names = _make_jobs(client, "burst", count, {"cron": cron, "overlap": "queue"})
    made = datetime.now(UTC)
    if made >= target:
        raise SystemExit(f"making {count} jobs took past their tick ({made} ≥ {target}): raise the lead time")
    time.sleep(max(0.0, (target - datetime.now(UTC)).total_seconds()))
    # Wait on one cheap read (the fire-delay histogram's count), not a thousand: polling each job's
    # ticks while they fire would compete with the firing for the server's CPU.
    deadline = time.monotonic() + 120
    while _fired(client) < count and time.monotonic() < deadline:
        time.sleep(0.25)
    delays: list[float] = []
    for name in names:
        ticks = _queued_ticks(client, name)
        if ticks:
            delays.append(_at(ticks[0]["fired_at"]) - _at(ticks[0]["tick"]))
    return {"jobs": count, "queued": len(delays), "all_queued_within_s": round(max(delays), 3) if delays else None,
            "delay_p50_s": round(percentile(delays, 50), 3), "delay_p99_s": round(percentile(delays, 99), 3)}


def idle_delay(client: httpx.Client, seconds: float = 30.0) -> dict:
    names = _make_jobs(client, "ticker", 20, {"cron": "* * * * * *", "overlap": "queue"})
    time.sleep(seconds)
    for name in names:
        client.post(f"/api/v1/jobs/{name}/schedule/pause")
    delays = [_at(t["fired_at"]) - _at(t["tick"]) for name in names for t in _queued_ticks(client, name)]
    return {"ticks": len(delays), "delay_p50_s": round(percentile(delays, 50), 4),
            "delay_p99_s": round(percentile(delays, 99), 4), "delay_max_s": round(max(delays), 4)}


def idle_cost(database_url: str | None, count: int, seconds: float = 60.0) -> dict:
    """CPU seconds per hour of an idle server with `count` far-off schedules, and with none."""
    out = {}
    for label, schedules in (("none", 0), (f"{count} schedules", count)):
        with tempfile.TemporaryDirectory() as tmp:
            url = _fresh(database_url)
            server = Server(Path(tmp) / "data", url, worker=False, fast_leases=False, start_timeout=120)
            server.start()
            try:
                with server.client(timeout=60) as client:
                    _make_jobs(client, "idle", schedules, {"cron": "0 0 1 1 *"})
                time.sleep(5)  # settle after the jobs' creation
                proc = psutil.Process(server.proc.pid)
                before = process_cpu_seconds(proc)
                time.sleep(seconds)
                out[label] = round((process_cpu_seconds(proc) - before) * 3600 / seconds, 1)
            finally:
                server.stop()
    return {"cpu_seconds_per_hour": out}


def _fresh(database_url: str | None) -> str | None:
    if database_url is None:
        return None
    import uuid

    import sqlalchemy as sa

    name = f"bench_sched_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return database_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite in a temporary dir)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    results: dict = {"database": "postgresql" if args.database_url else "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data", _fresh(args.database_url), worker=False, fast_leases=False,
                                start_timeout=120)
        server.start()
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=120) as client:
                results["burst"] = burst(client, args.jobs)
                results["idle_delay"] = idle_delay(client)
        finally:
            server.stop()
    results["idle_cost"] = idle_cost(args.database_url, args.jobs, args.idle_seconds)
    print_table(["measure", "value"], [
        [f"{args.jobs} jobs due the same second: all queued within (s)", results["burst"]["all_queued_within_s"]],
        ["  fire delay p50 / p99 (s)", f"{results['burst']['delay_p50_s']} / {results['burst']['delay_p99_s']}"],
        ["idle server, 20 jobs every second: fire delay p50 / p99 (s)",
         f"{results['idle_delay']['delay_p50_s']} / {results['idle_delay']['delay_p99_s']}"],
        *[[f"idle CPU s/hour, {label}", value]
          for label, value in results["idle_cost"]["cpu_seconds_per_hour"].items()],
    ])
    print("written to", write_results(f"schedules-{results['database']}", results))


if __name__ == "__main__":
    main()
