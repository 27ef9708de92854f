"""Days of a tuned job for tests (tests/integration/test_tuning_loop.py, tests/ui/test_ui_tuning.py):
its runs submitted, finished as a recorded real Spark app (tests/data/tuning) whose events are stored
as the collector stores them, and read by the tuning loop."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stoker.core.states import Outcome
from stoker.events.importer import default_run_id, direct_sender, import_log
from stoker.events.store import EventStore
from stoker.events.tuning_loop import TuningLoop
from stoker.store.queue import Ending
from stoker.store.tables import outbox
from stoker.store.tuning import TuningStore
from stoker.submission.runs import RunRequest, Submitter

DATA = Path(__file__).resolve().parent / "data" / "tuning"
PIPELINE = [["range", 10], ["collect"]]


class Days:
    """Submit a job's runs and finish each as the recorded app `log` (its events stored as the
    collector stores them), then let the loop read them."""

    def __init__(self, services, tmp_path: Path, job: str, tuning: dict | None) -> None:
        self.services, self.tmp_path, self.job = services, tmp_path, job
        self.events = EventStore(services.db)
        self.store = TuningStore(services.db)
        self.loop = TuningLoop(self.store, self.events)
        services.runs.jobs.create(job, "pipeline", {"steps": PIPELINE}, max_attempts=1,
                                  **({"tuning": tuning} if tuning else {}))
        self.job_id = services.runs.jobs.get(job).id

    def app(self, log: str) -> str:
        plain = self.tmp_path / f"{log}.json"
        if not plain.exists():
            plain.write_bytes(gzip.decompress((DATA / f"{log}.jsonl.gz").read_bytes()))
            import_log(plain, self.job, direct_sender(self.events))
        return default_run_id(plain)

    def submit(self) -> Any:
        submitted = Submitter(self.services).submit(RunRequest(), self.job)
        return self.services.runs.get(submitted.run_id)

    def finish(self, log: str, outcome: str = "succeeded") -> str:
        run = self.submit()
        (claimed,) = self.services.queue.claim("w1")
        assert claimed.run_id == run.id
        self.services.queue.annotate(claimed.attempt_id, spark_app_id=self.app(log))
        self.services.queue.finish(Ending(claimed.attempt_id, Outcome(outcome),
                                          error=None if outcome == "succeeded" else "it broke"))
        self.loop.round()
        return str(run.id)

    def outbox(self) -> list[dict]:
        with self.services.db.read() as conn:
            return [dict(r.payload) for r in conn.execute(sa.select(outbox).where(outbox.c.event.like("job.%"))
                                                          .order_by(outbox.c.seq))]
