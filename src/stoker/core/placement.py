"""Placement (pure): which host each node of a cluster (or each container task) goes to, by the free
capacity of each host, never one global pool. A node goes to the host with the most free cores
(then memory) that fits it, so a cluster's nodes spread over the hosts that can take them; largest
nodes first, so small ones fill what is left. When a node fits nowhere, nothing is placed and the
answer says why, host by host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Want:
    """A node (or task) to place: its name and what it takes."""

    name: str
    cores: int
    mem: int  # MB


@dataclass(frozen=True)
class Room:
    """A host as placement sees it: its free capacity, and why it takes nothing when it does not."""

    host: str
    cores: int
    mem: int
    refused: str | None = None  # e.g. "draining", "not answering"


@dataclass(frozen=True)
class Placement:
    hosts: dict[str, str]  # node name → host name; empty when `reason` says why nothing was placed
    reason: str | None = None


def place(wants: list[Want], rooms: list[Room]) -> Placement:
    free = {r.host: [r.cores, r.mem] for r in rooms if r.refused is None}
    chosen: dict[str, str] = {}
    for want in sorted(wants, key=lambda w: (-w.cores, -w.mem, w.name)):
        fits = [h for h, (c, m) in free.items() if c >= want.cores and m >= want.mem]
        if not fits:
            return Placement({}, _why(wants, want, rooms))
        host = min(fits, key=lambda h: (-free[h][0], -free[h][1], h))  # ties: the first by name
        free[host][0] -= want.cores
        free[host][1] -= want.mem
        chosen[want.name] = host
    return Placement(chosen)


def _why(wants: list[Want], stuck: Want, rooms: list[Room]) -> str:
    """What all the nodes need, the one that found no room, and each host's room as it was."""
    needs = (f"waiting for a host: needs {sum(w.cores for w in wants)} cores and {sum(w.mem for w in wants)} MB "
             f"in all; {stuck.name} ({stuck.cores} cores, {stuck.mem} MB) fits on none")
    if not rooms:
        return f"{needs}: no host is registered that can run it"
    each = [f"{r.host} is {r.refused}" if r.refused is not None else f"{r.host} has {r.cores} cores and "
            f"{r.mem} MB free" for r in sorted(rooms, key=lambda r: r.host)]
    return f"{needs}: " + "; ".join(each)
