"""Every tick exactly once across two API replicas that are SIGKILLed and started again around ticks,
over 30+ ticks of a seconds schedule, on PostgreSQL and on SQLite (docs/schedules.md). Also the CLI's
schedule commands against a real server."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from harness import TOKEN, Server

pytestmark = pytest.mark.e2e

TICKS = 30


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _all_runs(client) -> list[dict]:
    runs, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/jobs/every-second/runs", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        runs += body["runs"]
        cursor = body.get("next_cursor")
        if not cursor:
            return runs


def test_no_tick_doubled_or_dropped_while_replicas_are_killed(tmp_path, backend_url):
    # Two API replicas (no workers: the runs only need to be queued) on one database.
    replicas = [Server(tmp_path / "data", backend_url, worker=False).start() for _ in range(2)]
    client = replicas[0].client()
    try:
        made = client.post("/api/v1/jobs", json={
            "name": "every-second", "steps": [["noop"]],
            "schedule": {"cron": "* * * * * *", "overlap": "queue", "catchup": "all"}})
        assert made.status_code == 201, made.text
        started = time.monotonic()
        victim = 0
        while time.monotonic() - started < TICKS + 5:
            time.sleep(2.5)
            replicas[victim].kill()  # SIGKILL: whatever it was firing is left half done
            time.sleep(0.7)
            replicas[victim] = Server(tmp_path / "data", backend_url, worker=False).start()
            victim = 1 - victim
        client.close()
        client = replicas[victim].client()
        paused = client.post("/api/v1/jobs/every-second/schedule/pause")
        assert paused.status_code == 200, paused.text
        time.sleep(1.2)  # a firing that had begun before the pause has committed or rolled back
        runs = _all_runs(client)
        fired = sorted(_at(r["scheduled_for"]) for r in runs)
        assert len(fired) == len(set(fired)), "a tick was fired twice"
        assert len(fired) >= TICKS
        gaps = [b - a for a, b in itertools.pairwise(fired) if b - a != timedelta(seconds=1)]
        assert gaps == [], f"ticks dropped: {gaps}"
        ticks = client.get("/api/v1/jobs/every-second/ticks", params={"limit": 200}).json()["ticks"]
        assert {t["outcome"] for t in ticks} == {"queued"}
        assert sorted(_at(t["tick"]) for t in ticks)[-len(fired):] == fired[-len(ticks):]
    finally:
        client.close()
        for replica in replicas:
            replica.kill()


def test_the_cli_sets_shows_pauses_and_backfills_a_schedule(tmp_path, monkeypatch):
    from stoker.cli import main

    server = Server(tmp_path / "data", worker=False).start()
    monkeypatch.setenv("STOKER_URL", server.url)
    monkeypatch.setenv("STOKER_TOKEN", TOKEN)
    try:
        with server.client() as client:
            assert client.post("/api/v1/jobs", json={"name": "nightly", "steps": [["noop"]]}).status_code == 201
        runner = CliRunner()

        def cli(*args: str) -> str:
            result = runner.invoke(main, list(args), catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        out = cli("jobs", "schedule", "nightly", "0 6 * * *", "--timezone", "Europe/Madrid", "--overlap", "queue")
        assert "At 06:00 every day, Europe/Madrid" in out and out.count("next") == 5
        assert "At 06:00 every day" in cli("jobs", "list")
        bad = runner.invoke(main, ["jobs", "schedule", "nightly", "0 0 30 2 *"])
        assert bad.exit_code != 0 and "422" in bad.output and "day-of-month" in bad.output
        assert "(paused)" in cli("jobs", "pause", "nightly")
        assert "next" in cli("jobs", "resume", "nightly")
        dry = cli("jobs", "backfill", "nightly", "--start", "2026-11-01", "--end", "2026-11-03T23:00", "--dry-run")
        assert "3 tick(s) (dry run)" in dry
        real = cli("jobs", "backfill", "nightly", "--start", "2026-11-01", "--end", "2026-11-03T23:00")
        assert real.count("queued") == 3
        assert cli("jobs", "ticks", "nightly").count("queued") == 3
        assert "no schedule" in cli("jobs", "schedule", "nightly", "--remove") + cli("jobs", "show", "nightly")
    finally:
        server.kill()
