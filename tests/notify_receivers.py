"""Real receivers for job notifications in tests: an HTTP server (chat and webhook destinations)
and an SMTP server (aiosmtpd), both on free loopback ports, recording what they accept."""

from __future__ import annotations

import email
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness import free_port


class HttpReceiver:
    """Records every POST; answers `status` (200), or holds a request while `hold` is set (a
    receiver that is slow when the sender dies). `accepted` has the requests answered 2xx."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.status = 200
        self.hold = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen = {"path": self.path, "headers": dict(self.headers.items()), "body": body,
                        "json": json.loads(body) if body else None}
                with receiver.lock:
                    receiver.requests.append(seen)
                while receiver.hold.is_set():
                    time.sleep(0.05)
                if _peer_gone(self.connection):  # the sender died waiting: nothing was accepted
                    return
                status = receiver.status
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.accepted.append(seen)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.accepted if r["path"] == path]

    def close(self) -> None:
        self.hold.clear()
        self.server.shutdown()
        self.server.server_close()


def _peer_gone(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class SmtpReceiver:
    """aiosmtpd on a port; `messages` has every e-mail accepted, parsed."""

    def __init__(self, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.port = port or free_port()
        self.messages: list[email.message.Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
