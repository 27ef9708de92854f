"""The Delight agent's protocol (compat/delight.py): bulks, heartbeats and acks built byte for byte
as the agent builds them (its StreamingPayload, Counters, DmAppId and Utils.compressString, read from
the datamechanics/delight source), landing in the collector's store where the four queries read
them; its retries, its X-API-key, and the answers its retry logic acts on. The agent's jar is on no
registry reachable here (Maven Central only): test_the_agents_own_http_calls replays its HTTP calls
with the same JDK and Apache HttpClient classes, compiled with javac against pyspark's jars."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from tests.conftest import ADMIN_TOKEN

APP_ID = "spark-pi-6f1c1b0e-8d2a-4a57-9a63-2f5e3f2f9c11"  # Configs.generateDMAppId: <app name>-<uuid>
JOB = "spark-pi"
LOG_START = '{"Event":"SparkListenerLogStart","Spark Version":"4.3.0"}'
APP_START = ('{"Event":"SparkListenerApplicationStart","App Name":"Spark Pi","App ID":"local-1700000000000",'
             '"Timestamp":1700000000000,"User":"spark"}')
JOB_START = ('{"Event":"SparkListenerJobStart","Job ID":0,"Submission Time":1700000001000,"Stage Infos":[],'
             '"Stage IDs":[],"Properties":{}}')
JOB_END = ('{"Event":"SparkListenerJobEnd","Job ID":0,"Completion Time":1700000002000,'
           '"Job Result":{"Result":"JobSucceeded"}}')
APP_END = '{"Event":"SparkListenerApplicationEnd","Timestamp":1700000004500}'


def compress_string(text: str) -> bytes:
    """Utils.compressString: java.util.zip.GZIPOutputStream's bytes (no name, mtime 0, OS 255,
    deflate at zlib's default level), checked against the JDK in test_the_agents_own_http_calls."""
    data = text.encode("utf-8")
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflater.compress(data) + deflater.flush()
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + struct.pack("<II", zlib.crc32(data), len(data))


def bulk_body(events: list[str], message_counter: int, payload_counter: int, sent_at: int,
              app_id: str = APP_ID) -> bytes:
    """StreamingPayload.toJson rendered compact: merge(dmAppId, {sentAt, counters, data}), data =
    base64(gzip(events.mkString("", "\\n", "\\n"))); sent as a StringEntity (ISO-8859-1)."""
    data = base64.b64encode(compress_string("\n".join(events) + "\n")).decode()
    return (f'{{"dmAppId":{json.dumps(app_id)},"sentAt":{sent_at},"counters":{{"messageCounter":{message_counter},'
            f'"payloadCounter":{payload_counter}}},"data":"{data}"}}').encode("iso-8859-1")


def app_id_body(app_id: str = APP_ID) -> bytes:
    return f'{{"dmAppId":{json.dumps(app_id)}}}'.encode("iso-8859-1")  # DmAppId.toJson


AGENT_HEADERS = {"X-API-key": ADMIN_TOKEN, "Content-Type": "text/plain; charset=ISO-8859-1"}


def post(client, path: str, body: bytes, headers: dict[str, str] | None = None):
    return client.post(f"/collector/{path}", content=body, headers=headers or AGENT_HEADERS)


@pytest.fixture
def client(services):
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False))
    with TestClient(app) as c:  # no default token: the agent's X-API-key is the only one
        yield c


