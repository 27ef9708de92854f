"""Each attempt's own log: a logger whose records are kept (bounded, keeping the tail) for the API."""

from __future__ import annotations

import io
import logging
import threading

MAX_LOG_CHARS = 1_000_000


class AttemptLog:
    def __init__(self, attempt_id: str) -> None:
        self._buffer = io.StringIO()
        self._lock = threading.Lock()
        self.logger = logging.getLogger(f"stoker.attempt.{attempt_id}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self._handler = logging.StreamHandler(self._buffer)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(self._handler)

    def append(self, text: str) -> None:
        with self._lock:
            self._buffer.write(text)
            if not text.endswith("\n"):
                self._buffer.write("\n")

    def close(self) -> str:
        """Detach and return the text (its last MAX_LOG_CHARS characters)."""
        self.logger.removeHandler(self._handler)
        self._handler.close()
        # Loggers live in logging's registry; drop ours so a long-lived worker does not leak them.
        logging.Logger.manager.loggerDict.pop(self.logger.name, None)
        text = self._buffer.getvalue()
        if len(text) > MAX_LOG_CHARS:
            text = "[… earlier lines dropped …]\n" + text[-MAX_LOG_CHARS:]
        return text


class QuietLog:
    """For instant runs (noop, fail): no per-attempt logger, nothing kept but the error."""

    def __init__(self) -> None:
        # A private, disabled logger (not in logging's registry): calls on it cost next to nothing.
        self.logger = logging.Logger("stoker.attempt.quiet", level=logging.CRITICAL + 1)
        self.logger.propagate = False
        self.logger.addHandler(logging.NullHandler())

    def append(self, text: str) -> None:
        pass

    def close(self) -> None:
        return None
