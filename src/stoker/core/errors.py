"""Domain errors. The API maps each to one status code; the message is for people."""

from __future__ import annotations


class StokerError(Exception):
    status_code = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(StokerError):
    status_code = 404


class Conflict(StokerError):
    """A rule refused the request (409); `details` may carry URIs the caller can follow."""

    status_code = 409


class Fenced(Conflict):
    """A heartbeat or finish came from an attempt that no longer holds the lease."""


class InvalidInput(StokerError):
    status_code = 422


class Unavailable(StokerError):
    """Something this request needs is not there on this deployment (e.g. no container runtime)."""

    status_code = 503
