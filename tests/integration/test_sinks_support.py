"""Helpers shared by the sink tests (no tests here): a real webhook receiver, a live server, waiting."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from conftest import ADMIN_TOKEN, make_services

SINK_ENV = {  # fast retries and leases, so failure paths take fractions of a second
    "STOKER_SINK_RETRY_BASE_SECONDS": "0.05",
    "STOKER_SINK_RETRY_MAX_SECONDS": "0.2",
    "STOKER_SINK_LEASE_SECONDS": "3",
    "STOKER_SINK_REFRESH_SECONDS": "0.1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; answers 500 to the first `fail_first`;
    takes `delay` seconds over each answer (a slow receiver)."""

    def __init__(self, port: int = 0, fail_first: int = 0, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failed = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                with receiver._lock:
                    fail = receiver.failed < receiver.fail_first
                    if fail:
                        receiver.failed += 1
                    else:
                        receiver.requests.append({"headers": dict(self.headers), "body": body,
                                                  "json": json.loads(body)})
                self.send_response(500 if fail else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["json"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def by_run(events: list[dict[str, Any]], run_ids: set[str] | None = None) -> dict[str, list[str]]:
    """Event names per run, in the order received."""
    out: dict[str, list[str]] = {}
    for e in events:
        if run_ids is None or e["run_id"] in run_ids:
            out.setdefault(e["run_id"], []).append(e["event"])
    return out


OK_RUN = ["queued", "running", "succeeded"]
DEAD_RUN = ["queued", "running", "retrying", "running", "failed", "dead_letter"]


class LiveServer:
    """The real app under uvicorn on a free port (streams need a real connection: TestClient buffers)."""

    def __init__(self, data_dir: Any, *, embedded_worker: bool = True, **overrides: Any) -> None:
        import uvicorn

        from stoker.app import Background, create_app

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        overrides.setdefault("api_url", self.url)  # where its Spark apps send their listener events
        self.services = make_services(data_dir, lease_seconds=5.0, heartbeat_seconds=1.0,
                                      reap_interval_seconds=0.5, **overrides)
        app = create_app(self.services, background=Background(self.services,
                                                              embedded_worker=embedded_worker))
        config = uvicorn.Config(app, log_level="warning", lifespan="on", http="h11", ws="none",
                                loop="asyncio", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        wait_until(lambda: self.server.started, 20, "uvicorn to start")
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def client(self, timeout: float = 30) -> httpx.Client:
        """An HTTP client on the server, authenticated as admin."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def close(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self.services.close()
