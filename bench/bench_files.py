"""Upload and download of one large file through the files API, with the server's memory watched.

    .venv/bin/python bench/bench_files.py [--size-mb 1024] [--repeat 3] [--dir /tmp]

A real server (`uvicorn --factory harness:app_from_env`, the API without a worker) on a data dir
under --dir. Each round moves the file up and down twice: with curl (a C client, so what is
measured is the server: a Python client on the same two cores takes as much CPU as the server),
then with the CLI's own client (`stoker.client.StokerClient.put_file`, what
`stoker files put` runs; downloads are counted, not written, so the client's disk is not what is
measured; the first round also fetches the file with `get_file`, as `stoker files get` does, and
checks both copies' SHA-256), in this process. The file is made under --dir and deleted afterwards.
The server's resident memory (RSS, its whole process tree) is sampled every 20 ms during each
transfer; "RSS growth" is the peak minus the RSS before the first transfer. The peer, measured in
the same run on the same disk: a local copy of the same file (read, write, fsync), which is what an
upload must do at least, without HTTP. Target (issue 31): ≥ 200 MB/s both ways, the server's
memory bounded (not growing with the file).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from _server import TOKEN, UvicornServer, print_table, write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MB = 1024 * 1024


class RssWatch:
    """Peak RSS of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> RssWatch:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size: int) -> str:
    """`size` bytes of incompressible data (a random 16 MiB block, repeated), and its SHA-256."""
    block = os.urandom(16 * MB)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            part = block[: min(left, len(block))]
            out.write(part)
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def download(client, remote: str) -> int:  # type: ignore[no-untyped-def]
    """GET the file and count its bytes (the client's disk is not what is measured)."""
    got = 0
    with client.http.stream("GET", f"/api/v1/files/{remote}") as response:
        response.raise_for_status()
        for chunk in response.iter_raw(MB):
            got += len(chunk)
    return got


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def local_copy(source: Path, target: Path) -> float:
    started = time.perf_counter()
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 4 * MB)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp", help="where the data dir and the test file are made")
    parser.add_argument("--checksum", action="store_true", help="uploads send their SHA-256 (checked by the server)")
    args = parser.parse_args()

    from stoker.client import StokerClient

    size = args.size_mb * MB
    work = Path(tempfile.mkdtemp(prefix="bench-files-", dir=args.dir))
    server = UvicornServer(work / "data", env={"STOKER_ADMIN_TOKEN": TOKEN,
                                               "STOKER_FILES_MAX_BYTES": str(size + MB)})
    try:
        source = work / "source.bin"
        print(f"making {args.size_mb} MiB under {work} …", flush=True)
        expected = make_file(source, size)
        server.start()
        assert server.proc is not None
        client = StokerClient(server.url, TOKEN, timeout=120)
        watch_pid = server.proc.pid
        baseline = RssWatch(watch_pid).rss()
        curl = shutil.which("curl")
        times: dict[str, list[float]] = {k: [] for k in ("curl_up", "curl_down", "client_up", "client_down", "copy")}
        peaks: list[int] = []
        auth = ["-H", f"Authorization: Bearer {TOKEN}"]
        for i in range(args.repeat):
            times["copy"].append(local_copy(source, work / "copy.bin"))
            with RssWatch(watch_pid) as watch:
                if curl:  # a C client: what is measured is the server
                    times["curl_up"].append(timed([curl, "-sf", "-o", "/dev/null", "-T", str(source), *auth,
                                                   f"{server.url}/api/v1/files/bench/big.bin?overwrite=true"]))
                    times["curl_down"].append(timed([curl, "-sf", "-o", "/dev/null", *auth,
                                                     f"{server.url}/api/v1/files/bench/big.bin"]))
                started = time.perf_counter()
                client.put_file(source, "bench/big.bin", overwrite=True, checksum=args.checksum)
                times["client_up"].append(time.perf_counter() - started)
                started = time.perf_counter()
                assert download(client, "bench/big.bin") == size
                times["client_down"].append(time.perf_counter() - started)
            peaks.append(watch.peak)
            stored = work / "data" / "files" / "bench" / "big.bin"
            assert stored.stat().st_size == size
            if i == 0:  # every byte, both ways, through the CLI's own download (outside the timed part)
                client.get_file("bench/big.bin", work / "down.bin")
                assert sha256_of(stored) == expected and sha256_of(work / "down.bin") == expected
                (work / "down.bin").unlink()
            print(f"  round {i + 1}: " + ", ".join(f"{k} {size / MB / v[-1]:.0f} MB/s" for k, v in times.items() if v)
                  + f", server peak RSS {max(peaks) / MB:.0f} MiB", flush=True)
        client.http.close()
        mbps = lambda seconds: size / MB / seconds  # noqa: E731
        labels = {"curl_up": "upload, curl as the client (PUT, atomic, fsync)",
                  "curl_down": "download, curl as the client",
                  "client_up": "upload, the CLI's client (httpx)", "client_down": "download, the CLI's client (httpx)",
                  "copy": "peer: local copy + fsync (no HTTP)"}
        rows = [[labels[k], f"{mbps(statistics.median(v)):.0f}", f"{mbps(max(v)):.0f}"] for k, v in times.items() if v]
        print(f"\n{args.size_mb} MiB, {args.repeat} rounds{' (with SHA-256)' if args.checksum else ''}:")
        print_table(["transfer", "MB/s median", "MB/s worst"], rows)
        growth = max(peaks) - baseline
        print(f"server RSS: {baseline / MB:.0f} MiB before, peak {max(peaks) / MB:.0f} MiB "
              f"(growth {growth / MB:.0f} MiB for a {args.size_mb} MiB file)")
        write_results("files", {
            "size_mb": args.size_mb, "repeat": args.repeat, "checksum": args.checksum,
            **{f"{k}_mb_s": [round(mbps(t)) for t in v] for k, v in times.items()},
            "server_rss_before_mib": round(baseline / MB), "server_rss_peak_mib": round(max(peaks) / MB),
        })
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
