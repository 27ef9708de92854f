"""Refuse oversized request bodies with 413 before they are read whole.

A declared Content-Length past the limit is refused at once, without reading a byte; a body sent
without one (chunked) is counted as it streams in and refused the moment it passes the limit, so
a client sending a gigabyte costs the server at most the limit in memory, never the gigabyte.
"""

from __future__ import annotations

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stoker.events.ingest_errors import MalformedBody, PayloadTooLarge


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: frozenset[str] = frozenset(),
                 bulk_bytes: int = 0, bulk_prefixes: tuple[str, ...] = (),
                 exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt  # paths with a cap of their own (the event collector's, larger)
        self.bulk_bytes = bulk_bytes
        self.bulk_prefixes = bulk_prefixes  # paths whose bodies carry bulk: the larger limit
        self.exempt_prefixes = exempt_prefixes  # streamed to disk with a limit of their own (uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or (
                self.exempt_prefixes and scope["path"].startswith(self.exempt_prefixes)):
            await self.app(scope, receive, send)
            return
        limit = self.bulk_bytes if scope["path"].startswith(self.bulk_prefixes) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "the Content-Length header is not a number")
                return
            if int(declared) > limit:
                await _refuse(send, 413, _message(limit))
                return
        received = 0
        refused = started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    # Answer now, and tell the app the client is gone so it stops reading; whatever
                    # it answers after that is dropped (the frameworks turn a read error into a 400).
                    refused = True
                    await _refuse(send, 413, _message(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not refused:
                started = started or message["type"] == "http.response.start"
                await send(message)

        await self.app(scope, counting_receive, guarded_send)



def _message(limit: int) -> str:
    return f"request body larger than {limit:,} bytes (see docs/limits.md)"


async def _refuse(send: Send, status: int, message: str) -> None:
    # Both spellings of an error: `detail` (the native API's) and `message` (the seed APIs').
    body = orjson.dumps({"detail": message, "message": message})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def read_capped(request: Request, limit: int) -> bytes:
    """A route's whole body, for the routes the middleware exempts with a cap of their own (the
    collector's `/collect`, Delight's `/collector/bulk`): refused (413) on a declared or counted size
    past `limit`, 400 when the client goes before the body is complete."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
            parts.append(part)
    except ClientDisconnect:
        raise MalformedBody("the client disconnected before sending the whole body") from None
    return b"".join(parts)
