"""Waking asyncio code (SSE streams, the publisher's tasks) from the thread-side `Wakeup`.

Every local state change calls `services.wakeup.notify()` from some thread. One fan-out thread waits
on it and sets an asyncio.Event in each subscriber's loop, so a subscriber reads the outbox as soon
as something happened instead of on a fixed timer. The thread runs only while someone subscribes.
"""

from __future__ import annotations

import asyncio
import threading

from stoker.store.notify import Wakeup


class Subscription:
    def __init__(self, signal: AsyncSignal) -> None:
        self._signal = signal
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def arm(self) -> None:
        """Call before reading: a notify after this point makes the next `wait` return at once."""
        self.event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when `timeout` passed."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self._signal._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncSignal:
    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        with self._lock:
            self._subs.add(sub)
            if self._thread is None:
                self._thread = threading.Thread(target=self._fan_out, name="stoker-sink-signal", daemon=True)
                self._thread.start()
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)  # the fan-out thread notices within a second and, if last, ends

    def _fan_out(self) -> None:
        seen = self._wakeup.generation
        while True:
            with self._lock:
                if not self._subs:
                    self._thread = None
                    return
                subs = list(self._subs)
            generation = self._wakeup.wait(seen, 1.0)
            if generation == seen:
                continue
            seen = generation
            for sub in subs:
                try:
                    sub.loop.call_soon_threadsafe(sub.event.set)
                except RuntimeError:  # its loop is closed: it will not read again
                    with self._lock:
                        self._subs.discard(sub)
