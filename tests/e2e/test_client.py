"""`stoker.client` against a real `stoker serve` (harness.Server): every resource, pagination, the
long-poll wait, the two streams, errors with the server's message, where the token comes from, and
the async client. The retries after a server was killed mid-request are test_client_retries.py."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading

import pytest
from pydantic import ValidationError

import harness
from stoker.client import (
    AsyncStokerClient,
    BadRequest,
    Conflict,
    NotFound,
    StokerClient,
    Unauthorized,
    write_config,
)

pytestmark = pytest.mark.e2e
NOOP = [["noop"]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = harness.Server(tmp_path_factory.mktemp("client") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def stoker(server):
    with StokerClient(server.url, harness.TOKEN) as client:
        yield client


def test_the_client_imports_none_of_the_servers_dependencies():
    code = ("import sys, stoker.client; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'sqlalchemy', 'pyspark', 'uvicorn', 'alembic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_submit_wait_result_log_and_idempotency(stoker):
    run = stoker.runs.submit(NOOP, idempotency_key="client-test-once")
    assert run.state in ("QUEUED", "RUNNING", "SUCCEEDED") and run.idempotency_key == "client-test-once"
    seen = []
    done = stoker.runs.wait(run.id, timeout=60, on_change=lambda r: seen.append(r.state))
    assert done.state == "SUCCEEDED" and seen[-1] == "SUCCEEDED"
    assert done.result == {"type": "noop"} and stoker.runs.result(run.id) == {"type": "noop"}
    assert stoker.runs.attempt(run.id, 1)["outcome"] == "succeeded"
    assert isinstance(stoker.runs.log(run.id), str)
    assert stoker.runs.submit(NOOP, idempotency_key="client-test-once").id == run.id
    with pytest.raises(Conflict):  # succeeded once: never again
        stoker.runs.retry(run.id)


def test_a_submit_without_a_key_still_carries_one(stoker):
    run = stoker.runs.submit(NOOP)
    assert run.idempotency_key and run.idempotency_key.startswith("client-")


def test_wait_uses_the_long_poll_and_times_out(stoker):
    run = stoker.runs.submit([["sleep", 30], ["noop"]])
    with pytest.raises(TimeoutError):
        stoker.runs.wait(run.id, timeout=1.0)
    assert stoker.runs.cancel(run.id).cancel_requested or stoker.runs.get(run.id).state == "CANCELLED"
    assert stoker.runs.wait(run.id, timeout=60).state == "CANCELLED"


def test_errors_carry_the_servers_message(server, stoker):
    with pytest.raises(NotFound) as missing:
        stoker.runs.get("no-such-run")
    assert "no-such-run" in str(missing.value.detail)
    with pytest.raises(BadRequest) as bad:
        stoker.runs.submit([["no_such_function"], ["collect"]])
    assert bad.value.status == 422 and "no_such_function" in str(bad.value.detail)
    with pytest.raises(ValidationError):  # refused before sending, by the API's own model
        stoker.runs.submit(NOOP, priority=10**9)
    with StokerClient(server.url, "stk_wrong") as stranger, pytest.raises(Unauthorized):
        stranger.functions()


def test_pagination_follows_every_page(stoker):
    ids = [stoker.runs.submit(NOOP, params={"i": i}).id for i in range(5)]
    listed = [r.id for r in itertools.islice(stoker.runs.list(page_size=2), 50)]
    assert [i for i in listed if i in ids] == list(reversed(ids))  # newest first, across 3+ pages


def test_jobs_schedules_and_batches(stoker):
    job = stoker.jobs.create("client-nightly", steps=NOOP, schedule={"cron": "0 6 * * *"})
    assert job["name"] == "client-nightly"
    assert stoker.jobs.get("client-nightly")["schedule"]["cron"] == "0 6 * * *"
    assert stoker.jobs.pause("client-nightly")["paused"] is True
    assert stoker.jobs.resume("client-nightly")["paused"] is False
    dry = stoker.jobs.backfill("client-nightly", "2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", dry_run=True)
    assert len(dry["ticks"]) == 2
    assert stoker.jobs.update("client-nightly", unset=("schedule",)).get("schedule") is None
    run = stoker.jobs.submit("client-nightly")
    assert stoker.runs.wait(run.id, timeout=60).state == "SUCCEEDED"
    assert run.id in [r.id for r in stoker.jobs.runs("client-nightly")]
    assert "client-nightly" in [j["name"] for j in stoker.jobs.list()]
    batch = stoker.batches.submit(job="client-nightly", count=3)
    assert stoker.batches.wait(batch["batch_id"], timeout=60)["states"] == {"SUCCEEDED": 3}
    assert any(f["name"] == "noop" for f in stoker.functions())


def test_secrets_and_webhooks(stoker):
    stoker.secrets.create("client-s", "generic", {"password": "hunter2hunter2"})
    shown = stoker.secrets.get("client-s")
    assert shown["keys"] == ["password"] and "hunter2" not in str(shown)
    assert stoker.secrets.update("client-s", values={"password": "other-value"})["version"] == 2
    stoker.secrets.delete("client-s")
    with pytest.raises(NotFound):
        stoker.secrets.get("client-s")
    hook = stoker.webhooks.create("http://127.0.0.1:9/hook", events=["failed"])
    assert stoker.webhooks.get(hook["id"])["url"] == "http://127.0.0.1:9/hook"
    assert hook["id"] in [h["id"] for h in stoker.webhooks.list()]
    stoker.webhooks.delete(hook["id"])
    with pytest.raises(NotFound):
        stoker.webhooks.get(hook["id"])


def test_files_round_trip(stoker, tmp_path):
    local = tmp_path / "people.csv"
    local.write_text("name,age\nana,34\nbo,28\n")
    assert stoker.files.put(local, "client/people.csv", checksum=True)["size"] == local.stat().st_size
    assert [e["path"] for e in stoker.files.list("client/")] == ["client/people.csv"]
    assert stoker.files.info("client/people.csv")["kind"] == "file"
    assert stoker.files.preview("client/people.csv")["rows"] == [["ana", 34], ["bo", 28]]
    assert stoker.files.get("client/people.csv", tmp_path / "back.csv") == local.stat().st_size
    assert (tmp_path / "back.csv").read_bytes() == local.read_bytes()
    stoker.files.delete("client/people.csv")
    assert stoker.files.info("client/people.csv") is None


def test_run_events_stream_as_they_happen(stoker):
    run = stoker.runs.submit(NOOP)
    states = []
    for event in stoker.events.stream(run=run.id, after=0):
        assert event.id > 0 and event.data["run_id"] == run.id
        states.append(event.data["state"])
        if event.data["state"] == "SUCCEEDED":
            break
    assert states[0] == "QUEUED" and states[-1] == "SUCCEEDED"


def test_a_runs_stream_brings_its_progress_only_when_asked(stoker):
    run = stoker.runs.submit([["sleep", 3], ["noop"]])
    seen = []
    for event in stoker.events.stream(run=run.id, after=0, progress=True):
        seen.append(event)
        if event.data.get("state") == "SUCCEEDED" and event.data.get("event") != "run.progress":
            break
    progress = [e for e in seen if e.data.get("event") == "run.progress"]
    assert progress and all(e.id == -1 and e.data["state"] == "RUNNING" for e in progress[:1])
    # Without it (the default), only run events, each with its id.
    again = []
    for event in stoker.events.stream(run=run.id, after=0):
        again.append(event)
        if event.data["state"] == "SUCCEEDED":
            break
    assert all(e.id > 0 and e.data.get("event") != "run.progress" for e in again)


def test_spark_events_as_ndjson_lines(server, stoker):
    events = [(1000 + i, f'{{"Event":"SparkListenerLogStart","n":{i}}}') for i in range(300)]
    events[0] = (1000, '{"Event":"SparkListenerApplicationStart","App Name":"a","Timestamp":1000}')
    body = harness.payload_bytes("client-spark", "app-1", events, payload_counter=1)
    with server.client() as raw:
        answer = raw.post("/collect", content=body, headers={"Content-Encoding": "gzip"})
        assert answer.status_code == 200, answer.text
    lines = list(stoker.spark.event_lines("client-spark", "app-1"))
    assert lines == [content.encode() for _, content in events]
    assert stoker.spark.events("client-spark", "app-1").__next__()["Event"] == "SparkListenerApplicationStart"
    assert "client-spark" in stoker.spark.jobs()
    assert stoker.spark.runs("client-spark").runs[0].run_id == "app-1"
    assert stoker.spark.summary("client-spark", "app-1").events == 300
    assert stoker.spark.duration("client-spark", "app-1").start == 1000


def test_token_from_the_environment_then_the_config_file(server, tmp_path, monkeypatch):
    monkeypatch.delenv("STOKER_TOKEN", raising=False)
    monkeypatch.delenv("STOKER_URL", raising=False)
    monkeypatch.setenv("STOKER_CONFIG", str(tmp_path / "config.toml"))
    write_config(server.url, harness.TOKEN)
    assert (tmp_path / "config.toml").stat().st_mode & 0o077 == 0
    with StokerClient() as from_file:
        assert from_file.url == server.url and from_file.functions()
    monkeypatch.setenv("STOKER_TOKEN", "stk_from_env_wins")
    with StokerClient() as from_env, pytest.raises(Unauthorized):
        from_env.functions()
    with StokerClient(token=harness.TOKEN) as from_argument:
        assert from_argument.functions()


def test_the_async_client(server):
    async def scenario() -> tuple[str, list[str], list[str]]:
        async with AsyncStokerClient(server.url, harness.TOKEN) as stoker:
            run = await stoker.runs.submit(NOOP)
            done = await stoker.runs.wait(run.id, timeout=60)
            listed = [r.id async for r in stoker.runs.list(page_size=1) if r.id == run.id]
            states = []
            async for event in stoker.events.stream(run=run.id, after=0):
                states.append(event.data["state"])
                if event.data["state"] == "SUCCEEDED":
                    break
            with pytest.raises(NotFound):
                await stoker.jobs.get("no-such-job")
            return done.state, listed, states
    state, listed, states = asyncio.run(scenario())
    assert state == "SUCCEEDED" and len(listed) == 1 and states[-1] == "SUCCEEDED"


def test_threads_share_one_client(stoker):
    """httpx's client is thread-safe; so are the resources (no per-call state on them)."""
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(stoker.runs.wait(
        stoker.runs.submit(NOOP).id, timeout=60).state)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == ["SUCCEEDED"] * 4


