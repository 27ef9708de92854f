"""The client's retries against a real server that is SIGKILLed mid-request and started again on
the same port and data dir: a submit whose answer was lost is sent again with the same
idempotency key and makes no second run; a long-poll wait survives the restart; 503 and 429 are
waited out (Retry-After)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import harness
from stoker.client import Retry, StokerClient, Unavailable

pytestmark = pytest.mark.e2e
NOOP = [["noop"]]
PATIENT = Retry(attempts=200, backoff=0.1, max_backoff=1.0)  # covers a server's restart


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # No worker: runs stay QUEUED, nothing else moves.
    server = harness.Server(tmp_path_factory.mktemp("retries") / "data", worker=False).start()
    yield server
    server.stop()


class Relay:
    """A TCP relay in front of the server. `on_answer(n)` is called when the server's first answer
    bytes of the n-th connection arrive; when it returns False those bytes are dropped and both
    sides closed: the request was done, its answer lost. `replies` lets a test answer itself."""

    def __init__(self, upstream_port: int, on_answer=None, reply=None) -> None:  # type: ignore[no-untyped-def]
        self.upstream_port = upstream_port
        self.on_answer = on_answer or (lambda n: True)
        self.reply = reply  # (n, request bytes) -> bytes to answer with, or None to relay
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client, self.connections), daemon=True).start()

    def _serve(self, client: socket.socket, n: int) -> None:
        with client:
            if self.reply is not None:
                request = client.recv(65536)
                canned = self.reply(n, request)
                if canned is not None:
                    client.sendall(canned)
                    return
            else:
                request = b""
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            except OSError:
                client.shutdown(socket.SHUT_RDWR)
                return  # the server is down: the client sees its connection closed
            with upstream:
                if request:
                    upstream.sendall(request)
                threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
                first = True
                while chunk := _recv(upstream):
                    if first and not self.on_answer(n):
                        # shutdown, not only close: the pump thread's recv must not keep it open
                        for sock in (client, upstream):
                            sock.shutdown(socket.SHUT_RDWR)
                        return
                    first = False
                    client.sendall(chunk)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        while chunk := _recv(source):
            try:
                target.sendall(chunk)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def restart_later(server: harness.Server) -> threading.Thread:
    def restart() -> None:
        time.sleep(0.5)
        server.start()
    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_a_submit_whose_answer_was_lost_is_retried_with_the_same_key(server):
    restarted: list[threading.Thread] = []

    def kill_on_first_answer(n: int) -> bool:
        if n == 1:  # the run is committed (the answer is on its way): the server dies now
            server.kill()
            restarted.append(restart_later(server))
            return False
        return True

    relay = Relay(server.port, on_answer=kill_on_first_answer)
    try:
        with StokerClient(relay.url, harness.TOKEN, retry=PATIENT) as stoker:
            run = stoker.runs.submit(NOOP)
        restarted[0].join()
        assert relay.connections >= 2  # it was sent again
        with StokerClient(server.url, harness.TOKEN) as direct:
            runs = [r for r in direct.runs.list() if r.idempotency_key == run.idempotency_key]
        assert [r.id for r in runs] == [run.id]  # one run, the one the first try made
    finally:
        relay.close()


def test_a_long_poll_wait_outlives_a_killed_server(server):
    with StokerClient(server.url, harness.TOKEN, retry=PATIENT) as stoker:
        run = stoker.runs.submit(NOOP)
        outcome: list[str] = []
        waiter = threading.Thread(target=lambda: outcome.append(stoker.runs.wait(run.id, timeout=120).state))
        waiter.start()
        time.sleep(1.0)  # the wait is in its long-poll now
        server.kill()
        server.start()
        stoker.runs.cancel(run.id)  # a QUEUED run is cancelled at once: the wait must see it
        waiter.join(60)
    assert outcome == ["CANCELLED"]


def test_busy_answers_are_waited_out_then_reported(server):
    busy = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0.2\r\nContent-Type: application/json\r\n"
            b"Content-Length: 27\r\nConnection: close\r\n\r\n{\"detail\": \"draining, try\"}")
    relay = Relay(server.port, reply=lambda n, _request: busy if n <= 2 else None)
    try:
        with StokerClient(relay.url, harness.TOKEN, retry=PATIENT) as stoker:
            started = time.monotonic()
            assert stoker.functions()
            assert relay.connections == 3 and time.monotonic() - started >= 0.4
        always = Relay(server.port, reply=lambda n, _request: busy)
        with (StokerClient(always.url, harness.TOKEN, retry=Retry(attempts=3, backoff=0.01)) as stoker,
              pytest.raises(Unavailable) as refused):
            stoker.functions()
        assert refused.value.status == 503 and refused.value.detail == "draining, try" and always.connections == 3
        always.close()
    finally:
        relay.close()
