"""Real `stoker serve` / `stoker worker` processes for end-to-end tests: started through the CLI,
killable with SIGKILL, restartable on the same data dir and database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from stoker.events.testing import free_port, kill_process, stop_process

TOKEN = "stk_e2e_admin_token"
FAST_LEASES = {"STOKER_LEASE_SECONDS": "3", "STOKER_HEARTBEAT_SECONDS": "0.5",
               "STOKER_REAP_INTERVAL_SECONDS": "0.3"}


class StokerProcess:
    def __init__(self, args: list[str], data_dir: Path, database_url: str | None, log_name: str) -> None:
        self.args = args
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_path = data_dir.parent / f"{log_name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, **FAST_LEASES, "STOKER_ADMIN_TOKEN": TOKEN, "SPARK_LOCAL_IP": "127.0.0.1"}
        env.pop("STOKER_DATABASE_URL", None)
        if self.database_url:
            env["STOKER_DATABASE_URL"] = self.database_url
        return env

    def start(self) -> StokerProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "stoker.cli", *self.args,
                                          "--data-dir", str(self.data_dir)],
                                         env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        kill_process(self.proc)

    def stop(self) -> None:
        stop_process(self.proc)


class Server(StokerProcess):
    def __init__(self, data_dir: Path, database_url: str | None = None, *, worker: bool = True) -> None:
        self.port = free_port()
        args = ["serve", "--port", str(self.port)] + ([] if worker else ["--no-worker"])
        super().__init__(args, data_dir, database_url, f"server-{self.port}")
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        super().start()
        self.wait_up()
        return self

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"server did not start: {self.log_path}"
            time.sleep(0.1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


class Worker(StokerProcess):
    def __init__(self, data_dir: Path, database_url: str | None = None, name: str | None = None) -> None:
        name = name or f"w-{uuid.uuid4().hex[:6]}"
        super().__init__(["worker", "--worker-id", name], data_dir, database_url, f"worker-{name}")


def wait_terminal(client: httpx.Client, run_ids: list[str], timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    pending = set(run_ids)
    done: dict[str, dict] = {}
    while pending:
        for run_id in list(pending):
            run = client.get(f"/api/v1/runs/{run_id}").json()
            if run["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
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


def wait_for(check, timeout: float = 30, what: str = "condition"):
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
