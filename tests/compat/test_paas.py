"""The Big Data PaaS API (seed-apis.md §2) as its clients call it: products, templates, options,
orchestrators, launches and their errors. Clusters here are `external` (no process); the real
Spark standalone clusters are tested in tests/e2e/test_clusters.py."""

from __future__ import annotations

import time
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from tests.conftest import ADMIN_TOKEN
from tests.unit.test_clusters_units import MINIMAL_OPTIONS, MINIMAL_TEMPLATE

P = "/bigdata/api/v1"


@pytest.fixture
def paas(services):
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False))
    with TestClient(app, headers={"x-auth-token": ADMIN_TOKEN}) as client:  # the original's header
        yield client


def wait_status(client, cluster_id, statuses, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/v1/clusters/{cluster_id}").json()
        if view["status"] in statuses:
            return view
        assert time.monotonic() < deadline, f"cluster {cluster_id} stuck in {view['status']}: {view['reason']}"
        time.sleep(0.05)


def test_the_seed_walkthrough_registers_a_product_and_refuses_uploaded_code(paas):
    r = paas.post(f"{P}/products", json={"name": "cdh", "version": "5.7.0", "description": "Cloudera",
                                          "logo_url": "https://example.org/cdh.png"})
    assert r.status_code == 201
    assert r.headers["location"] == f"http://testserver{P}/products/cdh/5.7.0"  # absolute, as url_for(_external)
    assert "cdh" in paas.get(f"{P}/products").json()["products"]
    assert paas.get(f"{P}/products/cdh").json() == {"versions": ["5.7.0"]}
    r = paas.put(f"{P}/products/cdh/5.7.0/template", content=MINIMAL_TEMPLATE,
                 headers={"content-type": "application/json"})
    assert r.status_code == 204, r.text
    assert paas.put(f"{P}/products/cdh/5.7.0/options", json=MINIMAL_OPTIONS).status_code == 204
    assert paas.get(f"{P}/products/cdh/5.7.0/options").json() == MINIMAL_OPTIONS
    for spelling in ("orquestrator", "orchestrator"):
        r = paas.put(f"{P}/products/cdh/5.7.0/{spelling}", files={"file": ("fabfile.py", b"from fabric import *")})
        assert r.status_code == 422
        body = r.json()
        assert body["status"] == 422 and body["error"].startswith("unprocessable")
        assert "never runs code sent by clients" in body["message"] and "local" in body["message"]
    r = paas.put(f"{P}/products/cdh/5.7.0/orchestrator", json={"name": "ansible"})
    assert r.status_code == 422 and "installed" in r.json()["message"]
    product = paas.get(f"{P}/products/cdh/5.7.0").json()
    assert product["orchestrator"] is None and product["options"] == MINIMAL_OPTIONS
    # Its nodes name docker images: the `containers` orchestrator, which needs a container runtime
    # (none here; tests/containers/test_cluster_containers.py launches on real Podman).
    r = paas.post(f"{P}/products/cdh/5.7.0", json={"size": 2})
    assert r.status_code == 503 and "containers orchestrator" in r.json()["message"]
    # Choosing `local` does not make a Spark cluster out of it: refused, saying why.
    assert paas.put(f"{P}/products/cdh/5.7.0/orquestrator", json={"name": "local"}).status_code == 204
    r = paas.post(f"{P}/products/cdh/5.7.0", json={"size": 2})
    assert r.status_code == 422 and "master" in r.json()["message"]
    assert paas.get("/api/v1/clusters").json()["clusters"] == []  # nothing was registered


def test_errors_use_the_originals_body(paas):
    r = paas.get(f"{P}/products/nope/1")
    assert r.status_code == 404
    assert r.json() == {"status": 404, "error": "not found", "message": "no product nope version 1"}
    r = paas.get(f"{P}/clusters/no-such-user")
    assert r.json() == {"clusters": []}  # a user with no clusters
    r = paas.delete(f"{P}/clusters/4f1f5d3c-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json()["error"] == "not found"
    r = paas.get(f"{P}/products", headers={"x-auth-token": "stk_wrong"})
    assert r.status_code == 401 and r.json()["status"] == 401
    r = paas.post(f"{P}/products", json={"name": "bad name!", "version": "1"})
    assert r.status_code == 422 and "name" in r.json()["message"]
    paas.post(f"{P}/products", json={"name": "dup", "version": "1"})
    assert paas.post(f"{P}/products", json={"name": "dup", "version": "1"}).status_code == 409


def test_bad_templates_and_options_are_refused_and_change_nothing(paas):
    paas.post(f"{P}/products", json={"name": "t", "version": "1"})
    assert paas.put(f"{P}/products/t/1/options", json={"required": {}, "optional": {"size": 1},
                                                         "advanced": {}, "descriptions": {}}).status_code == 204
    r = paas.put(f"{P}/products/t/1/template", content='{\n"nodes": {{% for %}}\n}')
    assert r.status_code == 422 and "line 2" in r.json()["message"]
    r = paas.put(f"{P}/products/t/1/template", content='{"nodes": {"a": {"cpu": 1, "mem": {{ opts["memory"] }}}}}')
    # The options give no `memory` yet: checked for syntax, rendered at launch, and the answer says so.
    assert r.status_code == 204 and "memory" in r.headers["warning"]
    r = paas.post(f"{P}/products/t/1", json={"size": 1})
    assert r.status_code == 422 and "memory" in r.json()["message"]
    r = paas.put(f"{P}/products/t/1/template", content='{"nodes": {"a": {"cpu": 1, "mem": {{ user.x }}}}}')
    assert r.status_code == 422 and "x" in r.json()["message"]  # no option could ever define it
    r = paas.put(f"{P}/products/t/1/template", content='{"nodes": {"a": {"cpu": -1, "mem": 128}}}')
    assert r.status_code == 422 and "nodes.a.cpu" in r.json()["message"]
    assert "memory" in paas.get(f"{P}/products/t/1").json()["template"]  # the last good one
    r = paas.put(f"{P}/products/t/1/options", json={"required": {}, "optional": [], "advanced": {}})
    assert r.status_code == 422


def test_launch_options_are_checked_naming_the_option(paas):
    base = f"{P}/products/spark-standalone/4.3"
    for body, name in [({"size": 2, "colour": "red"}, "colour"), ({"size": "two"}, "size"),
                       ({"worker.mem": 1.5}, "worker.mem"), ({"size": 0}, "size")]:
        r = paas.post(base, json=body)
        assert r.status_code == 422, body
        assert name in r.json()["message"]
    r = paas.post(base, json={"size": 100_000})
    assert r.status_code == 422 and "from 1 to 1000" in r.json()["message"]
    r = paas.post(base, json={"size": 900})
    assert r.status_code == 422 and "can never fit" in r.json()["message"]
    r = paas.post(f"{P}/products/external/1", json={})
    assert r.status_code == 422 and "master" in r.json()["message"]
    assert paas.get("/api/v1/clusters").json()["clusters"] == []


def test_an_external_cluster_goes_through_the_lifecycle(paas, services):
    r = paas.post(f"{P}/products/external/1", json={"master": "spark://10.1.2.3:7077"})
    assert r.status_code == 202
    body = r.json()
    assert r.headers["location"] == body["url"] == f"http://testserver{P}/queue/{body['id']}"
    ready = wait_status(paas, body["id"], ("ready",))
    assert ready["master_url"] == "spark://10.1.2.3:7077" and ready["nodes"] == []
    assert [h["status"] for h in ready["history"]] == ["registered", "scheduling", "scheduled", "configuring",
                                                       "configured", "ready"]
    r = paas.get(body["url"], follow_redirects=False)
    assert r.status_code == 303
    path = unquote(r.headers["location"])
    assert path == f"http://testserver{P}/clusters/admin/external/1/1"
    assert r.json()["status"] == "registered" and r.json()["url"] == r.headers["location"]
    assert paas.get(r.headers["location"]).json()["id"] == body["id"]
    assert paas.get(f"{P}/clusters/{body['id']}").json()["status"] == "ready"
    owner = paas.get(f"{P}/clusters/admin").json()["clusters"]
    assert [c["id"] for c in owner] == [body["id"]]
    assert paas.get("/api/v1/clusters?status=ready&product=external").json()["clusters"][0]["id"] == body["id"]
    assert paas.get("/api/v1/clusters?status=sleeping").status_code == 422
    assert paas.delete(r.headers["location"]).json() == {"message": "success"}
    assert paas.get(f"/api/v1/clusters/{body['id']}").json()["status"] == "destroyed"
    # A second launch by the same user counts on: n = 2.
    again = paas.post(f"{P}/products/external/1", json={"master": "k8s://https://10.0.0.1:6443"}).json()
    assert unquote(again["links"]["cluster"]).endswith("/external/1/2")
    # Every transition is an outbox event, so SSE, webhooks and NATS see it.
    from stoker.store.tables import outbox

    with services.db.read() as conn:
        events = conn.execute(sa.select(outbox.c.event, outbox.c.payload).where(outbox.c.run_id.is_(None))
                              .order_by(outbox.c.seq)).all()
    mine = [e.event for e in events if e.payload["cluster_id"] == body["id"]]
    assert mine == ["cluster.registered", "cluster.scheduling", "cluster.scheduled", "cluster.configuring",
                    "cluster.configured", "cluster.ready", "cluster.destroyed"]


def test_native_products_api(api):
    products = {(p["name"], p["version"]) for p in api.get("/api/v1/products").json()["products"]}
    assert ("spark-standalone", "4.3") in products
    assert api.post("/api/v1/products", json={"name": "n", "version": "1"}).status_code == 201
    assert api.put("/api/v1/products/n/1/options", json=MINIMAL_OPTIONS).status_code == 204
    assert api.put("/api/v1/products/n/1/template", content=MINIMAL_TEMPLATE).status_code == 204
    assert api.put("/api/v1/products/n/1/orchestrator", content=b"#!/bin/sh\nrm -rf /",
                   headers={"content-type": "text/x-sh"}).status_code == 422
    product = api.get("/api/v1/products/n/1").json()
    assert product["template"] == MINIMAL_TEMPLATE and product["options"] == MINIMAL_OPTIONS
    assert api.get("/api/v1/clusters/nope").status_code == 404
