"""The hosts page (TestClient): every host with its capacity and the nodes on it; an admin
registers, drains, undrains and removes hosts, a read token only looks."""

from __future__ import annotations

import itertools

from test_hosts_api import running_node
from test_ui_pages import sign_in, ui  # noqa: F401  (the fixture)

from conftest import ADMIN_TOKEN

API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_hosts_page_shows_capacity_and_nodes_and_lets_an_admin_change_hosts(ui, services):  # noqa: F811
    csrf = sign_in(ui)
    page = ui.get("/ui/hosts")
    assert page.status_code == 200 and 'id="host-local"' in page.text and "this machine" in page.text
    made = ui.post("/ui/hosts", data={"csrf_token": csrf, "name": "node1", "endpoint": "tcp://10.250.0.11:8888",
                                      "cores": "2", "mem": "2048", "address": ""})
    assert made.status_code == 303, made.text
    bad = ui.post("/ui/hosts", data={"csrf_token": csrf, "name": "node2", "endpoint": "tcp://10.250.0.12:8888",
                                     "cores": "two", "mem": "2048"})
    assert bad.status_code == 422 and "cores must be a whole number" in bad.text
    assert ui.post("/ui/hosts", data={"name": "x", "endpoint": "tcp://a:1", "cores": "1",
                                      "mem": "128"}).status_code == 403  # no CSRF token
    assert ui.get("/api/v1/hosts/node2", headers=API).status_code == 404

    store = services.clusters.store  # a ready cluster with a worker on node1
    cluster = store.register(owner="alice", product="spark-standalone", version="4.3", size=1, options={},
                             spec={"nodes": {}}, orchestrator="local", needs=(1, 256))
    for before, after in itertools.pairwise(["registered", "scheduling", "scheduled", "configuring",
                                             "configured", "ready"]):
        store.transition(cluster.id, after, allowed_from=(before,))
    store.set_nodes(cluster.id, [running_node(cluster.id, "worker0", "node1")])
    page = ui.get("/ui/hosts").text
    row = page[page.index('id="host-node1"'):]
    row = row[:row.index("</tr>")]
    assert "1 / 2" in row and "256 / 2048" in row and f'href="/ui/clusters/{cluster.id}"' in row
    assert "worker0" in row and "10.250.0.11" in row
    assert 'href="/ui/hosts#host-node1"' in ui.get(f"/ui/clusters/{cluster.id}").text

    assert ui.post("/ui/hosts/node1/drain", data={"csrf_token": csrf}).status_code == 303
    assert ui.get("/api/v1/hosts/node1", headers=API).json()["state"] == "draining"
    busy = ui.post("/ui/hosts/node1/remove", data={"csrf_token": csrf})
    assert busy.status_code == 409 and cluster.id in busy.text
    assert ui.post("/ui/hosts/node1/undrain", data={"csrf_token": csrf}).status_code == 303
    assert ui.get("/api/v1/hosts/node1", headers=API).json()["state"] == "active"
    store.transition(cluster.id, "destroyed", allowed_from=("ready", "degraded"))  # the duties may see it dead
    assert ui.post("/ui/hosts/node1/remove", data={"csrf_token": csrf}).status_code == 303
    assert ui.get("/api/v1/hosts/node1", headers=API).status_code == 404


def test_a_read_token_sees_hosts_but_no_forms(ui, services):  # noqa: F811
    csrf = sign_in(ui, services.tokens.create("reader", ["read"]))
    page = ui.get("/ui/hosts").text
    assert 'id="host-local"' in page and "Register a host" not in page and "/ui/hosts/local/drain" not in page
    refused = ui.post("/ui/hosts/local/drain", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert ui.get("/api/v1/hosts/local", headers=API).json()["state"] == "active"
