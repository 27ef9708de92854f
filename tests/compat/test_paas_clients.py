"""What the original Big Data PaaS's clients read (its web UI, scripts written against its
endpoints.py): absolute queue URLs, the queue's 303 with a body, clusters as {"result", "uri",
"data"} at every list level, template/orchestrator/logo reads, node disks and networks, service
dn and status, and the original's error body on unknown paths and methods. Stoker's own fields stay
beside the original's; the native /api/v1 shapes are unchanged."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from tests.compat.test_paas import P, wait_status


@pytest.fixture
def paas(services):
    from fastapi.testclient import TestClient
    from tests.conftest import ADMIN_TOKEN

    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False))
    with TestClient(app, headers={"x-auth-token": ADMIN_TOKEN}) as client:
        yield client

# The original's tests/templates/minimal.json, with `cpu`/`mem` it had, `dnsname` rendered from
# {{ clusterid }} as its templates did; an external master so no process is needed here.
TEMPLATE = """{% set comma = joiner(",") %}
{
  "dnsname": "{{ clusterid }}",
  "nodes": {
      {% for n in range(0, opts['size']) %}
      {{ comma() }} "example{{ n }}": {
          "cpu": 1, "mem": 256,
          "disks": {"disk4": {"destination": "/storage1"}, "disk5": {"destination": "/storage2"}},
          "networks": {"eth0": {"type": "dynamic", "networkname": "admin"}}
      }
      {% endfor %}
  },
  "services": {
      "service1": {
          "nodes": [{% set comma = joiner(",") %}{% for n in range(0, opts['size']) %}{{ comma() }}"example{{ n }}"\
{%- endfor %}]
      }
  }
}
"""
OPTIONS = {"required": {"master": None}, "optional": {"size": 2}, "advanced": {},
           "descriptions": {"size": "number of worker nodes"}}
OWNER = "admin"


def make_reference(paas, version="1.0.0"):
    assert paas.post(f"{P}/products", json={"name": "reference", "version": version,
                                            "description": "Reference product: minimal"}).status_code == 201
    # Template first, options second: the template reads opts['size'], which no option defines yet.
    r = paas.put(f"{P}/products/reference/{version}/template", content=TEMPLATE,
                 headers={"content-type": "application/json"})
    assert r.status_code == 204 and "size" in r.headers["warning"]
    assert paas.put(f"{P}/products/reference/{version}/options", json=OPTIONS).status_code == 204
    assert paas.put(f"{P}/products/reference/{version}/orchestrator", json={"name": "external"}).status_code == 204


def launch(paas, version="1.0.0", size=2):
    r = paas.post(f"{P}/products/reference/{version}", json={"size": size, "master": "spark://10.0.0.9:7077"})
    assert r.status_code == 202, r.text
    return r


def test_a_launch_is_followed_through_its_absolute_queue_url(paas):
    make_reference(paas)
    r = launch(paas)
    body = r.json()
    assert body["url"].startswith("http://testserver/") and body["url"] == r.headers["location"]
    assert set(body) >= {"url", "id", "status", "links"}
    queued = paas.get(body["url"], follow_redirects=False)  # a client GETs the URL as given
    assert queued.status_code == 303
    cluster_url = f"http://testserver{P}/clusters/{quote(OWNER)}/reference/1.0.0/1"
    assert queued.json()["status"] == "registered" and queued.json()["url"] == cluster_url
    assert queued.headers["location"] == cluster_url
    followed = paas.get(body["url"])  # and the redirect lands on the cluster
    assert followed.status_code == 200 and followed.json()["result"] == "success"
    assert paas.get(f"{P}/queue/no-such-entry").json() == {
        "status": 404, "error": "not found", "message": "no cluster with id 'no-such-entry'"}


def test_clusters_read_in_the_originals_shape_at_every_level(paas):
    make_reference(paas)
    first = launch(paas).json()["id"]
    wait_status(paas, first, ("ready",))
    dn = f"clusters/{OWNER}/reference/1.0.0/1"
    cluster = paas.get(f"{P}/{quote(dn)}").json()
    assert cluster["result"] == "success" and cluster["uri"] == dn
    # data.name is the template's dnsname, rendered from {{ clusterid }} with the cluster's real id.
    assert cluster["data"] == {"name": first, "dn": dn, "status": "ready"}
    assert cluster["uri"].split("/")[2:5] == ["reference", "1.0.0", "1"]  # how the web UI reads it
    assert cluster["id"] == first and cluster["master_url"] == "spark://10.0.0.9:7077"  # Stoker's own, beside
    second = launch(paas).json()["id"]
    paas.post(f"{P}/products", json={"name": "reference", "version": "2.0"})
    for path in (f"/clusters/{quote(OWNER)}", f"/clusters/{quote(OWNER)}/reference",
                 f"/clusters/{quote(OWNER)}/reference/1.0.0", "/clusters"):
        listed = paas.get(P + path)
        assert listed.status_code == 200, path
        items = listed.json()["clusters"]
        assert [c["id"] for c in items] == [first, second], path
        assert all(c["result"] == "success" and set(c["data"]) == {"name", "dn", "status"} for c in items)
    assert paas.get(f"{P}/clusters/{quote(OWNER)}/reference/2.0").json() == {"clusters": []}
    assert paas.get(f"{P}/clusters/{quote(OWNER)}/nothing").json() == {"clusters": []}
    # Destroyed clusters stay listed, as the original's UI shows them: inactive.
    assert paas.delete(f"{P}/{quote(dn)}").json() == {"message": "success"}
    items = paas.get(f"{P}/clusters/{quote(OWNER)}/reference").json()["clusters"]
    assert (items[0]["id"], items[0]["data"]["status"]) == (first, "destroyed")
    # The native API keeps its own shape.
    native = paas.get(f"/api/v1/clusters/{first}").json()
    assert "result" not in native and "data" not in native and native["status"] == "destroyed"


def test_nodes_keep_the_templates_disks_and_networks_and_services_have_dn_and_status(paas):
    make_reference(paas)
    wait_status(paas, launch(paas).json()["id"], ("ready",))
    base = f"{P}/clusters/{quote(OWNER)}/reference/1.0.0/1"
    nodes = paas.get(f"{base}/nodes").json()["nodes"]
    assert [n["name"] for n in nodes] == ["example0", "example1"]
    node = nodes[0]
    assert node["dn"] == f"clusters/{OWNER}/reference/1.0.0/1/nodes/example0"
    assert node["cpu"] == 1 and node["mem"] == 256
    assert node["disks"] == [{"name": "disk4", "host": None, "destination": "/storage1"},
                             {"name": "disk5", "host": None, "destination": "/storage2"}]
    assert node["networks"] == [{"name": "eth0", "address": None, "type": "dynamic", "networkname": "admin"}]
    services = paas.get(f"{base}/services").json()["services"]
    assert services == [{"name": "service1", "nodes": ["example0", "example1"], "role": None, "conf": {},
                         "dn": f"clusters/{OWNER}/reference/1.0.0/1/services/service1", "status": "ready"}]


def test_template_orchestrator_and_logo_read_back_and_product_info_has_dn(paas):
    make_reference(paas)
    assert paas.get(f"{P}/products/reference/1.0.0/template").json() == TEMPLATE  # a JSON string, as jsonify gave
    for spelling in ("orchestrator", "orquestrator"):
        assert paas.get(f"{P}/products/reference/1.0.0/{spelling}").json() == "external"
    assert paas.get(f"{P}/products/reference/1.0.0/logo_url").json() == ""
    assert paas.put(f"{P}/products/reference/1.0.0/logo_url",
                    json={"logo_url": "https://example.org/ref.png"}).status_code == 204
    r = paas.put(f"{P}/products/reference/1.0.0/logo_url", json={"logo": "x"})
    assert r.status_code == 422 and "logo_url" in r.json()["message"]
    product = paas.get(f"{P}/products/reference/1.0.0").json()
    assert product["dn"] == "products/reference/1.0.0" and product["logo_url"] == "https://example.org/ref.png"
    assert product["name"] == "reference" and product["version"] == "1.0.0"
    paas.post(f"{P}/products", json={"name": "bare", "version": "1"})
    assert paas.get(f"{P}/products/bare/1/template").json() == ""
    assert paas.get(f"{P}/products/bare/1/orchestrator").json() == ""
    assert paas.get(f"{P}/products/nope/1/template").status_code == 404


def test_template_and_options_may_be_put_in_either_order(paas):
    paas.post(f"{P}/products", json={"name": "order", "version": "1"})
    # Options first, then a template that reads an option they do not define: accepted, said so.
    assert paas.put(f"{P}/products/order/1/options", json={"required": {}, "optional": {"size": 1},
                                                              "advanced": {}, "descriptions": {}}).status_code == 204
    r = paas.put(f"{P}/products/order/1/template",
                 content='{"nodes": {"a": {"cpu": {{ opts["cores"] }}, "mem": 128}}}')
    assert r.status_code == 204 and "'cores'" in r.headers["warning"] and "launch" in r.headers["warning"]
    # Options that now give every variable: the template is rendered and checked at once.
    r = paas.put(f"{P}/products/order/1/options", json={"required": {}, "optional": {"size": 1, "cores": 0},
                                                           "advanced": {}, "descriptions": {}})
    assert r.status_code == 422 and "nodes.a.cpu" in r.json()["message"]
    r = paas.put(f"{P}/products/order/1/options", json={"required": {}, "optional": {"size": 1, "cores": 2},
                                                           "advanced": {}, "descriptions": {}})
    assert r.status_code == 204 and "warning" not in r.headers
    # A syntax error is refused whatever the options.
    r = paas.put(f"{P}/products/order/1/template", content='{"nodes": {% if %}}')
    assert r.status_code == 422 and "syntax" in r.json()["message"]


def test_unknown_paths_and_methods_answer_the_originals_error_body(paas):
    r = paas.get(f"{P}/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"status": 404, "error": "not found", "message": "invalid resource URI"}
    r = paas.patch(f"{P}/products/spark-standalone/4.3/template")
    assert r.status_code == 405 and r.json()["error"] == "method not supported"
    assert set(r.headers["allow"].split(", ")) == {"GET", "PUT"}
    # A path two templates match names the methods of its own, the most literal one: a cluster's
    # repair is POST only, though `clusters/{user}/{product}` (GET) matches it too.
    r = paas.options(f"{P}/clusters/abc/repair")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert paas.get("/api/v1/no-such-route").json() == {"detail": "Not Found"}  # the native API keeps its own
