"""Ingest throughput of two source trees, side by side: a change against the code before it.

    .venv/bin/python bench/bench_ingest_ab.py --before /tmp/main/src --after src [--rounds 6] [--events 200000]

On a shared machine a single benchmark's throughput moves ±40% between identical runs, more than
the few percent a change costs. Here each round starts one real server per tree (payloads checked
in a helper process, as by default) and posts the same gzipped 1,000-TaskEnd payloads to each, the
order alternating between rounds, so both trees see the same load. Reported per tree: the median
events/s and server CPU seconds (helpers included) per 100,000 events, and after / before.
Prints the rounds and writes bench/results/ingest-ab-<time>.json.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

from _server import UvicornServer, process_cpu_seconds, write_results
from bench_events import payloads, post_bodies


def one_round(src: Path, bodies: list[bytes], events: int) -> dict:
    """A fresh server running the tree at `src`: events/s and CPU seconds per 100,000 events."""
    os.environ["PYTHONPATH"] = str(src)  # the server process imports stoker from this tree
    with tempfile.TemporaryDirectory(prefix="stoker-bench-ingest-ab-") as tmp:
        server = UvicornServer(Path(tmp) / "data").start()
        try:
            assert server.proc is not None
            proc = psutil.Process(server.proc.pid)
            before: list[float] = []
            elapsed = post_bodies(server.url, bodies, on_start=lambda: before.append(process_cpu_seconds(proc)))
            cpu = process_cpu_seconds(proc) - before[0]
        finally:
            server.stop()
    return {"events_per_s": events / elapsed, "cpu_s_per_100k": cpu / events * 100_000,
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="the src directory of the code before")
    parser.add_argument("--after", type=Path, required=True, help="the src directory of the change")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=200_000, help="events per server")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    bodies = [gzip.compress(p, 6) for p in payloads("ingest-ab", "run-ab", args.events, 1000, "taskend")]
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            measured = one_round(trees[name], bodies, args.events)
            rounds[name].append(measured)
            print(name, r, measured, flush=True)
    summary = {name: {key: statistics.median(m[key] for m in rows) for key in ("events_per_s", "cpu_s_per_100k")}
               for name, rows in rounds.items()}
    summary["throughput_ratio"] = summary["after"]["events_per_s"] / summary["before"]["events_per_s"]
    summary["cpu_ratio"] = summary["after"]["cpu_s_per_100k"] / summary["before"]["cpu_s_per_100k"]
    print(f"before: {summary['before']['events_per_s']:,.0f} events/s, "
          f"{summary['before']['cpu_s_per_100k']:.2f} CPU s / 100k events")
    print(f"after:  {summary['after']['events_per_s']:,.0f} events/s, "
          f"{summary['after']['cpu_s_per_100k']:.2f} CPU s / 100k events")
    print(f"after / before: throughput {summary['throughput_ratio']:.3f}, CPU {summary['cpu_ratio']:.3f}")
    print("results:", write_results("ingest-ab", {"trees": {k: str(v) for k, v in trees.items()},
                                                  "rounds": rounds, "summary": summary}))


if __name__ == "__main__":
    sys.exit(main())
