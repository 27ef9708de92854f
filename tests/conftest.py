"""Shared fixtures. One SparkSession for the whole test session; service fixtures skip locally
when the service is down and fail under CI=true."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Fixtures of the container tests (a private Podman API service, a local registry).
pytest_plugins = ["container_fixtures"]


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down locally; fail in CI, where it must be there."""
    if service_up(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def spark():
    from stoker.executors.spark_session import build_spark_session

    session = build_spark_session("local[2]", "stoker-tests")
    yield session
    session.stop()


PG_ADMIN_URL = os.environ.get("STOKER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def scratch_postgres_database(prefix: str):
    """Create a PostgreSQL database of its own, yield its URL, drop it afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test session (tests truncate it between them)."""
    with scratch_postgres_database("stoker_test") as url:
        yield url


def _truncate_all(db) -> None:
    from stoker.store.tables import metadata

    with db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """The same store tests run against SQLite and the real PostgreSQL."""
    from stoker.store.db import Database

    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'stoker.db'}")
        db.upgrade()
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        db.upgrade()
        _truncate_all(db)
    yield db
    # What a test left behind (an unfinished generator holding a connection, a traceback's frames)
    # hands its connection back now, to the pool that dispose() then closes.
    import gc

    gc.collect()
    db.dispose()


ADMIN_TOKEN = "stk_test_admin_token"


def make_services(data_dir, database_url=None, **overrides):
    from stoker.app.wiring import bootstrap_admin_token, build_services
    from stoker.config import Settings

    overrides.setdefault("ingest_processes", 0)  # payloads checked in-process unless a test asks
    settings = Settings.from_env(data_dir=data_dir, admin_token=ADMIN_TOKEN,
                                 database_url=database_url, **overrides)
    services = build_services(settings)
    bootstrap_admin_token(services)
    return services


def take_env(services):
    """For a test that sets STOKER_* variables after its services were built: take those in (a
    process reads its settings once, at start)."""
    from stoker.config import Settings

    fresh = Settings.from_env()
    given = {name: getattr(fresh, name) for name, variable, _, _ in fresh.described() if os.environ.get(variable)}
    services.settings = services.settings.replace(**given)
    return services


@pytest.fixture
def services(tmp_path):
    s = make_services(tmp_path / "data", lease_seconds=5.0, heartbeat_seconds=1.0, reap_interval_seconds=0.5)
    yield s
    s.close()


@pytest.fixture
def api(services):
    """A TestClient on an app with the embedded worker running; authenticated as admin."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def wait_for_state(client, run_id, states=("SUCCEEDED", "FAILED", "CANCELLED"), timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["state"] in states:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stuck in {run['state']}")
        time.sleep(0.02)


@pytest.fixture
def fresh_postgres_url():
    """A database of its own for a test whose processes share it (dropped afterwards)."""
    with scratch_postgres_database("stoker_e2e") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request):
    """None (SQLite in the data dir) or a fresh PostgreSQL database, for tests run on both."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("fresh_postgres_url")


async def jetstream_messages(url: str, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
    """Every message of a NATS JetStream stream, oldest first: (subject, headers, body bytes)."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        if info.state.messages == 0:
            return []
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((msg.subject, dict(msg.headers or {}), msg.data))
        return out
    finally:
        await nc.close()


async def delete_jetstream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        await nc.jetstream(timeout=5).delete_stream(stream)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    """moto's S3 server with IAM enforced: users admin (every bucket), alice (alice-bucket only)
    and bob (bob-bucket only). Tests empty the buckets they use."""
    from moto_s3 import start_moto, stop_moto

    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    stop_moto(server)
