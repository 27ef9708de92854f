"""`stoker events import`: event logs go through the ingest path, directly or over HTTP, once."""

from __future__ import annotations

from pathlib import Path

import orjson
import zstandard
from click.testing import CliRunner

import stoker.events  # noqa: F401
from conftest import ADMIN_TOKEN, make_services
from stoker.cli.events import events
from stoker.events.importer import http_sender, import_log
from stoker.events.store import EventStore
from stoker.store.db import Database


def spark_log(n_tasks: int = 30) -> list[bytes]:
    lines = [b'{"Event":"SparkListenerLogStart","Spark Version":"4.3.0"}',
             b'{"Event":"SparkListenerApplicationStart","App Name":"imp","App ID":"local-42",'
             b'"Timestamp":1000}']
    for i in range(n_tasks):
        lines.append(orjson.dumps({"Event": "SparkListenerTaskEnd", "Task End Reason": {"Reason": "Success"},
                                   "Task Info": {"Launch Time": 1000 + i, "Finish Time": 1010 + i},
                                   "Task Metrics": {"Executor Run Time": 5}}))
    lines.append(b'{"Event":"SparkListenerApplicationEnd","Timestamp":3000}')
    return lines


def test_cli_import_direct_is_idempotent(tmp_path: Path):
    lines = spark_log()
    log = tmp_path / "local-42.zstd"
    log.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    data = tmp_path / "data"
    args = ["import", str(log), "--job-name", "nightly", "--data-dir", str(data), "--batch-size", "7"]
    first = CliRunner().invoke(events, args)
    assert first.exit_code == 0, first.output
    assert "33 events in 5 payloads into nightly/local-42" in first.output
    again = CliRunner().invoke(events, args)
    assert "0 events" in again.output and "5 payloads were already stored" in again.output
    db = Database(f"sqlite:///{data / 'stoker.db'}")
    try:
        store = EventStore(db)
        app = store.app("nightly", "local-42")
        assert b"".join(store.stream_events(app.id)).splitlines() == lines
        assert (app.start_ms, app.end_ms, app.tasks, app.task_time_ms) == (1000, 3000, 30, 150)
    finally:
        db.dispose()


def test_import_over_http(tmp_path: Path):
    from fastapi.testclient import TestClient

    from stoker.app import create_app

    log = tmp_path / "log"
    log.write_bytes(b"\n".join(spark_log(5)))
    services = make_services(tmp_path / "data")
    try:
        with TestClient(create_app(services)) as client:
            result = import_log(log, "web", http_sender(client, "", ADMIN_TOKEN), batch_size=3)
            assert (result.run_id, result.events, result.payloads) == ("local-42", 8, 3)
            got = client.get("/api/v1/spark/jobs/web/runs/local-42/events",
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert got.content.splitlines() == spark_log(5)
    finally:
        services.close()
