"""Oversized bodies: 100 clients each start sending a 1 GB body at once; the server's memory must
stay flat (413 before a body is read whole). Half declare their length (refused before a byte is
read), half stream chunked (refused once past the limit):

    .venv/bin/python bench/bench_bodies.py [--clients 100] [--gigabytes 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import TOKEN, print_table, stoker_server, write_results

CHUNK = b" " * (1 << 20)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_pid(port: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "stoker.cli serve" in cmd and f"--port {port}" in cmd:
                return int(entry.name)
    raise RuntimeError("server process not found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.gigabytes * (1 << 30))
    statuses: list[int] = []
    sent: list[int] = []
    with tempfile.TemporaryDirectory(prefix="stoker-bodies-") as tmp, \
            stoker_server(Path(tmp) / "data", args=("--no-worker",)) as client:
        url = str(client.base_url).rstrip("/") + "/api/v1/runs"
        pid = server_pid(int(url.split(":")[2].split("/")[0]))
        before = rss_mb(pid)
        peak = before
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mb(pid))
                time.sleep(0.05)

        def send(declared: bool) -> None:
            count = 0

            def body():  # type: ignore[no-untyped-def]
                nonlocal count
                while count < size:
                    count += len(CHUNK)
                    yield CHUNK

            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            if declared:
                headers["Content-Length"] = str(size)
            try:
                response = httpx.post(url, content=body(), headers=headers, timeout=120)
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(413)  # the server answered and closed while we were still sending
            sent.append(count)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.monotonic()
        threads = [threading.Thread(target=send, args=(i % 2 == 0,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        stop.set()
        watcher.join()
        after = rss_mb(pid)
    row = {"clients": args.clients, "body_gb": args.gigabytes, "seconds": round(took, 1),
           "rss_before_mb": round(before), "rss_peak_mb": round(peak), "rss_after_mb": round(after),
           "client_mb_sent_max": round(max(sent) / (1 << 20)), "all_413": all(s == 413 for s in statuses)}
    print_table(list(row), [list(row.values())])
    write_results("bodies", row)


if __name__ == "__main__":
    main()
