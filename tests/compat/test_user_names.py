"""User names in URLs: every token acts for a user with a short URL-safe name (`admin` for the
admin token), chosen when the token is made and unique among live tokens; cluster URLs, owners and
`{user}` path parts use it, and a token's description stays a description."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from tests.compat.test_paas import P, paas, wait_status  # noqa: F401  (the fixture)

from stoker.core.errors import Conflict, InvalidInput
from stoker.store.tokens import user_slug

EXTERNAL = {"master": "spark://10.0.0.7:7077"}


def test_the_admin_tokens_clusters_live_under_admin(paas):  # noqa: F811
    r = paas.post(f"{P}/products/external/1", json=EXTERNAL)
    assert r.json()["links"]["cluster"] == f"http://testserver{P}/clusters/admin/external/1/1"
    cluster = paas.get(f"{P}/clusters/admin/external/1/1").json()
    assert cluster["owner"] == "admin" and cluster["data"]["dn"] == "clusters/admin/external/1/1"
    assert [c["id"] for c in paas.get(f"{P}/clusters/admin").json()["clusters"]] == [r.json()["id"]]
    assert paas.get(f"/api/v1/clusters/{r.json()['id']}").json()["owner"] == "admin"


def test_a_token_is_made_for_a_user_whose_name_is_unique(paas, services):  # noqa: F811
    alice = services.tokens.create("Alice's laptop", ["submit", "read"], user="alice")
    r = paas.post(f"{P}/products/external/1", json=EXTERNAL, headers={"x-auth-token": alice})
    assert r.status_code == 202
    assert paas.get(f"{P}/clusters/alice/external/1/1").json()["data"]["status"] in (
        "registered", "scheduling", "scheduled", "configuring", "configured", "ready")
    with pytest.raises(Conflict, match="'alice' is taken"):
        services.tokens.create("Mallory", ["submit"], user="alice")
    for bad in ("Alice Smith", "", "-x", "a/b", "x" * 33, "admin (STOKER_ADMIN_TOKEN)"):
        with pytest.raises(InvalidInput, match="URL"):
            services.tokens.create("bad", ["read"], user=bad)
    listed = {t["name"]: t["user"] for t in services.tokens.list()}
    assert listed["Alice's laptop"] == "alice"  # the description stays a description
    assert listed["admin (STOKER_ADMIN_TOKEN)"] == "admin"
    # Without a chosen name one is made from the description, made unique.
    services.tokens.create("Bob's CI", ["read"])
    services.tokens.create("Bob's CI", ["read"])
    assert sorted(t["user"] for t in services.tokens.list() if t["name"] == "Bob's CI") == ["bob-s-ci", "bob-s-ci-2"]
    # A revoked token's name may be handed on (the same user, a new token).
    alice_id = next(t["id"] for t in services.tokens.list() if t["user"] == "alice")
    services.tokens.revoke(alice_id)
    services.tokens.create("Alice's new laptop", ["read"], user="alice")


def test_the_cli_takes_a_user_and_refuses_a_taken_one(tmp_path, monkeypatch):
    from stoker.cli import main

    monkeypatch.setenv("STOKER_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    made = runner.invoke(main, ["token", "create", "Carol's token", "--scope", "read", "--user", "carol",
                                "--data-dir", str(tmp_path / "data")])
    assert made.exit_code == 0, made.output
    again = runner.invoke(main, ["token", "create", "other", "--scope", "read", "--user", "carol",
                                 "--data-dir", str(tmp_path / "data")])
    assert again.exit_code != 0 and "'carol' is taken" in again.output
    listed = runner.invoke(main, ["token", "list", "--data-dir", str(tmp_path / "data")])
    assert "carol" in listed.output and "Carol's token" in listed.output


def test_the_migration_gives_old_tokens_user_names_and_moves_their_clusters(tmp_path):
    from alembic import command

    from stoker.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(db.alembic_config(), "0010_cluster_duties")
    command.upgrade(db.alembic_config(), "heads")  # everything else but 0011
    command.downgrade(db.alembic_config(), "0010_cluster_duties")
    with db.write() as conn:
        for i, name in enumerate(["admin (STOKER_ADMIN_TOKEN)", "Dave's laptop", "dave's  laptop"]):
            conn.execute(sa.text("INSERT INTO tokens (id, name, token_hash, scopes, created_at) "
                                 "VALUES (:id, :name, :hash, 'admin', :at)"),
                         {"id": f"t{i}", "name": name, "hash": f"h{i}", "at": float(i)})
        conn.execute(sa.text("INSERT INTO products (name, version, options, created_at, updated_at) "
                             "VALUES ('external', '1', '{}', 0, 0)"))
        conn.execute(sa.text(
            "INSERT INTO clusters (id, owner, product, version, number, status, options, spec, orchestrator, "
            "needs_cores, needs_mem, created_at, updated_at) VALUES ('c1', 'admin (STOKER_ADMIN_TOKEN)', "
            "'external', '1', 1, 'ready', '{}', '{}', 'external', 0, 0, 0, 0)"))
    command.upgrade(db.alembic_config(), "heads")
    with db.read() as conn:
        users = dict(conn.execute(sa.text("SELECT name, user_name FROM tokens")).all())
        owner = conn.execute(sa.text("SELECT owner FROM clusters")).scalar()
    assert users == {"admin (STOKER_ADMIN_TOKEN)": "admin", "Dave's laptop": "dave-s-laptop",
                     "dave's  laptop": "dave-s-laptop-2"}
    assert owner == "admin"
    assert user_slug("Alice's laptop") == "alice-s-laptop"
    db.dispose()
