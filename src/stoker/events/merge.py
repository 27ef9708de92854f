"""Merging a run's chunks into one stream in `generated_at` order (ties: arrival order). Pure: no I/O.

Chunks are listed by (min time, arrival id). Consecutive chunks whose time ranges cannot interleave
form their own group and are copied out as stored (an ordered chunk's body already is NDJSON in
order): the usual case, since a listener sends its events in time order. Chunks that do overlap are
merged with a k-way heap merge over the group, so the whole export stays linear in the number of
events (times log k for k overlapping chunks) and holds at most one group in memory.
"""

from __future__ import annotations

import heapq
import operator
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

_OUT = 1 << 20  # bytes gathered before yielding a merged piece


@dataclass(frozen=True)
class ChunkMeta:
    id: int
    min_time: int
    max_time: int
    ordered: bool


@dataclass(frozen=True)
class ChunkData:
    id: int
    times: bytes  # int64 little-endian per event
    body: bytes  # events, each followed by b"\n"
    ordered: bool


def pack_times(times: Sequence[int]) -> bytes:
    packed = array("q", times)
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian everywhere
        packed.byteswap()
    return packed.tobytes()


def unpack_times(data: bytes) -> array[int]:
    times = array("q")
    times.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        times.byteswap()
    return times


def is_ordered(times: Sequence[int]) -> bool:
    return all(map(operator.le, times, islice(times, 1, None)))


def plan_groups(chunks: Iterable[ChunkMeta]) -> list[list[ChunkMeta]]:
    """Split chunks (given sorted by min time, then id) into groups that need no merge between them.

    A chunk starts a new group when all its events sort after the group's: its first time is later
    than the group's last, or equal to it while it arrived after every chunk of the group.
    """
    groups: list[list[ChunkMeta]] = []
    group_max = group_last_id = 0
    for chunk in chunks:
        if groups and (chunk.min_time < group_max
                       or (chunk.min_time == group_max and chunk.id < group_last_id)):
            groups[-1].append(chunk)
            group_max = max(group_max, chunk.max_time)
            group_last_id = max(group_last_id, chunk.id)
        else:
            groups.append([chunk])
            group_max, group_last_id = chunk.max_time, chunk.id
    return groups


def merge_group(chunks: Sequence[ChunkData]) -> Iterator[bytes]:
    """The events of one group in (time, arrival) order, as NDJSON pieces."""
    if len(chunks) == 1 and chunks[0].ordered:
        yield chunks[0].body
        return
    streams = [_entries(chunk) for chunk in chunks]
    out: list[bytes] = []
    size = 0
    for _time, _chunk_id, _index, line in heapq.merge(*streams):
        out.append(line)
        size += len(line)
        if size >= _OUT:
            yield b"".join(out)
            out, size = [], 0
    if out:
        yield b"".join(out)


def _entries(chunk: ChunkData) -> Iterator[tuple[int, int, int, bytes]]:
    times = unpack_times(chunk.times)
    lines = chunk.body.splitlines(keepends=True)
    if len(lines) != len(times):
        raise ValueError(f"chunk {chunk.id} is corrupt: {len(lines)} events but {len(times)} times")
    order: Iterable[int] = range(len(lines))
    if not chunk.ordered:  # a stable sort: equal times keep their arrival order
        order = sorted(order, key=times.__getitem__)
    return ((times[i], chunk.id, i, lines[i]) for i in order)


def merged_stream(groups: Iterable[list[ChunkMeta]],
                  load: Callable[[list[int]], list[ChunkData]]) -> Iterator[bytes]:
    """Stream every group in order, loading each group's chunk bodies only when it is reached."""
    for group in groups:
        yield from merge_group(load([chunk.id for chunk in group]))
