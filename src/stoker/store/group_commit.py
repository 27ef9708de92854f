"""Group commit: concurrent single-run submits join one write transaction.

One run per HTTP request is how every seed client and most native ones submit, and a write
transaction per run caps that at a few hundred a second on two cores (BEGIN IMMEDIATE, the job row,
the insert, the outbox row, COMMIT, each through SQLAlchemy). Here a thread takes every submit
waiting at the moment it starts a transaction (up to `max_batch`) and queues them all in it: at low
load a lone submit commits alone, as before; under load the cost of a transaction is shared.

Each submit keeps its own checks and its own answer: idempotency keys and the job's policy are
held by the same statements as a lone submit (`RunStore.submit_in`), and a submit whose job is
unknown fails alone. If the shared transaction fails as a whole, each submit is retried in a
transaction of its own, so an error in one never fails the others. A run is committed (durable by
the database's rules) before its caller hears of it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stoker.store.runs import NewRun, RunStore, Submitted

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Pending:
    job: str | None
    new: NewRun
    future: Future[Submitted] = field(default_factory=Future)


@dataclass
class _Call:
    """Other write work for the committer's thread (GroupCommitter.call)."""

    work: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    def __init__(self, runs: RunStore, *, max_batch: int = 256) -> None:
        self.runs = runs
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | _Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: str | None, new: NewRun) -> Future[Submitted]:
        """Queue one run of `job` (None: ad hoc); the future holds its Submitted once committed."""
        self._ensure_started()
        pending = _Pending(job, new)
        self._queue.put(pending)
        return pending.future

    async def submit_async(self, job: str | None, new: NewRun) -> Submitted:
        return await asyncio.wrap_future(self.submit(job, new))

    async def call(self, work: Callable[[], T]) -> T:
        """Run other write work (its own transactions) on the committer's thread, in turn with the
        submits. On SQLite, where one transaction writes at a time, a dozen request threads that
        each take the write lock convoy on the GIL: each of their statements gives the GIL up and
        waits up to the switch interval to get it back, while holding the lock the others wait for
        (Sate's executions: 83 a second from the thread pool; bench/bench_submit.py)."""
        self._ensure_started()
        pending = _Call(work)
        self._queue.put(pending)
        result: T = await asyncio.wrap_future(pending.future)
        return result

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="stoker-group-commit", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Call):
                _settle(first.future, first.work)
                continue
            batch = [first]
            call: _Call | None = None
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                if isinstance(more, _Call):
                    call = more  # after the submits queued before it
                    break
                batch.append(more)
            self._commit(batch)
            if call is not None:
                _settle(call.future, call.work)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self.runs.submit_each([(p.job, p.new) for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.info("a group of %d submits failed as a whole; committing each alone", len(batch))
            for pending in batch:
                _settle(pending.future, functools.partial(self._submit_alone, pending))
            return
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)


    def _submit_alone(self, pending: _Pending) -> Submitted:
        return self.runs.submit(pending.job, [pending.new])[0]


def _settle(future: Future[T], produce: Callable[[], T]) -> None:
    try:
        future.set_result(produce())
    except BaseException as exc:  # handed to the caller, who answers its own request with it
        future.set_exception(exc)
