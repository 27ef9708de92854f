"""Long-polls wait without holding a thread: with 200 of them waiting, other requests answer as
fast as they do alone, and each long-poll still answers when its run finishes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from test_sinks_support import LiveServer


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path / "data", embedded_worker=False)
    yield live
    live.close()


async def _scenario(server: LiveServer) -> tuple[float, float, list[int], float]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60) as client:
        run_id = (await client.post("/api/v1/runs", json={"steps": [["noop"]]})).json()["id"]

        async def timed_functions() -> float:
            started = time.perf_counter()
            assert (await client.get("/api/v1/functions")).status_code == 200
            return time.perf_counter() - started

        alone = min([await timed_functions() for _ in range(5)])
        # A client each: one client's pool of 200 connections costs it seconds (httpcore assigns
        # requests to connections in quadratic time), which this test would measure instead.
        pollers = [httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60) for _ in range(200)]
        polls = [asyncio.create_task(poller.get(f"/api/v1/runs/{run_id}?wait_seconds=20")) for poller in pollers]
        await asyncio.sleep(2.0)  # every long-poll is in and waiting
        assert not any(p.done() for p in polls)
        loaded = max([await timed_functions() for _ in range(5)])
        # The run ends (cancelled: no worker here): every waiting poll answers at once.
        ended = time.perf_counter()
        assert (await client.post(f"/api/v1/runs/{run_id}/cancel")).status_code == 200
        answers = await asyncio.gather(*polls)
        woke_in = time.perf_counter() - ended
        await asyncio.gather(*(poller.aclose() for poller in pollers))
        return alone, loaded, [r.status_code for r in answers if r.json()["state"] == "CANCELLED"], woke_in


def test_two_hundred_long_polls_leave_other_requests_fast(server):
    alone, loaded, cancelled, woke_in = asyncio.run(_scenario(server))
    assert cancelled == [200] * 200, "every long-poll saw the run end"
    assert woke_in < 5.0
    # Before: 45 waiting long-polls made this request take 4.3 s (the thread pool was full).
    assert loaded < max(0.5, 20 * alone), (alone, loaded)


def test_healthz_answers_without_a_token_and_reports_the_age_of_its_check(server):
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and 0 <= body["checked_seconds_ago"] < 5
