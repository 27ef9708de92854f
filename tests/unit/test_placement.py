"""Placement by each host's free capacity (core/placement.py): nodes spread over the hosts with
room, largest first; a node that fits nowhere places nothing and the reason names every host."""

from __future__ import annotations

from stoker.core.placement import Room, Want, place


def test_nodes_spread_over_the_hosts_with_the_most_room():
    wants = [Want("master", 1, 512), Want("worker-1", 2, 1024), Want("worker-2", 2, 1024)]
    placed = place(wants, [Room("node1", 4, 4096), Room("node2", 4, 4096)])
    assert placed.reason is None
    # The two workers (largest first) take one host each; the master joins the one left roomier (ties: by name).
    assert placed.hosts == {"worker-1": "node1", "worker-2": "node2", "master": "node1"}


def test_free_capacity_is_per_host_never_one_pool():
    # 4 free cores in all, but no single host has the 3 one node needs.
    placed = place([Want("worker", 3, 256)], [Room("a", 2, 4096), Room("b", 2, 4096)])
    assert placed.hosts == {}
    assert placed.reason == ("waiting for a host: needs 3 cores and 256 MB in all; worker (3 cores, 256 MB) fits on "
                             "none: a has 2 cores and 4096 MB free; b has 2 cores and 4096 MB free")


def test_the_reason_gives_each_hosts_room_before_the_cluster_not_after_its_other_nodes():
    placed = place([Want("master", 1, 256), Want("w0", 1, 512), Want("w1", 1, 512)], [Room("local", 2, 8192)])
    assert placed.reason is not None
    assert "needs 3 cores and 1280 MB in all" in placed.reason and "local has 2 cores and 8192 MB free" in placed.reason


def test_memory_counts_as_well_as_cores_and_used_room_is_taken():
    placed = place([Want("w1", 1, 700), Want("w2", 1, 700)], [Room("big", 8, 1000), Room("small", 1, 800)])
    assert placed.hosts == {"w1": "big", "w2": "small"}


def test_a_draining_or_silent_host_takes_nothing_and_the_reason_says_so():
    rooms = [Room("node1", 8, 8192, refused="draining"), Room("node2", 8, 8192, refused="not answering"),
             Room("node3", 1, 8192)]
    placed = place([Want("worker", 2, 512)], rooms)
    assert placed.hosts == {}
    assert placed.reason is not None
    assert "node1 is draining" in placed.reason and "node2 is not answering" in placed.reason
    assert "node3 has 1 cores" in placed.reason and "worker (2 cores, 512 MB) fits on none" in placed.reason
    assert place([Want("worker", 1, 512)], rooms).hosts == {"worker": "node3"}


def test_no_host_at_all():
    placed = place([Want("worker", 1, 1)], [])
    assert placed.hosts == {} and placed.reason is not None and "no host is registered" in placed.reason
