"""The one settings object: every STOKER_* variable, read once; `stoker config` shows them."""

from __future__ import annotations

from click.testing import CliRunner

from stoker.cli import main
from stoker.config import Settings


def test_variables_are_read_and_keyword_arguments_win(monkeypatch):
    monkeypatch.setenv("STOKER_URL", "http://api:9000")
    monkeypatch.setenv("STOKER_ANONYMOUS_SCOPES", "submit,read")
    monkeypatch.setenv("STOKER_OUTBOX_RETENTION_HOURS", "2")
    monkeypatch.setenv("STOKER_CLUSTER_CAPACITY", "cores=3,mem=2048")
    monkeypatch.setenv("STOKER_INGEST_PROCESSES", "")  # empty: unset
    settings = Settings.from_env(worker_concurrency=3, lease_seconds=None)
    assert settings.api_url == "http://api:9000" and settings.anonymous_scopes == ("submit", "read")
    assert settings.sinks.outbox_retention_seconds == 7200 and settings.clusters.capacity.cores == 3
    assert settings.worker_concurrency == 3 and settings.lease_seconds == 30.0
    assert settings.ingest_processes is None


def test_stoker_config_prints_every_setting_and_hides_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("STOKER_ADMIN_TOKEN", "stk_very_secret")
    monkeypatch.setenv("STOKER_DATABASE_URL", "postgresql://stoker:hunter2@db:5432/stoker")
    out = CliRunner().invoke(main, ["config", "--data-dir", str(tmp_path)]).output
    assert "stk_very_secret" not in out and "hunter2" not in out
    assert "postgresql://stoker:********@db:5432/stoker" in out
    for name, variable, _, _ in Settings.from_env().described():
        assert name in out and variable in out
