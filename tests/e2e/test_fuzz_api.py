"""Schemathesis over the live OpenAPI document, as admin, in every phase (examples, coverage,
fuzzing, stateful) with a fixed seed and a bounded budget: no server error, every response in its
documented status codes and schema, schema-violating requests refused.

One check is left out on purpose: `positive_data_acceptance` expects every schema-valid request to
succeed, but a pipeline is checked against the function catalog after the schema (a schema-valid
list of steps may name no function), and ids in paths name things that do not exist; those answer
documented 4xx codes, which the other checks verify."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import TOKEN, Server

pytestmark = pytest.mark.e2e

BUDGET_SECONDS = 100
SEED = 20261128


def test_fuzzing_finds_no_server_error_and_no_schema_violation(tmp_path, monkeypatch):
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is a pinned test dependency (pyproject.toml)"
    # The server's own Podman runtime (started by serve), pulling only from `localhost`: fuzzed image
    # names from any other registry are refused (422), so no pull leaves the machine.
    monkeypatch.delenv("STOKER_DOCKER_HOST", raising=False)
    monkeypatch.setenv("STOKER_ALLOWED_REGISTRIES", "localhost")
    server = Server(tmp_path / "data", worker=False).start()
    try:
        result = subprocess.run(
            [schemathesis, "run", f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
             "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--seed", str(SEED),
             "--max-time", str(BUDGET_SECONDS), "--request-timeout", "75",
             # Long-polls answer after up to 60 s by design. One worker: hypothesis parses
             # lambdas with ast, which CPython 3.11 does not make thread-safe.
             "--max-response-time", "75", "--workers", "1",
             # The SSE stream never ends by design; it has tests of its own.
             "--exclude-path-regex", "/events/stream"],
            capture_output=True, text=True, timeout=BUDGET_SECONDS + 240,
            cwd=tmp_path)  # schemathesis keeps a cache in its working directory
    finally:
        server.stop()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-12000:]
    assert "generated" in report  # it really ran cases
