"""The claim loop hands instant endings to a finisher thread and claims again while they are being
finished (a run queued during a finish waits for a claim only), one batch finishing at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from stoker.config import Settings
from stoker.core.attempts import Claimed
from stoker.core.routing import INLINE, INSTANT
from stoker.store.notify import Wakeup
from stoker.store.queue import Ending, Lease
from stoker.worker.loop import Worker


def instant(n: int) -> Claimed:
    return Claimed(attempt_id=f"a{n}", run_id=f"r{n}", number=1, job_id="j", job_name="j", mode="auto",
                   lane=INSTANT, steps=[["noop"]], params={}, options={}, secrets=None,
                   timeout_seconds=None, lease_expires_at=time.time() + 60)


class Noop:
    name = INLINE

    def execute(self, execution: Any) -> Any:
        return {"type": "noop"}


class SlowFinishes:
    """Hands out one instant run per claim (three in all); each finish blocks until released."""

    def __init__(self) -> None:
        self.queued = [instant(n) for n in range(3)]
        self.claimed: list[str] = []
        self.finishing: list[list[str]] = []
        self.finished: list[list[str]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def claim(self, worker_id: str, *, lane_limits: Mapping[str, int], lease_seconds: float,
              executor_by_lane: Mapping[str, str], own_runtime: bool = True) -> list[Claimed]:
        with self.lock:
            if not self.queued:
                return []
            c = self.queued.pop(0)
            self.claimed.append(c.run_id)
            return [c]

    def finish_many(self, endings: Sequence[Ending]) -> dict[str, str]:
        with self.lock:
            self.finishing.append([e.attempt_id for e in endings])
        self.release.wait(10)
        with self.lock:
            self.finished.append([e.attempt_id for e in endings])
        return {e.attempt_id: "SUCCEEDED" for e in endings}

    def heartbeat(self, attempt_ids: Sequence[str], *, lease_seconds: float) -> dict[str, Lease]:
        return {}

    def finish(self, ending: Ending) -> str:
        raise AssertionError("instant runs are finished in batches")

    def annotate(self, attempt_id: str, **fields: str | None) -> None:
        pass

    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        return set()

    def secrets_of(self, claimed: Claimed) -> dict[str, Any]:
        return {}

    def idle_seconds(self) -> float:
        return 0.05

    def close(self) -> None:
        pass


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_loop_claims_again_while_a_batch_is_being_finished() -> None:
    backend = SlowFinishes()
    worker = Worker(backend, {INLINE: Noop()}, settings=Settings(), catalog=None,  # type: ignore[arg-type]
                    wakeup=Wakeup(), container_concurrency=0)
    worker.start()
    try:
        # The first batch's finish is blocked; the second run is claimed all the same.
        wait_for(lambda: backend.claimed[:2] == ["r0", "r1"])
        assert backend.finishing == [["a0"]] and backend.finished == []
        time.sleep(0.2)
        # One batch finishing at a time: the loop waits with the second before claiming a third.
        assert backend.claimed == ["r0", "r1"] and backend.finishing == [["a0"]]
        backend.release.set()
        wait_for(lambda: backend.finished == [["a0"], ["a1"], ["a2"]])
    finally:
        backend.release.set()
        worker.stop(grace_seconds=0.1, timeout=5)
