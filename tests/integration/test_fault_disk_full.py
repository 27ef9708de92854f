"""The data dir's disk fills up (a 5 MB tmpfs mounted by the test): submits get 507 with a message,
nothing acknowledged is lost or corrupted, and Stoker works again once space returns."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, IN_CI, make_services
from stoker.app import create_app


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        if IN_CI:
            pytest.fail("mounting a tmpfs needs root (CI runs as root)")
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_gives_507_loses_nothing_and_recovers(small_disk):
    services = make_services(small_disk / "data")
    app = create_app(services)  # no worker: runs stay QUEUED and are counted below
    big = {"blob": "x" * 200_000}
    accepted: list[str] = []
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        filler = small_disk / "filler"
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 1_500_000))  # leave about 1.5 MB
        refused = None
        for _ in range(60):
            response = api.post("/api/v1/runs", json={"steps": [["noop"]], "params": big})
            if response.status_code == 201:
                accepted.append(response.json()["id"])
                continue
            refused = response
            break
        assert refused is not None, "the disk never filled"
        assert refused.status_code == 507, refused.text
        assert "disk is full" in refused.json()["detail"]
        # Reads still work while the disk is full.
        assert api.get(f"/api/v1/runs/{accepted[0]}").status_code == 200

        filler.unlink()  # space returns
        again = api.post("/api/v1/runs", json={"steps": [["noop"]]})
        assert again.status_code == 201, again.text
        accepted.append(again.json()["id"])
        for run_id in accepted:
            assert api.get(f"/api/v1/runs/{run_id}").json()["state"] == "QUEUED"
    services.close()
    with sqlite3.connect(small_disk / "data" / "stoker.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(accepted)
