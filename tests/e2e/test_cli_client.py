"""The CLI over the client against a real server: every resource's commands, their --json answers
(parsed back here), `login`'s saved token, errors as the server's one-line message."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import harness
from stoker.cli import main

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = harness.Server(tmp_path_factory.mktemp("cli-client") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def cli(server, tmp_path, monkeypatch):
    monkeypatch.setenv("STOKER_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("STOKER_URL", raising=False)
    monkeypatch.delenv("STOKER_TOKEN", raising=False)
    env = {"STOKER_URL": server.url, "STOKER_TOKEN": harness.TOKEN}

    def run(*args: str, ok: bool = True, plain: bool = False):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(main, list(args), env=env)
        if ok:
            assert result.exit_code == 0, result.output
        return result if plain or not ok else json.loads(result.output)
    return run


def test_runs_and_batches(cli):
    # --wait --json follows the run's stream as JSON lines (cli/watch.py); the last is the finished run.
    followed = cli("submit", '[["noop"]]', "--wait", "--json", plain=True)
    assert followed.exit_code == 0, followed.output
    last = json.loads(followed.output.splitlines()[-1])
    assert last["event"] == "run.finished"
    run = last["run"]
    assert run["state"] == "SUCCEEDED" and run["result"] == {"type": "noop"}
    assert cli("runs", "progress", run["id"], "--json")["state"] == "SUCCEEDED"
    assert cli("runs", "spark", run["id"], "--json")["stages"] == []  # a no-op runs no Spark
    assert cli("runs", "show", run["id"], "--json")["id"] == run["id"]
    assert run["id"] in [r["id"] for r in cli("runs", "list", "--limit", "5", "--json")]
    assert cli("runs", "result", run["id"], "--json") == {"type": "noop"}
    assert cli("runs", "attempt", run["id"], "1", "--json")["outcome"] == "succeeded"
    assert cli("runs", "log", run["id"], "--json")["run_id"] == run["id"]
    retried = cli("runs", "retry", run["id"], ok=False)
    assert retried.exit_code == 1 and "409" in retried.output  # the server's message, one line
    slow = cli("submit", '[["sleep", 30], ["noop"]]', "--json")
    cli("runs", "cancel", slow["id"], "--json")
    assert cli("runs", "wait", slow["id"], "--json", ok=False).exit_code == 1  # finished, not SUCCEEDED
    assert cli("runs", "show", slow["id"], "--json")["state"] == "CANCELLED"
    batch = cli("batches", "submit", '[["noop"]]', "--count", "3", "--wait", "--json")
    assert batch["states"] == {"SUCCEEDED": 3}
    assert cli("batches", "show", batch["batch_id"], "--json")["total"] == 3
    missing = cli("runs", "show", "nope", ok=False)
    assert missing.exit_code == 1 and "404" in missing.output and "nope" in missing.output


def test_jobs_dead_letters_and_events(cli):
    cli("jobs", "create", "cli-flaky", '[["fail", "on purpose"]]', "--set", "max_attempts=1", "--json")
    assert cli("jobs", "show", "cli-flaky", "--json")["max_attempts"] == 1
    run = cli("jobs", "run", "cli-flaky", "--wait", "--json", ok=False)
    assert run.exit_code == 1 and json.loads(run.output)["state"] == "FAILED"
    run_id = json.loads(run.output)["id"]
    assert run_id in [r["id"] for r in cli("jobs", "runs", "cli-flaky", "--json")]
    assert run_id in [d["run_id"] for d in cli("dead-letters", "--job", "cli-flaky", "--json")]
    states = [json.loads(line)["state"] for line in
              cli("events", "stream", "--run", run_id, "--after", "0", "--until-finished", "--json",
                  plain=True).output.splitlines()]
    assert states[0] == "QUEUED" and states[-1] == "FAILED"
    cli("jobs", "schedule", "cli-flaky", "0 6 * * *", "--json")
    assert cli("jobs", "pause", "cli-flaky", "--json")["paused"] is True
    assert cli("jobs", "update", "cli-flaky", "--unset", "schedule", "--json").get("schedule") is None
    assert "cli-flaky" in [j["name"] for j in cli("jobs", "list", "--json")]
    assert cli("jobs", "notifications", "cli-flaky", "--json")["job"] == "cli-flaky"


def test_apps_webhooks_secrets_and_operations(server, cli, tmp_path):
    body = harness.payload_bytes("cli-spark", "app-9", [(5, '{"Event":"SparkListenerLogStart","n":1}'),
                                                        (6, '{"Event":"SparkListenerLogStart","n":2}')],
                                 payload_counter=1)
    with server.client() as raw:
        assert raw.post("/collect", content=body, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert "cli-spark" in cli("apps", "jobs", "--json")
    assert cli("apps", "list", "cli-spark", "--json")["runs"][0]["run_id"] == "app-9"
    lines = cli("apps", "events", "cli-spark", "app-9", plain=True).output.splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 2]
    assert cli("apps", "summary", "cli-spark", "app-9", "--json")["events"] == 2
    assert cli("apps", "duration", "cli-spark", "app-9", "--json")["run_id"] == "app-9"

    hook = cli("webhooks", "create", "http://127.0.0.1:9/h", "--event", "failed", "--json")
    assert cli("webhooks", "show", hook["id"], "--json")["url"] == "http://127.0.0.1:9/h"
    assert hook["id"] in [h["id"] for h in cli("webhooks", "list", "--json")]
    cli("webhooks", "delete", hook["id"], "--json")

    assert cli("secrets", "set", "cli-s", "--value", "k=v-secret-value", "--json")["keys"] == ["k"]
    assert cli("secrets", "set", "cli-s", "--value", "k=other", "--json")["version"] == 2
    assert "v-secret-value" not in json.dumps(cli("secrets", "list", "--json"))
    cli("secrets", "delete", "cli-s", "--json")

    assert cli("health", "--json")["status"] == "ok"
    assert "stoker_" in cli("metrics", "--json")["metrics"]
    assert any(f["name"] == "noop" for f in cli("functions", "--json"))
    assert isinstance(cli("clusters", "list", "--json"), list) and isinstance(cli("products", "list", "--json"), list)
    assert "lease" in cli("clusters", "duties", "--json")


def test_login_saves_the_token_for_later_commands(server, tmp_path, monkeypatch):
    monkeypatch.setenv("STOKER_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("STOKER_URL", raising=False)
    monkeypatch.delenv("STOKER_TOKEN", raising=False)
    refused = CliRunner().invoke(main, ["login", "--url", server.url, "--token", "stk_wrong"])
    assert refused.exit_code == 1 and "401" in refused.output and not (tmp_path / "config.toml").exists()
    assert CliRunner().invoke(main, ["login", "--url", server.url, "--token", harness.TOKEN]).exit_code == 0
    listed = CliRunner().invoke(main, ["runs", "--json"])
    assert listed.exit_code == 0 and isinstance(json.loads(listed.output), list)


def test_products_and_an_external_cluster(cli, tmp_path):
    (tmp_path / "t.yaml").write_text("nodes:\n{% for i in range(opts['size']) %}  w{{ i }}: {cpu: 1, mem: 128}\n"
                                     "{% endfor %}")
    (tmp_path / "o.json").write_text('{"required": {}, "optional": {"size": 1}, "advanced": {}, "descriptions": {}}')
    made = cli("products", "create", "cli-yamly", "1", "--template", str(tmp_path / "t.yaml"),
               "--options", str(tmp_path / "o.json"), "--orchestrator", "external", "--json")
    assert made["template_format"] == "yaml" and made["orchestrator"] == "external"
    assert cli("products", "orchestrator", "cli-yamly", "1", "local", "--json")["orchestrator"] == "local"
    assert cli("products", "options", "cli-yamly", "1", str(tmp_path / "o.json"), "--json")["name"] == "cli-yamly"
    assert cli("products", "template", "cli-yamly", "1", str(tmp_path / "t.yaml"), "--json")["version"] == "1"
    cluster = cli("clusters", "launch", "external", "1", "--option", "master=spark://10.0.0.9:7077", "--json")
    assert cluster["status"] == "ready" and cluster["master_url"] == "spark://10.0.0.9:7077"
    assert cli("clusters", "show", cluster["id"], "--json")["id"] == cluster["id"]
    assert isinstance(cli("clusters", "nodes", cluster["id"], "--json"), list)
    assert cli("clusters", "destroy", cluster["id"], "--json")["status"] in ("destroyed", "destroying")


def test_teams_tokens_and_the_audit_log_over_the_api(cli, server):
    me = cli("me", "--json")
    assert me["admin"] is True and me["team"] == "default"
    assert cli("teams", "create", "cli-red", "--description", "the red team", "--json")["id"] == "cli-red"
    assert "cli-red" in [t["id"] for t in cli("teams", "list", "--json")]
    assert "the red team" in cli("teams", "list", plain=True).output  # people get a line per team
    quotas = cli("teams", "quotas", "cli-red", "--max-running-runs", "2", "--json")
    assert quotas["quotas"]["max_running_runs"] == 2 and quotas["quotas"]["max_cores"] is None
    assert cli("teams", "set-member", "cli-red", "carol", "runner", "--json")["role"] == "runner"
    assert {"user": "carol", "role": "runner"}.items() <= cli("teams", "members", "cli-red", "--json")[0].items()
    assert cli("teams", "show", "cli-red", "--json")["members"][0]["user"] == "carol"
    cli("teams", "remove-member", "cli-red", "carol", "--json")
    assert cli("teams", "members", "cli-red", "--json") == []
    # A token of the caller's team, shown once, listed without its value, then revoked.
    made = cli("tokens", "create", "cli nightly", "--user", "dave", "--scope", "read", "--json")
    assert made["token"].startswith("stk_") and made["team"] == "default"
    listed = [t for t in cli("tokens", "list", "--json") if t["name"] == "cli nightly"]
    assert len(listed) == 1 and "token" not in listed[0]
    revoked = cli("tokens", "revoke", listed[0]["id"], "--json")
    assert revoked == {"id": listed[0]["id"], "revoked": True}
    with server.client() as c:
        assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 401
    # The audit log saw the team being made and the token revoked.
    actions = [e["action"] for e in cli("audit", "--limit", "200", "--json")["entries"]]
    assert any("/api/v1/teams" in a for a in actions), actions
    assert any("/api/v1/tokens" in a for a in actions), actions
    missing = cli("teams", "show", "no-such-team", ok=False)
    assert missing.exit_code == 1 and "404" in missing.output
