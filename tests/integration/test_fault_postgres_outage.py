"""PostgreSQL restarted under load (a private cluster made by the test with initdb/pg_ctl, never the
shared service): requests during the outage get 503 with Retry-After, the worker and the publisher
reconnect by themselves, and every run that got a 201 exists afterwards and ends exactly once."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time

import httpx
import psycopg
import pytest
from test_sinks_support import LiveServer

from conftest import IN_CI
from harness import free_port

pytestmark = pytest.mark.e2e


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class PrivatePostgres:
    def __init__(self, root: str) -> None:
        self.bin = _pg_bin()
        self.root = root
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        shutil.chown(self.root, "postgres")
        self._as_postgres(f"{self.bin}/initdb", "-D", f"{self.root}/pg", "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", f"{self.root}/pg", "-w", "-l", f"{self.root}/log",
                          "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", f"{self.root}/pg", "-w", "-m", mode, "stop")


@pytest.fixture
def private_postgres():
    if _pg_bin() is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        if IN_CI:
            pytest.fail("PostgreSQL's server binaries and root are needed for the outage test")
        pytest.skip("no PostgreSQL server binaries or not root")
    # Outside pytest's tmp dir, which only root may enter: PostgreSQL runs as `postgres`.
    root = tempfile.mkdtemp(prefix="stoker-pg-")
    pg = PrivatePostgres(root)
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(root, ignore_errors=True)


def test_requests_during_an_outage_get_503_and_every_acknowledged_run_ends_once(private_postgres, tmp_path):
    server = LiveServer(tmp_path / "data", database_url=private_postgres.url)
    acknowledged: list[str] = []
    statuses: list[int] = []
    retry_after: set[str] = set()
    stop = threading.Event()

    def submit_loop() -> None:
        with server.client(timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/api/v1/runs", json={"steps": [["noop"]]})
                except httpx.HTTPError:
                    statuses.append(-1)
                    continue
                statuses.append(response.status_code)
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                elif response.status_code == 503:
                    retry_after.add(response.headers.get("Retry-After", ""))
                time.sleep(0.01)

    submitter = threading.Thread(target=submit_loop)
    try:
        submitter.start()
        time.sleep(1.0)
        before = len(acknowledged)
        private_postgres.stop("fast")
        time.sleep(2.0)
        health = httpx.get(server.url + "/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "database unreachable"
        private_postgres.start()
        time.sleep(2.0)
        stop.set()
        submitter.join(30)
        assert before > 0 and len(acknowledged) > before, "submits did not resume after the outage"
        assert 503 in statuses, f"no 503 during the outage: {sorted(set(statuses))}"
        assert 500 not in statuses, "a server error during the outage"
        assert retry_after == {"2"}
        # The worker reconnects and finishes every acknowledged run, exactly once.
        deadline = time.monotonic() + 60
        with psycopg.connect(private_postgres.url) as conn:
            while True:
                states = dict(conn.execute("SELECT state, count(*) FROM runs WHERE id = ANY(%s) GROUP BY state",
                                           (acknowledged,)).fetchall())
                if states.get("SUCCEEDED", 0) == len(acknowledged) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert states == {"SUCCEEDED": len(acknowledged)}, states
            doubled = conn.execute("SELECT count(*) FROM attempts WHERE run_id = ANY(%s) AND outcome = 'succeeded' "
                                   "GROUP BY run_id HAVING count(*) > 1", (acknowledged,)).fetchall()
            assert doubled == []
    finally:
        stop.set()
        submitter.join(30)
        server.close()
