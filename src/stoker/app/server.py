"""Serving the app with uvicorn, stopping in the order Stoker needs."""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from stoker.app import Background

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn, with the worker and Spark drained before the API stops listening.

    uvicorn's own order closes the listening socket first and runs the app's shutdown after, when a
    Spark session's last listener events (its ApplicationEnd) would have nowhere to go. On the first
    SIGTERM/SIGINT this drains the background duties in a thread while requests are still served,
    then lets uvicorn stop; a second signal stops at once."""

    def __init__(self, config: uvicorn.Config, background: Background) -> None:
        super().__init__(config)
        self.background = background
        self._draining: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None:
            super().handle_exit(sig, frame)
            return
        log.info("stopping: draining the worker and Spark while the API still answers")

        def drain_then_exit() -> None:
            try:
                self.background.drain()
            finally:
                self.should_exit = True

        self._draining = threading.Thread(target=drain_then_exit, name="stoker-drain", daemon=True)
        self._draining.start()
