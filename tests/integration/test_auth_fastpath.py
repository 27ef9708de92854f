"""The per-request shortcuts of the API keep its guarantees: a cached token stops working when it is
revoked, the headers are read as before, reads answer what the database holds."""

from __future__ import annotations

import threading

from starlette.datastructures import Headers

from stoker.api.auth import SECURITY_SCHEMES, token_of
from stoker.store.db import Database
from stoker.store.tokens import TokenCache, TokenStore, hash_token


def _store(tmp_path) -> TokenStore:
    db = Database(f"sqlite:///{tmp_path / 'stoker.db'}")
    db.upgrade()
    return TokenStore(db)


def test_a_revoke_in_this_process_empties_the_cache_at_once(tmp_path):
    tokens = _store(tmp_path)
    cache = TokenCache(tokens, ttl_seconds=3600)
    token = tokens.create("reader", ["read"])
    principal = cache.lookup(token)
    assert principal is not None and cache.cached(token)[:2] == (True, principal)
    assert tokens.revoke(principal.token_id)
    assert cache.cached(token)[0] is False
    assert cache.lookup(token) is None


def test_a_revoke_elsewhere_takes_effect_within_the_ttl(tmp_path):
    tokens = _store(tmp_path)
    other_process = TokenStore(tokens.db)  # its revoke is not seen by this process's store
    cache = TokenCache(tokens, ttl_seconds=0.2)
    token = tokens.create("reader", ["read"])
    principal = cache.lookup(token)
    assert principal is not None
    assert other_process.revoke(principal.token_id)
    assert cache.lookup(token) == principal  # still cached: at most ttl_seconds
    threading.Event().wait(0.25)
    assert cache.lookup(token) is None


def test_the_cache_keeps_hashes_not_tokens(tmp_path):
    tokens = _store(tmp_path)
    cache = TokenCache(tokens)
    token = tokens.create("reader", ["read"])
    cache.lookup(token)
    cache.lookup("stk_unknown")
    assert set(cache._entries) == {hash_token(token), hash_token("stk_unknown")}
    assert cache.cached("stk_unknown")[:2] == (True, None)


def test_the_token_is_read_from_the_headers_as_before():
    def of(**headers: str) -> str | None:
        return token_of(Headers(headers={k.replace("_", "-"): v for k, v in headers.items()}))

    assert of(authorization="Bearer stk_a") == "stk_a"
    assert of(authorization="bearer   stk_a  ") == "stk_a"
    assert of(authorization="Basic dXNlcg==", x_api_key="stk_b") == "stk_b"
    assert of(authorization="", x_api_key="stk_b") == "stk_b"
    assert of(authorization="Bearer ", x_auth_token="stk_c") == "stk_c"
    assert of(x_api_key="", x_auth_token="stk_c") == "stk_c"
    assert of(authorization="Bearer stk_a", x_api_key="stk_b") == "stk_a"
    assert of() is None and of(x_api_key="") is None


def test_revoked_tokens_are_refused_by_the_api_at_once_after_a_ui_revoke(api, services):
    token = services.tokens.create("reader", ["read"])
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/runs", headers=headers).status_code == 200
    principal = services.tokens.lookup(token)
    assert principal is not None and services.tokens.revoke(principal.token_id)
    response = api.get("/api/v1/runs", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_the_openapi_document_names_every_way_to_send_the_token(api):
    doc = api.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"] == SECURITY_SCHEMES
    assert {s["name"] for s in SECURITY_SCHEMES.values() if "name" in s} == {"X-API-Key", "X-Auth-Token"}
    assert doc["paths"]["/api/v1/runs/{run_id}"]["get"]["security"] == [{n: []} for n in SECURITY_SCHEMES]
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_fast_reads_answer_what_the_database_holds(api):
    api.post("/api/v1/jobs", json={"name": "slow", "steps": [["noop"]]})
    run_id = api.post("/api/v1/jobs/slow/runs", json={}).json()["id"]
    response = api.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["id"] == run_id
    assert api.get(f"/jobs/status/{run_id}").json()["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")
    missing = api.get("/jobs/status/no-such-run")
    assert missing.status_code == 404 and missing.json() == {"status": "NOT_FOUND"}
    assert api.get("/api/v1/runs/no-such-run").status_code == 404


def test_sqlite_reads_stay_on_the_event_loop_and_postgres_reads_go_to_a_thread(tmp_path):
    import asyncio
    from types import SimpleNamespace

    from stoker.api.fastpath import read_now

    def where(plan: object, *, quick: bool = False) -> tuple[int, bool]:
        return threading.get_ident(), quick

    here = threading.get_ident()
    sqlite = SimpleNamespace(is_sqlite=True, read_plan=where)
    postgres = SimpleNamespace(is_sqlite=False, read_plan=where, loop_pool=lambda: None)
    assert asyncio.run(read_now(sqlite, "plan")) == (here, True)  # type: ignore[arg-type]
    thread, quick = asyncio.run(read_now(postgres, "plan"))  # type: ignore[arg-type]
    assert thread != here and not quick
