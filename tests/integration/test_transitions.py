"""core/states.py's TRANSITIONS walked against the store: every action from every state does what
the table says — moves the run to one of its targets, or is refused and changes nothing."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from stoker.core.errors import Conflict, Fenced
from stoker.core.states import TRANSITIONS, Outcome, RunState, targets
from stoker.store.clusters import fail_queued_runs
from stoker.store.queue import Ending, Queue
from stoker.store.runs import NewRun, RunStore

_names = itertools.count()
CLUSTER = "walked-cluster"


class World:
    def __init__(self, database) -> None:
        self.runs, self.queue = RunStore(database), Queue(database)

    def new_run(self, **policy) -> str:
        name = f"j{next(_names)}"
        self.runs.jobs.create(name, "pipeline", {"steps": [["noop"]]}, backoff_seconds=0,
                              max_concurrent_runs=10, **policy)
        # Every run names a cluster the walk's `cluster_gone` fails; no cluster row exists, so
        # nothing parks it and claims hand it out as any other run.
        return self.runs.submit(name, [NewRun(steps=[["noop"]], options={"cluster": CLUSTER})])[0].run_id

    def cluster_gone(self) -> None:
        with self.runs.db.write() as conn:
            fail_queued_runs(conn, time.time(), CLUSTER, f"cluster {CLUSTER} is destroyed")

    def claim(self, run_id: str) -> str | None:
        """Claim this run if the queue hands it out; any other run claimed is given back ended."""
        got = None
        for claimed in self.queue.claim("w", limit=100):
            if claimed.run_id == run_id:
                got = claimed.attempt_id
            else:
                self.queue.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED))
        return got

    def state(self, run_id: str) -> RunState:
        return RunState(self.runs.get(run_id).state)

    def in_state(self, state: RunState, **policy) -> tuple[str, str | None]:
        """A run in `state` (attempts left), and the id of its latest attempt, if any."""
        run_id = self.new_run(max_attempts=3, auto_retry=False, **policy)
        if state is RunState.QUEUED:
            return run_id, None
        if state is RunState.CANCELLED:
            self.runs.cancel(run_id)
            return run_id, None
        attempt = self.claim(run_id)
        assert attempt is not None
        ending = {RunState.SUCCEEDED: Outcome.SUCCEEDED, RunState.FAILED: Outcome.FAILED}.get(state)
        if ending is not None:
            self.queue.finish(Ending(attempt, ending, error="x"))
        assert self.state(run_id) is state
        return run_id, attempt


def _attempt(action: Callable[[], object]) -> None:
    try:
        action()
    except (Conflict, Fenced):
        pass  # refused: the state must not have changed


@pytest.mark.parametrize("source", list(RunState))
@pytest.mark.parametrize("action", ["claim", "cancel", "retry", "cluster_gone"])
def test_each_action_from_each_state_follows_the_table(database, source, action):
    world = World(database)
    run_id, _ = world.in_state(source)
    do = {"claim": lambda: world.claim(run_id), "cancel": lambda: world.runs.cancel(run_id),
          "retry": lambda: world.runs.retry(run_id), "cluster_gone": world.cluster_gone}[action]
    _attempt(do)
    after = world.state(run_id)
    allowed = targets(action, source)
    if allowed:
        assert after in allowed, f"{action} from {source} went to {after}, table: {allowed}"
    else:
        assert after is source, f"{action} from {source} changed the run to {after}; the table has no such transition"


def test_an_attempts_end_reaches_exactly_the_tables_targets(database):
    world = World(database)
    reached = set()
    for outcome, policy, cancel_first, permanent in [
        (Outcome.SUCCEEDED, {}, False, False),
        (Outcome.FAILED, {"auto_retry": True}, False, False),        # attempts left: again
        (Outcome.LOST, {"auto_retry": True, "max_attempts": 1}, False, False),  # none left
        (Outcome.FAILED, {}, False, False),                          # auto_retry=false
        (Outcome.FAILED, {"auto_retry": True}, False, True),         # permanent
        (Outcome.CANCELLED, {}, False, False),
        (Outcome.TIMED_OUT, {"auto_retry": True}, True, False),      # after a cancel request
    ]:
        run_id = world.new_run(**{"max_attempts": 3, "auto_retry": False, **policy})
        attempt = world.claim(run_id)
        assert attempt is not None
        if cancel_first:
            world.runs.cancel(run_id)
        world.queue.finish(Ending(attempt, outcome, error="x", permanent=permanent))
        reached.add(world.state(run_id))
        if world.state(run_id) is RunState.QUEUED:
            world.runs.cancel(run_id)  # out of the next claims' way
    assert reached == targets("end", RunState.RUNNING)


@pytest.mark.parametrize("source", [s for s in RunState if s is not RunState.RUNNING])
def test_no_end_is_accepted_where_no_attempt_runs(database, source):
    world = World(database)
    run_id, attempt = world.in_state(source)
    if attempt is None:  # never claimed: nothing to end
        assert not targets("end", source)
        return
    with pytest.raises(Fenced):
        world.queue.finish(Ending(attempt, Outcome.FAILED, error="late"))
    assert world.state(run_id) is source and not targets("end", source)


def test_the_table_has_no_transition_the_walk_skips():
    assert {t.action for t in TRANSITIONS} == {"claim", "cancel", "end", "retry", "cluster_gone"}
