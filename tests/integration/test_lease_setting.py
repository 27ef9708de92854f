"""STOKER_LEASE_SECONDS governs every lease a worker takes over HTTP that does not ask for one."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services
from stoker.app import create_app


def _expires_in(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()


def test_claim_and_heartbeat_without_a_lease_take_the_servers_setting(tmp_path):
    services = make_services(tmp_path / "data", lease_seconds=123.0)
    try:
        with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
            api.post("/api/v1/runs", json={"steps": [["sleep", 1], ["noop"]]})
            claimed = api.post("/api/v1/worker/claim", json={"worker_id": "w1"}).json()["attempts"]
            assert len(claimed) == 1
            assert 110 < _expires_in(claimed[0]["lease_expires_at"]) <= 123
            attempt = claimed[0]["attempt_id"]
            beat = api.post(f"/api/v1/attempts/{attempt}/heartbeat", json={}).json()
            assert 110 < _expires_in(beat["lease_expires_at"]) <= 123
            asked = api.post(f"/api/v1/attempts/{attempt}/heartbeat", json={"lease_seconds": 9}).json()
            assert _expires_in(asked["lease_expires_at"]) <= 9
    finally:
        services.close()
