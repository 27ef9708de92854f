"""Reading streamed answers piece by piece, never whole: server-sent events (the run events stream)
and newline-delimited JSON (a Spark app's events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from stoker.client.models import Event


class SseParser:
    """Feed it lines (without their newline); it hands back each complete event. Comments (": …",
    the keep-alives) and `retry:` lines are skipped; an event without an `id` gets -1."""

    def __init__(self) -> None:
        self._id: int | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._id = None
                return None
            event = Event(self._id if self._id is not None else -1, json.loads("\n".join(self._data)))
            self._id, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "id" and value.isdigit():
            self._id = int(value)
        return None


def sse_events(lines: Iterator[str]) -> Iterator[Event]:
    parser = SseParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event


async def sse_events_async(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    parser = SseParser()
    async for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event


def ndjson_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Whole lines out of a byte stream, each without its newline; blank lines dropped."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from (line for line in lines if line.strip())
    if rest.strip():
        yield rest


async def ndjson_lines_async(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    rest = b""
    async for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest
