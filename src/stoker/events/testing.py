"""Helpers for tests and benchmarks: payload builders, an app factory for `uvicorn --factory`, and
the processes the e2e tests and benchmarks drive (a Stoker API server, Spark's History Server).

`uvicorn --factory stoker.events.testing:app_from_env` serves the API without the embedded worker,
configured only from the environment (STOKER_DATA_DIR, STOKER_ADMIN_TOKEN, STOKER_DATABASE_URL),
so a test can SIGKILL it and start it again on the same data.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

TOKEN = "stk_e2e_events_token"


def payload_dict(job_name: str, run_id: str, events: Sequence[tuple[int, bytes | str]], *,
                 payload_counter: int, message_counter: int | None = None,
                 heartbeats: int = 0, sent_at: int | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"message_type": "spark-event", "generated_at": t,
         "content": content.decode() if isinstance(content, bytes) else content}
        for t, content in events
    ]
    last = max((t for t, _ in events), default=0)
    messages += [{"message_type": "heartbeat", "generated_at": last} for _ in range(heartbeats)]
    return {"job_name": job_name, "run_id": run_id, "sent_at": sent_at if sent_at is not None else last,
            "counters": {"message_counter": message_counter if message_counter is not None
                         else payload_counter * 1000 + len(messages),
                         "payload_counter": payload_counter},
            "messages": messages}


def payload_bytes(*args: Any, compress: bool = True, **kwargs: Any) -> bytes:
    body = orjson.dumps(payload_dict(*args, **kwargs))
    return gzip.compress(body, 6) if compress else body


def app_from_env():  # type: ignore[no-untyped-def]
    from stoker.app import create_app
    from stoker.config import Settings
    from stoker.events.memory import keep_freed_memory
    from stoker.services import bootstrap_admin_token, build_services

    keep_freed_memory()  # as `stoker serve` does
    services = build_services(Settings.from_env())
    bootstrap_admin_token(services)
    return create_app(services)



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not come up within {timeout} s")
        time.sleep(0.2)


def kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL: no clean-up of any kind, as when a machine dies."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM, and SIGKILL if it is still there after `timeout` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_process(proc)


class StokerServer:
    """`uvicorn --factory stoker.events.testing:app_from_env` on a data dir, killable and restartable."""

    def __init__(self, data_dir: Path, port: int | None = None, *, workers: int = 1,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.extra_env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StokerServer:
        env = {**os.environ, "STOKER_DATA_DIR": str(self.data_dir), "STOKER_ADMIN_TOKEN": TOKEN,
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **self.extra_env}
        with open(self.data_dir.parent / f"uvicorn-{self.port}.log", "ab") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "stoker.events.testing:app_from_env",
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                 "--workers", str(self.workers)],
                env=env, stdout=log, stderr=log)
        wait_http(self.url + "/healthz", 30)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        kill_process(self.proc)

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class HistoryServer:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HistoryServer:
        home = spark_home()
        opts = (f"-Dspark.history.fs.logDirectory=file:{self.log_dir} "
                f"-Dspark.history.ui.port={self.port} -Dspark.history.fs.update.interval=1s "
                "-Dspark.ui.enabled=true")
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_PUBLIC_DNS": "127.0.0.1", "SPARK_HISTORY_OPTS": opts, "SPARK_NO_DAEMONIZE": "1"}
        with open(self.log_dir.parent / "history-server.log", "ab") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [str(home / "bin" / "spark-class"), "org.apache.spark.deploy.history.HistoryServer"],
                env=env, stdout=log, stderr=log, start_new_session=True)
        wait_http(self.url + "/api/v1/applications", 60)
        return self

    def application(self, app_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = httpx.get(f"{self.url}/api/v1/applications/{app_id}", timeout=10)
            if response.status_code == 200:
                found: dict[str, Any] = response.json()
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"History Server never listed {app_id}: {response.status_code}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
