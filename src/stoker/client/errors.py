"""What the client raises: the server's own message and details, by status."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An answer of 400 or more. `detail` is the server's message (what is wrong); `body` the whole
    JSON answer (problems, links, the state a run is in …) when there was one."""

    def __init__(self, status: int, detail: Any, body: Any = None, *, method: str = "", url: str = "") -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body
        self.method = method
        self.url = url


class BadRequest(ApiError):
    """400 or 422: the request was refused as it is; nothing changed."""


class Unauthorized(ApiError):
    """401: no token, or a token the server does not know."""


class Forbidden(ApiError):
    """403: the token lacks the scope."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: e.g. a succeeded run asked to run again, a run that has finished asked to cancel."""


class Unavailable(ApiError):
    """429 or 503 after the client's retries ran out."""


class ServerError(ApiError):
    """500 and the other 5xx."""


BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 422: BadRequest, 401: Unauthorized, 403: Forbidden,
                                        404: NotFound, 409: Conflict, 429: Unavailable, 503: Unavailable}


def error_of(response: httpx.Response) -> ApiError:
    """The exception for an answer of 400 or more (its body must have been read)."""
    body: Any = None
    try:
        body = response.json()
        detail = body.get("detail", response.text) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text or response.reason_phrase
    kind = BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
    return kind(response.status_code, detail, body, method=response.request.method, url=str(response.request.url))


class Unreachable(Exception):
    """The server could not be reached (or the connection kept breaking) through every retry."""

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(f"cannot reach Stoker at {url}: {type(cause).__name__}: {cause}")
        self.url = url
        self.cause = cause
