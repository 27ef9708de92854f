"""Errors of the collector, mapped to status codes by the app's StokerError handler."""

from __future__ import annotations

from stoker.core.errors import InvalidInput, StokerError


class MalformedBody(StokerError):
    """The body is not gzip or JSON at all (400): nothing in it could be read."""

    status_code = 400


class InvalidPayload(InvalidInput):
    """The body is JSON but not a valid collector payload (422): the message names the field."""


class PayloadTooLarge(StokerError):
    status_code = 413
