"""Waking claimers promptly when work arrives, instead of sleeping a fixed time.

In one process a condition variable does it. Across processes on PostgreSQL, submitters NOTIFY
inside their transaction (delivered at commit) and a listener thread turns that into a local wake-up.
SQLite has no cross-process signal; a worker in another process falls back to a short poll.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

CHANNEL = "stoker_runs"

T = TypeVar("T")


class Wakeup:
    """A counter plus a condition: `wait` returns as soon as `notify` was called since `seen`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        # Waiters on an event loop: a future each, resolved from whichever thread notifies. They
        # hold no thread while they wait, so a thousand long-polls cost a thousand futures.
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, set()
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop has closed; its waiter is gone with it
                pass

    @property
    def generation(self) -> int:
        return self._generation

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the generation moves past `seen` or `timeout` passes; return the generation."""
        with self._cond:
            if self._generation == seen:
                self._cond.wait(timeout)
            return self._generation


    def poll(self, produce: Callable[[], T], done: Callable[[T], bool], *, seconds: float,
             recheck: float) -> T:
        """Long-poll: call `produce` until `done(result)` or `seconds` pass, waking on `notify`
        (and at least every `recheck` seconds, for changes made by other processes)."""
        deadline = time.monotonic() + seconds
        while True:
            seen = self._generation
            result = produce()
            remaining = deadline - time.monotonic()
            if done(result) or remaining <= 0:
                return result
            self.wait(seen, min(remaining, recheck))


    async def wait_async(self, seen: int, timeout: float) -> int:
        """`wait` for code on an event loop: suspends the coroutine, never a thread."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._generation != seen:
                return self._generation
            waiter = (loop, loop.create_future())
            self._async_waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)
        return self._generation

    async def poll_async(self, produce: Callable[[], Awaitable[T]], done: Callable[[T], bool], *,
                         seconds: float, recheck: float) -> T:
        """`poll` for code on an event loop: `produce` is awaited (it may hand its database work to
        a thread for the moment it runs); the waits between calls hold no thread."""
        deadline = time.monotonic() + seconds
        while True:
            seen = self._generation
            result = await produce()
            remaining = deadline - time.monotonic()
            if done(result) or remaining <= 0:
                return result
            await self.wait_async(seen, min(remaining, recheck))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PostgresListener:
    """A daemon thread LISTENing on the queue channel; every notification wakes local claimers."""

    def __init__(self, url: str, wakeup: Wakeup) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://")
        self._wakeup = wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stoker-pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=64):
                            self._wakeup.notify()
            except Exception as exc:  # the database went away: retry, claimers still poll slowly
                log.warning("queue listener lost its connection (%s); reconnecting", exc)
                self._stop.wait(1.0)
