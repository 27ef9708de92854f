"""`stoker serve` on PostgreSQL runs its worker as a child process, not as a thread.

Why: in one process, the worker's claim (a handful of database round trips) and the API's request
threads share one GIL; each round trip gives the GIL up and may wait up to the 5 ms switch interval
to get it back while a request holds it, which is what set the enqueue → start latency (p99 35 ms)
and halved no-op throughput. A child process has its own GIL, is woken by LISTEN/NOTIFY like any
other worker, and runs the same `stoker worker` code. On SQLite the worker stays a thread: one
process keeps SQLite's writers serialised by a lock instead of SQLite's sleeping busy handler.

The child is supervised: restarted if it dies, stopped (SIGTERM: a graceful stop) with the server,
and it stops by itself if the server is killed (it watches its parent; see parent_watch.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0


class WorkerChild:
    def __init__(self, data_dir: Path, *, api_url: str, concurrency: int | None = None,
                 stop_timeout: float = 60.0, docker_host: str | None = None) -> None:
        self.args = [sys.executable, "-m", "stoker.cli", "worker", "--data-dir", str(data_dir),
                     "--parent-pid", str(os.getpid())]
        if concurrency is not None:
            self.args += ["--concurrency", str(concurrency)]
        # A protocol between the two processes, not user configuration: the child reads these back
        # through its own Settings (config.py). Spark apps report events to this server.
        self.env = {**os.environ, "STOKER_URL": api_url}
        if docker_host is not None:  # the server's container runtime (its private Podman service)
            self.env["STOKER_DOCKER_HOST"] = docker_host
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="stoker-worker-child", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # the worker finishes or reports its attempts, then exits
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("the worker process did not stop within %.0f s; killing it", self.stop_timeout)
            proc.kill()
            proc.wait()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            # Output goes where the server's goes: one log for `stoker serve`.
            self.proc = subprocess.Popen(self.args, env=self.env)
            self.starts += 1

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.error("the worker process exited with code %s; restarting it in %.0f s",
                      code, RESTART_PAUSE_SECONDS)
            if self._stopping.wait(RESTART_PAUSE_SECONDS):
                return
            self._spawn()