def read(client, path: str):
    return client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def test_an_application_lands_where_the_four_queries_see_it(client):
    r = post(client, "heartbeat", app_id_body())  # the heartbeat thread may speak first
    assert (r.status_code, r.json()) == (200, {"status": "heartbeat"})
    r = post(client, "bulk", bulk_body([LOG_START, APP_START, JOB_START], 3, 1, 1700000001500))
    assert (r.status_code, r.json()) == (200, {"status": "stored", "events": 3})
    r = post(client, "bulk", bulk_body([JOB_END, APP_END], 5, 2, 1700000004600))
    assert (r.status_code, r.json()) == (200, {"status": "stored", "events": 2})
    assert post(client, "ack", app_id_body()).json() == {"status": "ack"}
    assert JOB in read(client, "/api/v1/spark/jobs").json()["jobs"]
    runs = read(client, f"/api/v1/spark/jobs/{JOB}/runs").json()["runs"]
    assert [(r["run_id"], r["event_count"]) for r in runs] == [(APP_ID, 5)]
    events = read(client, f"/api/v1/spark/jobs/{JOB}/runs/{APP_ID}/events")
    assert events.content.decode().splitlines() == [LOG_START, APP_START, JOB_START, JOB_END, APP_END]
    duration = read(client, f"/api/v1/spark/jobs/{JOB}/runs/{APP_ID}/duration").json()
    assert duration["duration_ms"] == 4500 and duration["state"] == "ended"
    summary = read(client, f"/api/v1/spark/jobs/{JOB}/runs/{APP_ID}/summary").json()
    assert summary["app_name"] == "Spark Pi" and summary["jobs"] == 1
    # A dmAppId set by hand (spark.delight.dmAppId), without the generated uuid: job and run alike.
    assert post(client, "bulk", bulk_body([APP_START], 1, 1, 1, app_id="nightly")).status_code == 200
    assert [r["run_id"] for r in read(client, "/api/v1/spark/jobs/nightly/runs").json()["runs"]] == ["nightly"]


def test_retries_are_stored_once_even_when_they_grew(client):
    first = bulk_body([LOG_START, APP_START], 2, 1, 1000)
    assert post(client, "bulk", first).json() == {"status": "stored", "events": 2}
    assert post(client, "bulk", first).json() == {"status": "duplicate", "events": 0}  # its answer was lost
    # Payload 2 failed (say a 503), and the agent flushed more events before retrying it: the retry
    # carries payloadCounter 2 again, with the events flushed meanwhile and a larger messageCounter.
    assert post(client, "bulk", bulk_body([JOB_START], 3, 2, 2000)).json() == {"status": "stored", "events": 1}
    grown = bulk_body([JOB_START, JOB_END, APP_END], 5, 2, 3000)
    assert post(client, "bulk", grown).json() == {"status": "stored", "events": 2}
    assert post(client, "bulk", grown).json() == {"status": "duplicate", "events": 0}
    lines = read(client, f"/api/v1/spark/jobs/{JOB}/runs/{APP_ID}/events").content.decode().splitlines()
    assert lines == [LOG_START, APP_START, JOB_START, JOB_END, APP_END]


def test_the_api_key_is_a_stoker_token_with_the_ingest_scope(client, services, caplog):
    caplog.set_level(logging.DEBUG)
    body = bulk_body([APP_START], 1, 1, 1000)
    r = post(client, "bulk", body, {"Content-Type": "text/plain; charset=ISO-8859-1"})
    assert r.status_code == 401 and "token" in r.json()["message"]
    r = post(client, "bulk", body, {"X-API-key": "stk_not_a_token"})
    assert r.status_code == 401 and set(r.json()) == {"message"}
    reader = services.tokens.create("dashboards", ["read"])
    r = post(client, "heartbeat", app_id_body(), {"X-API-key": reader})
    assert r.status_code == 403 and "'ingest' scope" in r.json()["message"]
    agent = services.tokens.create("delight-agent", ["ingest"])
    assert post(client, "bulk", body, {"X-API-key": agent}).status_code == 200
    for secret in (agent, reader, ADMIN_TOKEN, "stk_not_a_token"):
        assert secret not in caplog.text


