"""Where a driver listens (executors/spark_session.py driver_address): loopback for a local master,
the machine's own address on the route to a master on another host (its executors connect back)."""

from __future__ import annotations

import ipaddress
import socket

from stoker.executors.spark_session import driver_address, driver_conf


def test_a_local_master_or_one_on_loopback_gets_a_loopback_driver():
    for master in ("local[*]", "local[2]", "spark://127.0.0.1:7077", "spark://localhost:7077"):
        assert driver_address(master) == "127.0.0.1", master


def test_a_master_on_another_host_gets_the_address_of_the_route_to_it():
    # The routing table's answer for a (non-routed, test-only) address: the machine's own address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.10", 7077))
            expected = probe.getsockname()[0]
        except OSError:
            expected = "127.0.0.1"  # no route at all: the driver stays on loopback
    address = driver_address("spark://192.0.2.10:7077")
    assert address == expected
    assert driver_conf("spark://192.0.2.10:7077") == {"spark.driver.host": address,
                                                      "spark.driver.bindAddress": address}
    if expected != "127.0.0.1":
        assert not ipaddress.ip_address(address).is_loopback
