"""The seed APIs' examples with curl, as written, against a live server that grants their scopes to
requests without a token (STOKER_ANONYMOUS_SCOPES)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))  # the live server of the sink tests

from test_sinks_support import LiveServer

SATE_REQUEST = """{
    "payload": {
        "message": "ping",
        "parameterA": "valueA",
        "parameterB": false,
        "parameterC": ["abc", "xyz"],
        "parameterD": {"d1": 1, "d2": 2}
    }
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    live = LiveServer(tmp_path_factory.mktemp("curl") / "data", anonymous_scopes=("submit", "read", "worker"))
    yield live
    live.close()


def curl(*args: str) -> tuple[int, object]:
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    body, _, code = out.rpartition("\n")
    return int(code), (json.loads(body) if body else None)


def test_sate_readme_with_curl(server):
    code, req = curl("-X", "POST", f"{server.url}/requests", "-H", "Content-type: application/json",
                     "-d", SATE_REQUEST)
    assert code == 201 and req["payload"]["parameterC"] == ["abc", "xyz"]
    code, ex = curl("-X", "POST", f"{server.url}/requests/{req['id']}/executions",
                    "-H", "Content-type: application/json", "-d", '{"force_error": false}')
    assert code == 201 and ex["processing_request"] == req
    deadline = time.monotonic() + 30
    while True:
        code, results = curl(f"{server.url}/requests/{req['id']}/results")
        if results["results"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert code == 200 and results["results"][0]["outputs"] == {"message": "pong"}
    # curl -d without a Content-Type header (form-encoded, says curl) works too: the body is JSON.
    code, plain = curl("-X", "POST", f"{server.url}/requests", "-d", '{"payload": 1}')
    assert code == 201 and plain["payload"] == 1
    code, error = curl("-X", "POST", f"{server.url}/requests", "-d", "{not json")
    assert code == 422 and set(error) == {"message"}


def test_speedy_with_curl(server):
    body = ('{"options": {"s3": {"aws_access_key_id": "AK", "aws_secret_access_key": "SK"}}, '
            '"steps": [["sleep", 0], ["noop"]]}')
    code, submitted = curl("-X", "POST", f"{server.url}/jobs/submit", "-H", "Content-Type: application/json",
                           "-d", body)
    assert code == 200 and set(submitted) == {"job_id"}
    deadline = time.monotonic() + 30
    while True:
        code, status = curl(f"{server.url}/jobs/status/{submitted['job_id']}")
        if status["status"] not in ("QUEUED", "RUNNING"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert code == 200 and status == {"status": "SUCCEEDED"}
    assert curl(f"{server.url}/jobs/status/nope") == (404, {"status": "NOT_FOUND"})
    assert curl(f"{server.url}/jobs/pop") == (204, None)  # the embedded worker took it


PAAS_TEMPLATE = """{
  "nodes": {
  {%- for n in range(opts['size']) %}
    "example{{ n }}": {"docker_image": "docker-registry.cesga.es:5000/example:0.1.0", "cpu": 1, "mem": 1024}
    {%- if not loop.last %},{% endif %}
  {%- endfor %}
  },
  "services": {"example": {"nodes": [
    {%- for n in range(opts['size']) %}"example{{ n }}"{{ "," if not loop.last }}{% endfor -%}
  ]}}
}"""


def test_paas_walkthrough_with_curl(server, tmp_path):
    """The Big Data PaaS's calls with curl and its x-auth-token header (admin: products are the
    operator's); an uploaded fabfile is refused; an external cluster is launched, followed and destroyed."""
    from conftest import ADMIN_TOKEN

    base, auth = f"{server.url}/bigdata/api/v1", ("-H", f"x-auth-token: {ADMIN_TOKEN}")
    json_type = ("-H", "Content-Type: application/json")
    (tmp_path / "template.json").write_text(PAAS_TEMPLATE)
    (tmp_path / "options.json").write_text('{"required": {}, "optional": {"size": 2}, "advanced": {}, '
                                           '"descriptions": {"size": "number of worker nodes"}}')
    (tmp_path / "fabfile.py").write_text("from fabric.api import run\n")
    code, _ = curl("-X", "POST", *auth, "-d",  # curl -d without a JSON content type, as often typed
                   '{"name": "example", "version": "0.1.0", "description": "Example product"}', f"{base}/products")
    assert code == 201
    assert curl("-X", "PUT", *auth, "--data-binary", f"@{tmp_path / 'template.json'}",
                f"{base}/products/example/0.1.0/template")[0] == 204
    assert curl("-X", "PUT", *auth, "--data-binary", f"@{tmp_path / 'options.json'}",
                f"{base}/products/example/0.1.0/options")[0] == 204
    code, refused = curl("-X", "PUT", *auth, "-F", f"file=@{tmp_path / 'fabfile.py'}",
                         f"{base}/products/example/0.1.0/orquestrator")
    assert code == 422 and "never runs code sent by clients" in refused["message"]
    assert curl(*auth, f"{base}/products")[1]["products"] == ["example", "external", "spark-standalone"]
    assert curl(*auth, f"{base}/products/example")[1] == {"versions": ["0.1.0"]}
    code, launched = curl("-X", "POST", *auth, *json_type, "-d", '{"master": "spark://10.0.0.5:7077"}',
                          f"{base}/products/external/1")
    assert code == 202 and launched["url"] == f"{base}/queue/{launched['id']}"  # absolute, as the original's
    code, queued = curl(*auth, launched["url"])
    assert code == 303 and queued["status"] == "registered" and queued["url"].endswith("/external/1/1")
    code, cluster = curl("-L", *auth, launched["url"])
    assert code == 200 and cluster["id"] == launched["id"] and cluster["result"] == "success"
    assert cluster["data"]["dn"] == cluster["uri"] and cluster["uri"].endswith("/external/1/1")
    assert curl("-X", "DELETE", *auth, f"{base}/clusters/{launched['id']}") == (200, {"message": "success"})
    code, missing = curl(*auth, f"{base}/products/nope/1")
    assert code == 404 and missing["error"] == "not found"


# The original PaaS's own README and tests/register_templates.sh: its minimal.json and
# options/size.json, byte for byte (the template's docker image is its own).
ORIGINAL_MINIMAL_JSON = """{% set comma = joiner(",") %}
{
  "dnsname": "{{ clusterid }}",
  "nodes": {
      {% for n in range(0, opts['size']) %}
      {{ comma() }} "example{{ n }}": {
          "docker_image": "centos:7.1.1503",
          "cpu": 1,
          "mem": 4096,
          "disks": {\x20
              "disk4": { "destination": "/storage1" },
              "disk5": { "destination": "/storage2" }\x20
          },
          "networks": {
              "eth0": { "type": "dynamic", "networkname": "admin" },
              "eth1": { "type": "dynamic", "networkname": "storage" }
          }
      }
      {% endfor %}
  },
  "services": {
      "service1": {
          "nodes": [{% set comma = joiner(",") %}{% for n in range(0, opts['size']) %}{{ comma() }}"example{{ n }}"\
{% endfor %}]
      }
  }
}
"""
ORIGINAL_SIZE_JSON = """{
    "required": {
    },
    "optional": {
        "size": 2
    },
    "advanced": {
    },
    "descriptions": {
        "size": "number of worker nodes"
    }
}
"""


def test_the_original_paas_readme_with_curl(server, tmp_path):
    """register_templates.sh's calls as written (template before options; options sent without a
    JSON content type; the fabfile upload refused, Stoker's one deliberate difference), then the
    README's reads and the launch of submit_reference_product.sh."""
    from conftest import ADMIN_TOKEN

    base, auth = f"{server.url}/bigdata/api/v1", ("-H", f"x-auth-token: {ADMIN_TOKEN}")
    (tmp_path / "minimal.json").write_text(ORIGINAL_MINIMAL_JSON)
    (tmp_path / "size.json").write_text(ORIGINAL_SIZE_JSON)
    (tmp_path / "fabfile.py").write_text("from fabric.api import *\n\ndef start():\n    run('true')\n")
    code, _ = curl("-X", "POST", *auth, f"{base}/products", "-H", "Content-type: application/json", "-d",
                   '{"name":"reference", "version":"1.0.0", "description": "Reference product: minimal"}')
    assert code == 201
    assert curl("-X", "PUT", *auth, f"{base}/products/reference/1.0.0/template", "--data-binary",
                f"@{tmp_path / 'minimal.json'}", "-H", "Content-type: application/json")[0] == 204
    assert curl("-X", "PUT", *auth, f"{base}/products/reference/1.0.0/options", "--data-binary",
                f"@{tmp_path / 'size.json'}")[0] == 204
    code, refused = curl("-X", "PUT", *auth, f"{base}/products/reference/1.0.0/orquestrator", "--data-binary",
                         f"@{tmp_path / 'fabfile.py'}")
    assert code == 422 and refused["status"] == 422 and "never runs code sent by clients" in refused["message"]
    assert curl(*auth, f"{base}/products/reference/1.0.0/options")[1] == json.loads(ORIGINAL_SIZE_JSON)
    assert curl(*auth, f"{base}/products/reference/1.0.0/template")[1] == ORIGINAL_MINIMAL_JSON
    code, product = curl(*auth, f"{base}/products/reference/1.0.0")
    assert code == 200 and product["dn"] == "products/reference/1.0.0" and product["logo_url"] == ""
    # submit_reference_product.sh: its nodes name a docker image, so the `containers` orchestrator
    # runs them; this server has no container runtime, and says so (tests/containers has one).
    code, launched = curl("-X", "POST", *auth, "-H", "Content-type: application/json", "-d", '{"size": 3}',
                          f"{base}/products/reference/1.0.0")
    assert code == 503 and launched["status"] == 503 and "container" in launched["message"]
    code, missing = curl(*auth, f"{base}/clusters/admin/reference/1.0.0/1")
    assert code == 404 and missing["error"] == "not found"
    code, unknown = curl(*auth, f"{base}/services")  # the README's older /services path
    assert (code, unknown) == (404, {"status": 404, "error": "not found", "message": "invalid resource URI"})