def test_bad_bodies_are_refused_saying_what_is_wrong(client):
    cases = [
        (b"not json", 400, "malformed JSON"),
        (b"[]", 422, "JSON object"),
        (b'{"sentAt": 1}', 422, "dmAppId"),
        (b'{"dmAppId": "a/b", "sentAt": 1}', 422, "without '/'"),
        (b'{"dmAppId": "x", "sentAt": 1, "counters": {"messageCounter": 1}, "data": ""}', 422,
         "counters.payloadCounter"),
        (b'{"dmAppId": "x", "sentAt": "now", "counters": {"messageCounter": 1, "payloadCounter": 1}}', 422, "sentAt"),
        (b'{"dmAppId": "x", "sentAt": 1, "counters": {"messageCounter": 1, "payloadCounter": 1}, "data": "%%"}',
         400, "base64"),
        (b'{"dmAppId": "x", "sentAt": 1, "counters": {"messageCounter": 1, "payloadCounter": 1}, "data": "aGk="}',
         400, "gzip"),
        (bulk_body([APP_START, APP_END], 1, 1, 1), 422, "messageCounter"),
        (bulk_body(["{not an event"], 1, 1, 1), 422, "content"),
    ]
    for body, status, words in cases:
        r = post(client, "bulk", body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["message"], (body, r.json())
    assert post(client, "heartbeat", b"").status_code == 422
    assert read(client, "/api/v1/spark/jobs").json()["jobs"] == []  # nothing was stored


def test_back_pressure_is_a_503_the_agent_retries_never_a_429(client):
    from stoker.compat import delight

    body = bulk_body([APP_START], 1, 1, 1000)
    slots = delight.in_flight(client.app)
    slots.count = slots.limit  # every slot taken
    r = post(client, "bulk", body)
    # 429 would make the agent stop collecting for good (Network.sendRequest): a 503 makes it keep
    # the payload and retry with its back-off.
    assert r.status_code == 503 and r.headers["retry-after"] == "2" and "retry" in r.json()["message"]
    slots.count = 0
    assert post(client, "bulk", body).json() == {"status": "stored", "events": 1}  # the retry


def _javac_classpath() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "jars" / "*")


def test_the_agents_own_http_calls(tmp_path):
    """The agent's gzip and base64 from the JDK itself equal the test's, and its HttpClient calls
    (StringEntity, X-API-key) get the answers it treats as success (200) from a live server."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK")
    sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
    from test_sinks_support import LiveServer

    source = Path(__file__).parent / "delight" / "DelightWire.java"
    subprocess.run(["javac", "-nowarn", "-cp", _javac_classpath(), "-d", str(tmp_path), str(source)], check=True,
                   capture_output=True, timeout=120)
    classpath = f"{tmp_path}:{_javac_classpath()}"
    events = [LOG_START, APP_START, JOB_START, JOB_END, APP_END]
    (tmp_path / "data.txt").write_text("\n".join(events) + "\n")
    encoded = subprocess.run(["java", "-cp", classpath, "DelightWire", "encode", str(tmp_path / "data.txt")],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    assert json.loads(bulk_body(events, 5, 1, 7))["data"] == encoded  # byte for byte

    live = LiveServer(tmp_path / "server")
    try:
        def java_post(path: str, body: bytes, token: str = ADMIN_TOKEN) -> tuple[int, str]:
            (tmp_path / "body.json").write_bytes(body)
            out = subprocess.run(["java", "-cp", classpath, "DelightWire", "post", f"{live.url}/collector/{path}",
                                  token, str(tmp_path / "body.json")], check=True, capture_output=True, text=True,
                                 timeout=60).stdout
            status, _, answer = out.partition(" ")
            return int(status), answer

        assert java_post("heartbeat", app_id_body())[0] == 200
        assert java_post("bulk", bulk_body(events, 5, 1, 1700000004600)) == (200, '{"status":"stored","events":5}')
        assert java_post("ack", app_id_body())[0] == 200
        status, answer = java_post("bulk", bulk_body(events, 5, 1, 1700000004600), token="stk_wrong")
        assert status == 401 and "message" in json.loads(answer)  # what parseApiReturnMessage reads
        with live.client() as http:
            lines = http.get(f"/api/v1/spark/jobs/{JOB}/runs/{APP_ID}/events").text.splitlines()
        assert lines == events
    finally:
        live.close()
