"""The one process harness of the tests and the benchmarks (outside the installed package): real
Stoker processes that can be SIGKILLed and started again on the same data dir and database, Spark's
History Server, and the waits and event payloads they need.

- `Server` / `Worker`: `stoker serve` / `stoker worker` started through the CLI, as a user would;
- `UvicornServer`: `uvicorn --factory harness:app_from_env`, the API without the embedded worker
  configured only from the environment, for several uvicorn workers or an ingest-only server;
- `stoker_server(...)`: a `Server` as a context manager yielding a client (the benchmarks' way).

Tests import it as `harness` (tests/ is on pytest's path); benchmarks put tests/ on sys.path
(bench/_server.py).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

HERE = Path(__file__).resolve().parent
TOKEN = "stk_test_admin_token"
# Leases short enough that a killed worker's runs come back within seconds (tests only).
FAST_LEASES = {"STOKER_LEASE_SECONDS": "3", "STOKER_HEARTBEAT_SECONDS": "0.5",
               "STOKER_REAP_INTERVAL_SECONDS": "0.3"}
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


# --- ports, waits, signals ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float, headers: dict[str, str] | None = None,
              proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None) -> None:
    """Until `url` answers below 500; fails at once when `proc` has died (with its log's tail)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise AssertionError(f"the process behind {url} exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not come up within {timeout} s (log: {log_path})")
        time.sleep(0.1)


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


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def kill_every_node(data_dir: Path) -> None:
    """Teardown's safety net for tests that launch clusters: any JVM still running from this test's
    data dir (its working directory or its class path is there)."""
    import psutil

    from stoker.clusters import processes

    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        where = " ".join([proc.info["cwd"] or "", *(proc.info["cmdline"] or [])])
        if str(data_dir) in where:
            processes.stop_group(proc.info["pid"], None, grace=2)


def wait_terminal(client: httpx.Client, run_ids: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    pending = set(run_ids)
    done: dict[str, dict[str, Any]] = {}
    while pending:
        for run_id in list(pending):
            run = client.get(f"/api/v1/runs/{run_id}").json()
            if run["state"] in TERMINAL:
                done[run_id] = run
                pending.discard(run_id)
        assert time.monotonic() < deadline, f"{len(pending)} run(s) never finished"
        time.sleep(0.1)
    return [done[r] for r in run_ids]


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


# --- Stoker processes -----------------------------------------------------------------------------

class StokerProcess:
    """A Stoker process on a data dir (and a database when `database_url`), its output in
    `<data_dir's parent>/<log_name>.log`. `env` adds to (and overrides) the inherited environment;
    `fast_leases` makes a killed worker's runs come back within seconds."""

    def __init__(self, args: list[str], data_dir: Path, database_url: str | None = None, *,
                 log_name: str, env: dict[str, str] | None = None, fast_leases: bool = True) -> None:
        self.args = args
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_env = env or {}
        self.fast_leases = fast_leases
        self.log_path = data_dir.parent / f"{log_name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, **(FAST_LEASES if self.fast_leases else {}), "STOKER_ADMIN_TOKEN": TOKEN,
               "SPARK_LOCAL_IP": "127.0.0.1"}
        env.pop("STOKER_DATABASE_URL", None)
        if self.database_url:
            env["STOKER_DATABASE_URL"] = self.database_url
        return {**env, **self.extra_env}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "stoker.cli", *self.args, "--data-dir", str(self.data_dir)]

    def start(self) -> StokerProcess:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        kill_process(self.proc)

    def stop(self, timeout: float = 20) -> None:
        stop_process(self.proc, timeout)


class Server(StokerProcess):
    """`stoker serve` (with its worker child unless `worker=False`) on a free port."""

    def __init__(self, data_dir: Path, database_url: str | None = None, *, worker: bool = True,
                 args: Sequence[str] = (), env: dict[str, str] | None = None, fast_leases: bool = True,
                 start_timeout: float = 60) -> None:
        self.port = free_port()
        super().__init__(["serve", "--port", str(self.port), *([] if worker else ["--no-worker"]), *args],
                         data_dir, database_url, log_name=f"server-{self.port}", env=env,
                         fast_leases=fast_leases)
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout

    def start(self) -> Server:
        super().start()
        self.wait_up(self.start_timeout)
        return self

    def wait_up(self, timeout: float = 60) -> None:
        wait_http(self.url + "/healthz", timeout, proc=self.proc, log_path=self.log_path)

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


class Worker(StokerProcess):
    """`stoker worker` on the same data dir and database as a server."""

    def __init__(self, data_dir: Path, database_url: str | None = None, name: str | None = None) -> None:
        name = name or f"w-{uuid.uuid4().hex[:6]}"
        super().__init__(["worker", "--worker-id", name], data_dir, database_url, log_name=f"worker-{name}")


def app_from_env():  # type: ignore[no-untyped-def]
    """The factory `UvicornServer` runs: the API without the embedded worker, configured only from
    the environment (STOKER_DATA_DIR, STOKER_ADMIN_TOKEN, STOKER_DATABASE_URL)."""
    from stoker.app import create_app
    from stoker.app.wiring import bootstrap_admin_token, build_services
    from stoker.config import Settings
    from stoker.events.memory import keep_freed_memory

    keep_freed_memory(Settings.from_env().malloc_tuning)  # as `stoker serve` does
    services = build_services(Settings.from_env())
    bootstrap_admin_token(services)
    return create_app(services)


class UvicornServer(StokerProcess):
    """`uvicorn --factory harness:app_from_env` on a data dir, with `workers` uvicorn processes."""

    def __init__(self, data_dir: Path, port: int | None = None, *, workers: int = 1,
                 env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.workers = workers
        # PYTHONPATH: where this module is, so the child finds `harness:app_from_env`.
        path = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
        super().__init__([], data_dir, log_name=f"uvicorn-{self.port}",
                         env={"STOKER_DATA_DIR": str(data_dir), "PYTHONPATH": path, **(env or {})},
                         fast_leases=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--factory", "harness:app_from_env", "--host", "127.0.0.1",
                "--port", str(self.port), "--log-level", "warning", "--workers", str(self.workers)]

    def start(self) -> UvicornServer:
        super().start()
        wait_http(self.url + "/healthz", 30, proc=self.proc, log_path=self.log_path)
        return self


@contextlib.contextmanager
def stoker_server(data_dir: Path, *, database_url: str | None = None, extra_env: dict[str, str] | None = None,
                  args: tuple[str, ...] = ()) -> Iterator[httpx.Client]:
    """A `stoker serve` for a benchmark, with production leases, as a client; stopped at the end."""
    server = Server(data_dir, database_url, args=args, env=extra_env, fast_leases=False, start_timeout=120)
    server.start()
    try:
        with server.client(timeout=120) as client:
            yield client
    finally:
        server.stop(timeout=30)


# --- Spark's History Server -----------------------------------------------------------------------

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


# --- event payloads (what the Spark listener posts) -----------------------------------------------

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
