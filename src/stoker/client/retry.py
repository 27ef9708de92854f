"""When the client sends a request again, and how long it waits first.

Two kinds of failure are retried:
- the server answered 429 or 503: it did nothing (it was busy, draining or lost its database), so
  any request may go again, after its Retry-After when it gives one;
- the connection failed. When it failed before the request was sent (connection refused: the
  server is restarting), any request may go again. When it broke after (the server died
  mid-request), only a request that is safe to repeat goes again: GET, PUT and DELETE, and a submit,
  because the client gives every submit an idempotency key and sends the same key again, so the
  server answers with the run the first try made instead of making a second."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

RETRY_STATUSES = (429, 503)
# The request never reached the server: always safe to send again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Retry:
    """`attempts` tries in all; the n-th wait is `backoff` × 2^n (at most `max_backoff`), with jitter."""

    attempts: int = 8
    backoff: float = 0.25
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff * 4)
            except ValueError:
                pass  # an HTTP date: back off as usual
        base: float = min(self.backoff * (2 ** attempt), self.max_backoff)
        return base * random.uniform(0.5, 1.0)

    def may_retry_error(self, exc: httpx.TransportError, repeatable: bool) -> bool:
        return isinstance(exc, NOT_SENT) or repeatable

    @staticmethod
    def may_retry_status(status: int) -> bool:
        return status in RETRY_STATUSES


NO_RETRY = Retry(attempts=1)


class Attempts:
    """One request's tries under a policy. After a failed try, `after_error`/`after_status` give
    how long to wait before the next one, or None when there is no next one."""

    def __init__(self, policy: Retry, repeatable: bool) -> None:
        self.policy = policy
        self.repeatable = repeatable
        self.made = 0

    def after_error(self, exc: httpx.TransportError) -> float | None:
        self.made += 1
        if self.made >= self.policy.attempts or not self.policy.may_retry_error(exc, self.repeatable):
            return None
        return self.policy.delay(self.made - 1)

    def after_status(self, response: httpx.Response) -> float | None:
        if not self.policy.may_retry_status(response.status_code):
            return None
        self.made += 1
        if self.made >= self.policy.attempts:
            return None
        return self.policy.delay(self.made - 1, response.headers.get("retry-after"))
