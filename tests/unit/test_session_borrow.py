"""The warm session lent for analysis stays on whatever master it is: an explanation at submit must
not stop a warm session on a cluster (and start one on the worker's own master) between two of that
cluster's runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stoker.config import Settings
from stoker.executors import session_mode
from stoker.executors.base import SparkTarget


class FakeSession:
    def __init__(self, master: str) -> None:
        self.master = master
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> session_mode.SparkSessionExecutor:
    built: list[FakeSession] = []

    def build(master: str, app_name: str, conf: dict[str, str]) -> FakeSession:
        built.append(FakeSession(master))
        return built[-1]

    monkeypatch.setattr(session_mode, "build_spark_session", build)
    settings = Settings(data_dir=tmp_path, spark_master="local[2]")
    executor = session_mode.SparkSessionExecutor(settings, catalog=None, roots=None)
    executor.built = built  # type: ignore[attr-defined]
    return executor


def test_borrowing_keeps_a_warm_session_on_a_clusters_master(executor) -> None:
    cluster = SparkTarget(master="spark://10.0.0.5:7077")
    on_cluster = executor.session(cluster)
    executor.release()
    lent = executor.borrow()
    executor.release()
    assert lent is on_cluster and not on_cluster.stopped
    assert executor.session(cluster) is on_cluster  # the cluster's next run finds it warm
    executor.release()
    assert [s.master for s in executor.built] == ["spark://10.0.0.5:7077"]


def test_borrowing_with_no_session_starts_one_on_the_workers_own_master(executor) -> None:
    lent = executor.borrow()
    assert lent.master == "local[2]"
    executor.release()
    assert executor.session() is lent
    executor.release()


def test_a_borrowed_session_is_not_stopped_under_its_borrower(executor) -> None:
    import threading

    lent = executor.borrow()  # the worker's own
    moved = threading.Event()

    def cluster_run() -> None:
        executor.session(SparkTarget(master="spark://10.0.0.5:7077"))
        moved.set()
        executor.release()

    thread = threading.Thread(target=cluster_run)
    thread.start()
    assert not moved.wait(0.3) and not lent.stopped  # waits for the borrower
    executor.release()
    assert moved.wait(5) and lent.stopped
    thread.join()


def test_a_submits_check_never_waits_for_spark_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API process with no worker: the first check finds no session and goes on at once, while
    one starts in the background; the checks after it is up get it."""
    import threading
    import time

    from stoker.app.explain_spark import ExplainSpark
    from stoker.executors import spark_session

    may_finish = threading.Event()
    starts: list[str] = []

    def slow_build(master: str, app_name: str, conf: dict[str, str] | None = None) -> FakeSession:
        starts.append(master)
        may_finish.wait(10)  # a JVM starting
        return FakeSession(master)

    monkeypatch.setattr(spark_session, "build_spark_session", slow_build)
    spark = ExplainSpark(None)
    began = time.monotonic()
    with spark.if_ready() as session:
        assert session is None
    with spark.if_ready() as session:  # still starting: no second start
        assert session is None
    assert time.monotonic() - began < 1.0
    may_finish.set()
    deadline = time.monotonic() + 5
    while not spark.own and time.monotonic() < deadline:
        time.sleep(0.01)
    with spark.if_ready() as session:
        assert session is not None and session.master == "local[1]"
    assert starts == ["local[1]"]
