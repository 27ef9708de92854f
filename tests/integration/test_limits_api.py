"""Inputs past the limits of core/limits.py are refused with a 4xx that says what is wrong, and
change nothing: the inputs that gave 500s under fuzzing among them."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from test_sinks_support import LiveServer

from stoker.core.limits import MAX_BODY_BYTES


@pytest.fixture
def live_server(tmp_path):
    server = LiveServer(tmp_path / "data", embedded_worker=False)
    yield server
    server.close()


def test_values_the_store_cannot_keep_are_refused_and_nothing_is_queued(api):
    before = len(api.get("/api/v1/runs").json()["runs"])
    for body in ({"steps": [["noop"]], "params": {"n": 2**64}},
                 {"steps": [["noop"]], "options": {"x": [148388302052133502186990616969216]}},
                 {"steps": [["noop"]], "params": {"k\ud800": 1}},
                 {"steps": [["noop"]], "priority": 10**20}):
        response = api.post("/api/v1/runs", content=_dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert "params" in response.text or "options" in response.text or "priority" in response.text
    assert len(api.get("/api/v1/runs").json()["runs"]) == before


@pytest.mark.parametrize("path", ["/api/v1/runs", "/jobs/submit"])
def test_json_sent_as_a_form_is_refused_with_the_header_to_send(api, path):
    """`curl -d '{...}'` labels the body application/x-www-form-urlencoded: say so, queue nothing."""
    before = len(api.get("/api/v1/runs").json()["runs"])
    response = api.post(path, content=b'{"steps": [["noop"]]}',
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"]
    assert "application/x-www-form-urlencoded" in response.json()["detail"]
    assert len(api.get("/api/v1/runs").json()["runs"]) == before


def _dumps(body: object) -> bytes:
    import json

    return json.dumps(body).encode()  # the stdlib writes lone surrogates as \ud800 escapes, as clients may


@pytest.mark.parametrize("url", [
    "/api/v1/runs?cursor=25256292534147826802252434112512",
    "/api/v1/dead-letters?cursor=-105341888946029379584",
    "/api/v1/runs/69c3a1a7-0330-4a41-a772-366917a773fe/attempts/14164454534642843648",
    "/api/v1/runs/69c3a1a7-0330-4a41-a772-366917a773fe/log?attempt=1868033624613670879232",
    "/api/v1/runs?limit=100000",
])
def test_numbers_out_of_range_in_queries_and_paths_are_422(api, url):
    response = api.get(url)
    assert response.status_code == 422, response.text


def test_oversized_bodies_are_refused_before_they_are_read(live_server):
    """A declared length past the limit: 413 at once. A chunked body with no length: 413 as soon
    as it passes the limit, long before the client has sent it all."""
    url = live_server.url + "/api/v1/runs"
    headers = {**live_server.headers, "Content-Type": "application/json"}
    response = httpx.post(url, content=b"x" * (MAX_BODY_BYTES + 1), headers=headers)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]

    sent = 0
    stop = threading.Event()

    def endless():
        nonlocal sent
        chunk = b" " * 65536
        while not stop.is_set() and sent < 64 * MAX_BODY_BYTES:
            sent += len(chunk)
            yield chunk

    started = time.monotonic()
    try:
        response = httpx.post(url, content=endless(), headers=headers, timeout=30)
        status = response.status_code
    except httpx.HTTPError:  # the server may close mid-upload after answering
        status = 413
    stop.set()
    assert status == 413
    assert sent < 32 * MAX_BODY_BYTES, f"the client sent {sent} bytes before it was refused"
    assert time.monotonic() - started < 20


def test_malformed_content_length_is_400(live_server):
    import socket

    port = int(live_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.split(b" ")[1] in (b"400",), reply[:100]


def test_bulk_paths_take_larger_bodies(live_server):
    """A batch's parameter sets may pass the default limit (up to the bulk one)."""
    params_list = [{"pad": "x" * 1000} for _ in range(1500)]  # about 1.5 MB, past MAX_BODY_BYTES
    with live_server.client() as client:
        batch = client.post("/api/v1/batches", json={"steps": [["noop"]], "params_list": params_list})
        assert batch.status_code == 201, batch.text[:300]
        # The same body on a path with the default limit is refused (413, or the connection is
        # closed on the client while it is still sending, after the server answered).
        try:
            status = client.post("/api/v1/runs", json={"steps": [["noop"]], "params": {"p": params_list}}).status_code
        except httpx.HTTPError:
            status = 413
        assert status == 413
