"""The route matrix (docs/teams.md): every operation of the OpenAPI document × (no token, a member
of the token's team with each role, a server admin, the machine scopes) gets the answer the role
table says. The expected need of every operation is written here, apart from the code that declares
it, so a new route without its rule, or with a rule other than this table's, fails.

Answers checked: 401 without a token; 403 for a role below the need (or a missing scope); anything
but 401/403 for enough of both. Another team's resources answering 404 are
tests/integration/test_team_isolation.py's.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.api.auth import route_needs
from stoker.app import create_app
from stoker.core.teams import NEEDS, ROLES, rank

# What every operation needs (core/teams.py NEEDS), or `open`.
EXPECTED = {
    "POST /collect": "ingest",
    "GET /api/v1/spark/jobs": "read",
    "GET /api/v1/spark/jobs/{job_name}/runs": "read",
    "GET /api/v1/spark/jobs/{job_name}/runs/{run_id}/events": "read",
    "GET /api/v1/spark/jobs/{job_name}/runs/{run_id}/duration": "read",
    "GET /api/v1/spark/jobs/{job_name}/runs/{run_id}/summary": "read",
    "GET /healthz": "open",
    "GET /api/v1/functions": "read",
    "GET /api/v1/jobs": "read",
    "POST /api/v1/jobs": "edit",
    "GET /api/v1/jobs/{job}": "read",
    "PATCH /api/v1/jobs/{job}": "edit",
    "GET /api/v1/jobs/{job}/notifications": "read",
    "POST /api/v1/jobs/{job}/runs": "run",
    "GET /api/v1/jobs/{job}/runs": "read",
    "POST /api/v1/jobs/{job}/schedule/pause": "edit",
    "POST /api/v1/jobs/{job}/schedule/resume": "edit",
    "GET /api/v1/jobs/{job}/ticks": "read",
    "POST /api/v1/jobs/{job}/backfill": "run",
    "POST /api/v1/runs": "run",
    "GET /api/v1/runs": "read",
    "GET /api/v1/runs/{run_id}": "read",
    "POST /api/v1/runs/{run_id}/cancel": "run",
    "POST /api/v1/runs/{run_id}/retry": "run",
    "GET /api/v1/runs/{run_id}/result": "read",
    "GET /api/v1/runs/{run_id}/attempts/{number}": "read",
    "GET /api/v1/dead-letters": "read",
    "GET /api/v1/runs/{run_id}/log": "read",
    "POST /api/v1/batches": "run",
    "GET /api/v1/batches/{batch_id}": "read",
    "POST /api/v1/worker/claim": "worker",
    "POST /api/v1/worker/finish": "worker",
    "POST /api/v1/attempts/{attempt_id}/annotate": "worker",
    "POST /api/v1/attempts/{attempt_id}/heartbeat": "worker",
    "POST /api/v1/attempts/{attempt_id}/finish": "worker",
    "GET /metrics": "admin",  # server-wide, every team's jobs by name
    "POST /jobs/submit": "run",
    "GET /jobs/pop": "worker",
    "GET /jobs/status/{job_id}": "read",
    "POST /requests": "run",
    "POST /requests/{request_id}/executions": "run",
    "GET /requests/{request_id}/results": "read",
    "GET /executions/{execution_id}/results": "read",
    "GET /task/": "read",
    "POST /task/": "edit",
    "GET /task/{task_id}/": "read",
    "POST /task/{task_id}/": "run",
    "GET /result/": "read",
    "GET /result/{result_id}/": "read",
    "POST /result/{result_id}/": "run",
    "GET /result/{result_id}/detail/": "read",
    "GET /result/{result_id}/detail/{detail_id}/": "read",
    "GET /result/{result_id}/detail/{detail_id}/logs/": "read",
    "POST /collector/bulk": "ingest",
    "POST /collector/heartbeat": "ingest",
    "POST /collector/ack": "ingest",
    "GET /api/v1/products": "read",
    "POST /api/v1/products": "admin",
    "GET /api/v1/products/{name}/{version}": "read",
    "POST /api/v1/products/{name}/{version}/clusters": "edit",
    "GET /api/v1/cluster-duties": "read",
    "POST /api/v1/hosts": "admin",  # machines are the server's, not a team's
    "GET /api/v1/hosts": "read",
    "GET /api/v1/hosts/{name}": "read",
    "POST /api/v1/hosts/{name}/drain": "admin",
    "POST /api/v1/hosts/{name}/undrain": "admin",
    "DELETE /api/v1/hosts/{name}": "admin",
    "GET /api/v1/clusters": "read",
    "GET /api/v1/clusters/{cluster_id}": "read",
    "DELETE /api/v1/clusters/{cluster_id}": "edit",
    "GET /api/v1/clusters/{cluster_id}/nodes": "read",
    "POST /api/v1/clusters/{cluster_id}/repair": "edit",
    "PUT /api/v1/products/{name}/{version}/template": "admin",
    "PUT /api/v1/products/{name}/{version}/options": "admin",
    "PUT /api/v1/products/{name}/{version}/orchestrator": "admin",
    "GET /bigdata/api/v1/products": "read",
    "POST /bigdata/api/v1/products": "admin",
    "GET /bigdata/api/v1/products/{name}": "read",
    "GET /bigdata/api/v1/products/{name}/{version}": "read",
    "POST /bigdata/api/v1/products/{name}/{version}": "edit",
    "PUT /bigdata/api/v1/products/{name}/{version}/template": "admin",
    "GET /bigdata/api/v1/products/{name}/{version}/template": "read",
    "PUT /bigdata/api/v1/products/{name}/{version}/options": "admin",
    "GET /bigdata/api/v1/products/{name}/{version}/options": "read",
    "PUT /bigdata/api/v1/products/{name}/{version}/orquestrator": "admin",
    "GET /bigdata/api/v1/products/{name}/{version}/orquestrator": "read",
    "PUT /bigdata/api/v1/products/{name}/{version}/orchestrator": "admin",
    "GET /bigdata/api/v1/products/{name}/{version}/orchestrator": "read",
    "GET /bigdata/api/v1/products/{name}/{version}/logo_url": "read",
    "PUT /bigdata/api/v1/products/{name}/{version}/logo_url": "admin",
    "GET /bigdata/api/v1/queue/{queue_id}": "read",
    "GET /bigdata/api/v1/clusters": "read",
    "GET /bigdata/api/v1/clusters/{ref}": "read",
    "DELETE /bigdata/api/v1/clusters/{ref}": "edit",
    "POST /bigdata/api/v1/clusters/{cluster_id}/repair": "edit",
    "GET /bigdata/api/v1/clusters/{user}/{product}": "read",
    "GET /bigdata/api/v1/clusters/{user}/{product}/{version}": "read",
    "GET /bigdata/api/v1/clusters/{user}/{product}/{version}/{n}": "read",
    "DELETE /bigdata/api/v1/clusters/{user}/{product}/{version}/{n}": "edit",
    "GET /bigdata/api/v1/clusters/{user}/{product}/{version}/{n}/nodes": "read",
    "GET /bigdata/api/v1/clusters/{user}/{product}/{version}/{n}/services": "read",
    "GET /api/v1/events/stream": "read",
    "GET /api/v1/webhooks": "manage",
    "POST /api/v1/webhooks": "manage",
    "GET /api/v1/webhooks/{webhook_id}": "manage",
    "DELETE /api/v1/webhooks/{webhook_id}": "manage",
    "GET /api/v1/secrets": "read",
    "POST /api/v1/secrets": "edit",
    "GET /api/v1/secrets/{name}": "read",
    "PUT /api/v1/secrets/{name}": "edit",
    "DELETE /api/v1/secrets/{name}": "edit",
    "GET /api/v1/files": "read",
    "GET /api/v1/files/{path}/preview": "read",
    "GET /api/v1/files/{path}": "read",
    "PUT /api/v1/files/{path}": "edit",
    "DELETE /api/v1/files/{path}": "edit",
    "GET /api/v1/me": "read",
    "GET /api/v1/teams": "read",
    "POST /api/v1/teams": "admin",
    "GET /api/v1/teams/{team}": "read",
    "PUT /api/v1/teams/{team}/quotas": "admin",
    "GET /api/v1/teams/{team}/members": "read",
    "PUT /api/v1/teams/{team}/members/{user}": "manage",
    "DELETE /api/v1/teams/{team}/members/{user}": "manage",
    "GET /api/v1/tokens": "manage",
    "POST /api/v1/tokens": "manage",
    "DELETE /api/v1/tokens/{token_id}": "manage",
    "GET /api/v1/audit": "manage",
}

# Answered, but never finishing (the SSE stream): checked for refusals only.
ENDLESS = {"GET /api/v1/events/stream"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def operations(app) -> list[str]:
    return [f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops]


@pytest.fixture
def matrix(services):
    app = create_app(services)  # no background duties: only the decisions are under test
    services.teams.create("red")
    tokens = {role: services.tokens.create(f"red {role}", ["read", "submit"], user=f"red-{role}", team="red",
                                           role=role) for role in ROLES}
    tokens["worker"] = services.tokens.create("red worker", ["worker"], user="red-worker", team="red")
    tokens["ingest"] = services.tokens.create("red ingest", ["ingest"], user="red-ingest", team="red")
    tokens["admin"] = ADMIN_TOKEN
    with TestClient(app) as client:
        yield app, client, tokens


def test_every_operation_has_its_rule_in_the_table(matrix):
    app, _client, _tokens = matrix
    found = operations(app)
    missing = sorted(set(found) - set(EXPECTED))
    assert not missing, "operations without a rule in EXPECTED (add them, with the need they should have):\n" + \
        "\n".join(missing)
    gone = sorted(set(EXPECTED) - set(found))
    assert not gone, f"rules of operations that are gone: {gone}"
    declared = {}
    for path, methods, needs in route_needs(app.routes):
        for method in methods:
            declared[f"{method} {path.replace(':path', '')}"] = needs
    wrong = [f"{op}: declares {sorted(declared.get(op, set()))}, the table says {need}"
             for op, need in EXPECTED.items()
             if (need == "open" and declared.get(op)) or
                (need != "open" and {NEEDS[n].name for n in declared.get(op, set())} != {need})]
    assert not wrong, "\n".join(wrong)


def expected_status(need: str, who: str) -> str:
    """`refused` (403), `allowed` (anything but 401/403)."""
    if need == "open":
        return "allowed"
    wanted = NEEDS[need]
    if who == "admin":
        return "allowed"
    if who in ("worker", "ingest"):
        return "allowed" if wanted.scope == who else "refused"
    if wanted.role is None:  # admin, worker, ingest: no role is enough
        return "refused"
    return "allowed" if rank(who) >= rank(wanted.role) else "refused"


def test_every_operation_answers_each_principal_as_the_role_table_says(matrix):
    app, client, tokens = matrix
    problems, checked = [], 0
    for op in operations(app):
        method, path = op.split(" ", 1)
        need = EXPECTED[op]
        url = concrete(path)
        anonymous = client.request(method, url, json={})
        if need == "open":
            assert anonymous.status_code < 400, f"{op} is open, answered {anonymous.status_code}"
            continue
        if anonymous.status_code != 401:
            problems.append(f"{op} without a token: {anonymous.status_code}")
        for who, token in tokens.items():
            want = expected_status(need, who)
            if want == "allowed" and op in ENDLESS:
                continue
            response = client.request(method, url, json={}, headers={"Authorization": f"Bearer {token}"})
            got = response.status_code
            ok = got == 403 if want == "refused" else got not in (401, 403)
            if not ok:
                problems.append(f"{op} as {who}: {got} (expected {want}) {response.text[:160]}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 600  # the matrix really was walked
