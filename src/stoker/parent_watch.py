"""Child processes of a Stoker server (its worker child, its ingest helpers) stop once the server is
gone: one that was killed (SIGKILL) cannot stop them itself. Imports nothing of Stoker, so every
layer that starts helper processes may use it."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def watch_parent(parent_pid: int, on_orphaned: Callable[[], None], interval: float = 0.5) -> threading.Thread:
    """Call `on_orphaned` once the process that started us is gone (it was killed: a server that
    stops normally stops its worker first). A daemon thread polls the parent pid, which is portable."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        log.warning("process %s, which started this one, is gone: stopping", parent_pid)
        on_orphaned()

    thread = threading.Thread(target=watch, name="stoker-parent-watch", daemon=True)
    thread.start()
    return thread
