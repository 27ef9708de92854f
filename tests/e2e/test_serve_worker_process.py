"""The server's child processes: on PostgreSQL its worker (worker/child.py), and the helpers that
check Spark event payloads (events/checking.py). None outlives a server killed with SIGKILL."""

from __future__ import annotations

import os
import signal

import pytest

from harness import Server, children_of, wait_for, wait_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _workers(server: Server) -> list[int]:
    assert server.proc is not None
    return [pid for pid, cmd in children_of(server.proc.pid) if "stoker.cli worker" in cmd]


def _run_noop(client) -> dict:
    run = client.post("/api/v1/runs", json={"steps": [["noop"]]}).json()
    return wait_terminal(client, [run["id"]], timeout=60)[0]


def test_the_worker_is_a_child_process_restarted_when_it_dies_and_gone_with_the_server(
        tmp_path, fresh_postgres_url):
    server = Server(tmp_path / "data", fresh_postgres_url, worker=True).start()
    try:
        first = wait_for(lambda: _workers(server), what="the worker child")
        assert len(first) == 1
        with server.client() as client:
            assert _run_noop(client)["state"] == "SUCCEEDED"

            os.kill(first[0], signal.SIGKILL)  # the supervisor starts another
            second = wait_for(lambda: [p for p in _workers(server) if p != first[0]],
                              what="a restarted worker")
            assert len(second) == 1
            assert _run_noop(client)["state"] == "SUCCEEDED"

        server.kill()  # SIGKILL: no chance to stop its child; the child notices and stops itself
        wait_for(lambda: not os.path.exists(f"/proc/{second[0]}") or _is_zombie(second[0]),
                 timeout=30, what="the orphaned worker to exit")
    finally:
        server.stop()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return True
    return text[text.rindex(")") + 2] == "Z"


def test_sqlite_keeps_the_worker_in_the_server_process(tmp_path):
    server = Server(tmp_path / "data", None, worker=True).start()
    try:
        with server.client() as client:
            assert _run_noop(client)["state"] == "SUCCEEDED"
        assert _workers(server) == []
    finally:
        server.stop()


def test_payload_checking_helpers_exit_when_the_server_is_killed(tmp_path):
    from harness import UvicornServer, payload_bytes

    data = tmp_path / "data"
    data.mkdir()
    server = UvicornServer(data, env={"STOKER_INGEST_PROCESSES": "1"}).start()
    try:
        assert server.proc is not None
        helpers = wait_for(lambda: [pid for pid, cmd in children_of(server.proc.pid)
                                    if "multiprocessing" in cmd], what="the helper processes")
        import httpx

        from harness import TOKEN

        stored = httpx.post(server.url + "/collect", content=payload_bytes("j", "r", [(1, b"{}")],
                                                                           payload_counter=1),
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert stored.json() == {"status": "stored", "events": 1}
        server.kill()
        wait_for(lambda: all(_is_zombie(pid) for pid in helpers), timeout=20,
                 what="the helpers to exit")
    finally:
        server.stop()