def test_the_readmes_example_and_a_refused_path(stoker):
    """README's first screen and docs/client.md's error example, as written there."""
    run = stoker.runs.submit([["range", 5], ["collect"]])
    assert stoker.runs.wait(run.id, timeout=600).result["rows"] == [[0], [1], [2], [3], [4]]  # Spark may be warming up
    with pytest.raises(BadRequest) as refused:
        stoker.runs.submit([["read_csv", "/etc/passwd"], ["collect"]])
    assert refused.value.status == 400 and "/etc/passwd" in str(refused.value.detail)


def test_teams_tokens_audit_hosts_tuning_and_a_runs_own_work(server, stoker):
    assert stoker.teams.me()["admin"] is True
    assert stoker.teams.create("client-blue", description="blue")["id"] == "client-blue"
    assert "client-blue" in [t["id"] for t in stoker.teams.list()]
    assert stoker.teams.set_quotas("client-blue", max_cores=8)["quotas"]["max_cores"] == 8
    assert stoker.teams.set_member("client-blue", "erin", "editor")["role"] == "editor"
    assert [m["user"] for m in stoker.teams.members("client-blue")] == ["erin"]
    assert stoker.teams.get("client-blue")["members"][0]["role"] == "editor"
    stoker.teams.remove_member("client-blue", "erin")
    assert stoker.teams.members("client-blue") == []
    with pytest.raises(NotFound):
        stoker.teams.get("no-such-team")
    made = stoker.tokens.create("client ci", user="frank", scopes=["read"])
    [listed] = [t for t in stoker.tokens.list() if t["name"] == "client ci"]
    with StokerClient(server.url, made["token"]) as frank:
        assert frank.teams.me()["user"] == "frank"
        stoker.tokens.revoke(listed["id"])
        with pytest.raises(Unauthorized):
            frank.teams.me()
    actions = [e["action"] for e in stoker.audit.entries(page_size=2)]  # paged: every entry, two at a time
    assert any("/api/v1/teams" in a for a in actions) and any("/api/v1/tokens" in a for a in actions)
    # Hosts: the machine itself is registered; draining is undone.
    assert "local" in [h["name"] for h in stoker.hosts.list()]
    assert stoker.hosts.drain("local")["state"] == "draining"
    assert stoker.hosts.undrain("local")["state"] != "draining"
    # A job's tuning (off unless asked) and a run's own Spark work and progress.
    stoker.jobs.create("client-tuned", steps=NOOP)
    assert stoker.jobs.tuning("client-tuned")["policy"]["mode"] == "off"
    run = stoker.runs.wait(stoker.runs.submit(NOOP).id, timeout=60)
    assert stoker.runs.spark(run.id)["stages"] == [] and stoker.runs.progress(run.id)["state"] == "SUCCEEDED"
    with pytest.raises(BadRequest):  # explain's 422: the steps are refused before any Spark work
        stoker.runs.explain([["no_such_function"]])

    async def from_async() -> tuple[str, dict[str, object]]:
        async with AsyncStokerClient(server.url, harness.TOKEN) as client:
            entries = [e async for e in client.audit.entries(actor="admin", page_size=50)]
            return (await client.teams.me())["team"], {"entries": len(entries),
                                                       "progress": (await client.runs.progress(run.id))["state"]}
    team, seen = asyncio.run(from_async())
    assert team == "default" and seen["progress"] == "SUCCEEDED"
