"""Checking collector payloads (gunzip, decode, validate, summarise), in helper processes or not.

Checking is CPU work that holds the GIL: about 18 µs per 5 KB TaskEnd (inflate 5, decode the
payload 7, decode the event 6), which capped one server process at ~30k such events/s, on one core.
With `processes` > 0 it runs in that many helper processes instead, so the server's own process is
left with HTTP and the database write, and a second core does the decoding. What goes to a helper is
the request body; what comes back is small (names, counters, packed times, the summary delta): the
payload's bytes are stored from the request body the server already holds (store.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from starlette.concurrency import run_in_threadpool

from stoker.events.body import BodyLimits, decode_body
from stoker.events.payload import Payload, parse_payload

log = logging.getLogger(__name__)


def check_body(body: bytes, limits: BodyLimits) -> Payload:
    """The checked payload of a request body (gzip or plain JSON); raises the collector's 4xx errors."""
    return parse_payload(decode_body(body, limits))


def _start_helper(server_pid: int) -> None:
    """In each helper: exit once the server is gone. A server killed with SIGKILL cannot shut its
    pool down, and a helper blocked on its task queue would otherwise live on."""
    from stoker.parent_watch import watch_parent

    watch_parent(server_pid, lambda: os._exit(0))


class PayloadChecker:
    """Checks payloads in `processes` helper processes (0: in a thread of this process)."""

    def __init__(self, processes: int = 0) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.processes > 0 and self._pool is None:
            # spawn, not fork: the server has threads (fork would copy their locks mid-use).
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_helper, initargs=(os.getpid(),))
            # Start the helpers now, not on the first payload: a spawn takes a second.
            for future in [self._pool.submit(check_body, b"{}", BodyLimits())
                           for _ in range(self.processes)]:
                future.exception()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def check(self, body: bytes, limits: BodyLimits) -> Payload:
        pool = self._pool
        if pool is None:
            return await run_in_threadpool(check_body, body, limits)
        try:
            return await asyncio.wrap_future(pool.submit(check_body, body, limits))
        except BrokenProcessPool:
            # A helper died (killed, out of memory): this payload is checked here, and a new pool
            # takes over for the next ones.
            log.warning("a payload-checking process died; starting new ones")
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                await run_in_threadpool(self.start)
            return await run_in_threadpool(check_body, body, limits)
