"""What a running attempt needs to be stopped from outside: a flag, a reason, and stop hooks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from stoker.core.states import Outcome

log = logging.getLogger(__name__)


class AttemptControl:
    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.reason: Outcome | None = None
        self.message: str | None = None
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Register how to stop the work (cancel a Spark job group, kill a process…)."""
        with self._lock:
            if not self.cancelled.is_set():
                self._hooks.append(hook)
                return
        hook()

    def cancel(self, reason: Outcome, message: str) -> None:
        """Stop the attempt; the first reason given is the one reported."""
        with self._lock:
            if self.cancelled.is_set():
                return
            self.reason, self.message = reason, message
            self.cancelled.set()
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # a failed stop hook must not kill the worker
                log.exception("stopping an attempt failed")
