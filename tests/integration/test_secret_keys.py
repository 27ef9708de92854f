"""The master key ring: a wrong or lost key is a clear error at start; `stoker secrets
rotate-master-key` re-wraps every secret while a server keeps running on the old ring."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_sinks_support import LiveServer

from conftest import make_services, wait_for_state
from stoker.core.secrets import MasterKeyError, generate_key, key_id

VALUE = "rotating-value-5d8e1f"


def test_a_wrong_or_lost_master_key_is_a_clear_error_at_start(tmp_path, monkeypatch):
    services = make_services(tmp_path / "data")
    services.secret_store.create("demo", "generic", {"token": VALUE}, by="admin")
    services.close()
    monkeypatch.setenv("STOKER_SECRET_KEY", generate_key())  # someone "fixed" the key by making a new one
    with pytest.raises(MasterKeyError, match="does not open this database's secrets"):
        make_services(tmp_path / "data")
    monkeypatch.delenv("STOKER_SECRET_KEY")
    (tmp_path / "data" / "secret.key").unlink()  # lost: a new file would be made, and refused
    with pytest.raises(MasterKeyError, match="not the key they were sealed with"):
        make_services(tmp_path / "data")
    # The command line says so and stops, without a traceback.
    env = {**os.environ, "STOKER_ADMIN_TOKEN": "x" * 20, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "stoker.cli", "secrets", "key-status", "--data-dir",
                           str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "does not open this database's secrets" in done.stderr
    assert "Traceback" not in done.stderr


def test_rotation_rewraps_every_secret_while_a_server_runs_on_the_old_ring(tmp_path):
    server = LiveServer(tmp_path / "data")
    try:
        with server.client() as client:
            client.post("/api/v1/secrets", json={"name": "demo", "kind": "generic", "values": {"token": VALUE}})
            client.post("/api/v1/jobs", json={"name": "printer", "steps": [["fail", "t={{secrets/demo/token}}"]],
                                              "max_attempts": 1})
            inline = client.post("/api/v1/runs", json={"steps": [["noop"]], "options": {
                "s3": {"aws_access_key_id": "AKIAOLDKEY", "aws_secret_access_key": "old-sealed-secret"}}})
            assert inline.status_code == 201, inline.text
            old_kid = server.services.secrets.primary_id
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            env.pop("STOKER_SECRET_KEY", None)
            done = subprocess.run([sys.executable, "-m", "stoker.cli", "secrets", "rotate-master-key", "--data-dir",
                                   str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert "1 secret(s) re-wrapped" in done.stdout and "1 run secret(s)" in done.stdout
            keys = (tmp_path / "data" / "secret.key").read_text().split()
            new_kid = key_id(keys[0].encode())
            assert len(keys) == 2 and key_id(keys[1].encode()) == old_kid and new_kid != old_kid
            assert server.services.secret_store.key_usage() == {new_kid: 1}
            # The running server had only the old key: it learns the new one from the file, no restart.
            run = wait_for_state(client, client.post("/api/v1/jobs/printer/runs", json={}).json()["id"])
            assert run["state"] == "FAILED" and run["error"].endswith("t=[REDACTED]"), run["error"]
            assert client.put("/api/v1/secrets/demo", json={"values": {"token": VALUE + "2"}}).json()[
                "master_key_id"] == new_kid  # new data keys are wrapped with the new key
    finally:
        server.close()
    # Once every process has the new key, the old one may go: everything opens without it.
    (tmp_path / "data" / "secret.key").write_text(keys[0] + "\n")
    services = make_services(tmp_path / "data")
    try:
        assert services.secrets.key_ids == [new_kid]
        from stoker.core.attempts import Claimed

        run = services.runs.get(inline.json()["id"])
        claimed = Claimed(attempt_id="a", run_id=run.id, number=1, job_id="", job_name="adhoc", mode="session",
                          lane="instant", steps=run.steps, params={}, options=run.options,
                          secrets=_sealed(services, run.id), timeout_seconds=None, lease_expires_at=0.0)
        assert services.secret_store.resolve(claimed).sections["s3"]["aws_secret_access_key"] == "old-sealed-secret"
        assert services.secret_store.open_many(["demo"])["demo"].values == {"token": VALUE + "2"}
    finally:
        services.close()


def _sealed(services, run_id: str) -> str:
    from stoker.store.tables import runs

    with services.db.read() as conn:
        return conn.execute(runs.select().where(runs.c.id == run_id)).one().secrets
