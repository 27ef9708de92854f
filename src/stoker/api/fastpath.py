"""What the hot endpoints (one run per request, status reads) use to keep per-request cost low:
database reads without a thread-pool hop where that is safe, and answers serialised once, by orjson.

Profiled under `wrk` (bench/bench_submit.py): a point read handed to the thread pool cost more in
the hand-off (and the GIL handed back and forth) than the read itself, and FastAPI's generic
serialisation of a returned dict (validation against `dict[str, Any]`, then `json.dumps`) cost
about as much as the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import Response
from starlette.concurrency import run_in_threadpool

from stoker.store.db import Database

T = TypeVar("T")


async def read_now(db: Database, read: Callable[..., T], *args: Any) -> T:
    """Run a short read-only store call: on SQLite right here on the event loop, on PostgreSQL in
    the thread pool. A SQLite read in WAL mode never waits for a writer (readers see the last
    commit; only a writer waits for a writer), and a point read by primary key takes tens of
    microseconds, less than the hop to a thread. A PostgreSQL read is a network round trip: it
    must not stall the loop."""
    if db.is_sqlite:
        return read(*args)
    return await run_in_threadpool(read, *args)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer serialised in one step. Routes that return it declare `response_model` so the
    OpenAPI document still shows their shape."""
    return Response(orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS), status_code=status_code,
                    headers=headers, media_type="application/json")
