"""One team's things are its own (docs/teams.md): the issue's four acts of bob, who is in team blue,
on what alice's team red has, each answer 404 (its existence is not told), and work for alice's
teammates with the right role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import create_app

PEOPLE = b"name,age\nana,34\nbo,28\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two_teams(services):
    services.teams.create("red")
    services.teams.create("blue")
    tokens = {
        "alice": services.tokens.create("alice", ["read", "submit"], user="alice", team="red", role="owner"),
        "rita": services.tokens.create("rita", ["read", "submit"], user="rita", team="red", role="runner"),
        "vic": services.tokens.create("vic", ["read", "submit"], user="vic", team="red", role="viewer"),
        "bob": services.tokens.create("bob", ["read", "submit"], user="bob", team="blue", role="owner"),
        "admin": ADMIN_TOKEN,
    }
    with TestClient(create_app(services)) as client:
        yield client, tokens, services


def test_each_team_has_its_own_files(two_teams):
    client, t, services = two_teams
    put = client.put("/api/v1/files/alice.csv", content=PEOPLE, headers=bearer(t["alice"]))
    assert put.status_code == 201
    red_root = services.roots.for_team("red").storage_root
    assert (red_root / "alice.csv").read_bytes() == PEOPLE
    assert red_root != services.roots.storage_root and not (services.roots.storage_root / "alice.csv").exists()
    # Her teammate reads it; bob, in blue, finds nothing there, in any of the files API's ways.
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["vic"])).content == PEOPLE
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/files/alice.csv/preview", headers=bearer(t["bob"])).status_code == 404
    assert client.delete("/api/v1/files/alice.csv", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/files", headers=bearer(t["bob"])).json()["files"] == []
    assert [f["path"] for f in client.get("/api/v1/files", headers=bearer(t["vic"])).json()["files"]] == ["alice.csv"]
    # His absolute path to her root is outside his.
    assert services.roots.for_team("blue").contains(str(red_root / "alice.csv")) is False
    # Blue's own file with the same name is blue's.
    assert client.put("/api/v1/files/alice.csv", content=b"x\n1\n", headers=bearer(t["bob"])).status_code == 201
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["alice"])).content == PEOPLE
