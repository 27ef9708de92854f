"""The tuning loop's rules (docs/tuning.md), pure: a job's tuning policy, a run's profile and the
findings read from its collected Spark events, the executor-count replay of its task timeline, the
recommendation with its prediction, and the verdict on a trial. No store, no Spark: the loop that
reads runs and events and keeps trials is `events/tuning_loop.py`."""
