"""Fair share between teams when the workers are the bottleneck (docs/teams.md).

    .venv/bin/python bench/bench_teams.py [--runs 3000]

Team red submits N runs, then team blue submits N runs; then one embedded worker starts and claims
and finishes them (no-op runs, a batch per claim), so the worker is the bottleneck. Measured:
of the first N runs to finish, the share that is blue's (fair: about half), and the throughput.
The peer, in the same run, is the same workload submitted by one team (the queue's FIFO, no one
to share with): there blue's share of the first N is about nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _server import print_table, write_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services
from stoker.app import Background, create_app

STEPS = [["noop"]]  # no Spark: the instant lane, claimed and finished in batches by the one worker


def measure(runs: int, *, two_teams: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        services = make_services(Path(data), worker_concurrency=1)
        services.teams.create("red")
        services.teams.create("blue")
        red = services.tokens.create("red", ["read", "submit"], user="red-bench", team="red", role="editor")
        blue = services.tokens.create("blue", ["read", "submit"], user="blue-bench",
                                      team="blue" if two_teams else "red", role="editor")
        app = create_app(services)  # the worker starts once both teams' runs are queued
        with TestClient(app) as client:
            for token in (red, blue):
                headers = {"Authorization": f"Bearer {token}"}
                client.post("/api/v1/jobs", json={"name": "work", "steps": STEPS, "max_concurrent_runs": 100000},
                            headers=headers)
            batches = []
            for token in (red, blue):
                response = client.post("/api/v1/batches", json={"job": "work", "count": runs},
                                       headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
                batches.append((token, response.json()["batch_id"]))
            blue_batch = batches[1][1]
            worker = Background(services, embedded_worker=True, cluster_duties=False, schedules=False)
            started = time.perf_counter()
            worker.start()
            for token, batch_id in batches:
                while not client.get(f"/api/v1/batches/{batch_id}",
                                     headers={"Authorization": f"Bearer {token}"}).json()["done"]:
                    time.sleep(0.05)
            elapsed = time.perf_counter() - started
            worker.stop()
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            finished = []
            cursor = None
            while True:
                page = client.get("/api/v1/runs", params={"limit": 500, **({"cursor": cursor} if cursor else {})},
                                  headers=admin).json()
                finished += [(r["finished_at"], r["batch_id"] == blue_batch) for r in page["runs"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
        services.close()
    return {"blue_share_of_first_half": blue_share(finished, runs), "runs_per_second": 2 * runs / elapsed}


def blue_share(finished: list[tuple[str, bool]], first: int) -> float:
    """Blue's share of the first `first` runs to finish. Runs finished in one transaction share a
    time: the group that straddles the cut counts in proportion to its own blue share."""
    by_time: dict[str, list[bool]] = {}
    for at, is_blue in finished:
        by_time.setdefault(at, []).append(is_blue)
    blue, taken = 0.0, 0
    for at in sorted(by_time):
        group = by_time[at]
        room = first - taken
        if room <= 0:
            break
        share = min(room, len(group))
        blue += share * sum(group) / len(group)
        taken += share
    return blue / first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    fair = measure(args.runs, two_teams=True)
    fifo = measure(args.runs, two_teams=False)
    print_table(["setup", "blue's share of the first half", "runs/s"], [
        ["two teams (fair share)", f"{fair['blue_share_of_first_half']:.2f}", f"{fair['runs_per_second']:.0f}"],
        ["one team (FIFO peer)", f"{fifo['blue_share_of_first_half']:.2f}", f"{fifo['runs_per_second']:.0f}"],
    ])
    print(f"throughput ratio fair/FIFO: {fair['runs_per_second'] / fifo['runs_per_second']:.2f}")
    write_results("teams", {"runs": args.runs, "fair": fair, "fifo": fifo})


if __name__ == "__main__":
    main()
