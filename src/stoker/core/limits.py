"""Every size limit of the API in one table (docs/limits.md is this table in words; a test holds
them together). Declared once here, used where inputs are declared: request models, query and path
parameters, the body-size guard, the JSON checks."""

from __future__ import annotations

from typing import Any

# Bodies
MAX_BODY_BYTES = 1024 * 1024  # a JSON request body, as sent: a pipeline, a job, a run's parameters
# Bodies that carry bulk on purpose: a batch's parameter sets, a worker's finished attempts with
# their logs. A body is held in memory while it is parsed, so the small default is what keeps a
# hundred clients sending gigabytes from costing more than a hundred megabytes.
MAX_BULK_BODY_BYTES = 16 * 1024 * 1024
BULK_BODY_PATHS = ("/api/v1/batches", "/api/v1/worker/finish", "/api/v1/attempts/")
# Uploads stream to disk, never held whole: their limit is the settings' (STOKER_FILES_MAX_BYTES).
STREAMED_BODY_PATHS = ("/api/v1/files/", "/ui/files/upload")
MAX_JSON_DEPTH = 32  # nesting of arrays and objects in a free-form JSON value
MAX_JSON_STRING = 1_000_000  # characters of one string inside a free-form JSON value
MAX_JSON_ITEMS = 100_000  # elements of one array or members of one object
# Integers inside free-form JSON (params, options, steps, results) are stored as JSON by the store,
# whose encoder takes signed 64-bit integers: larger ones are refused at the door, not at the store.
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**63 - 1

# Pipelines and runs
MAX_STEPS = 1_000  # steps of one pipeline
MAX_BATCH_RUNS = 100_000  # runs of one batch (`count` or `params_list`)
MAX_TIMES = 10_000  # Stevedore's `times`
MAX_ATTEMPTS = 100  # a job's max_attempts
MAX_ATTEMPT_NUMBER = MAX_ATTEMPTS  # the {n} of /runs/{id}/attempts/{n}
MAX_PRIORITY = 1_000_000  # |priority| of a run
MAX_CONCURRENT_RUNS = 100_000
MAX_TIMEOUT_SECONDS = 7 * 86_400
MAX_CLUSTER_NUMBER = 1_000_000  # the n of a cluster's seed URL
MAX_NAME = 200  # job, worker and token names; idempotency keys
MAX_ID = 64  # ids in paths (uuids are 36)

# Leases: how long an attempt is held without a heartbeat, unless STOKER_LEASE_SECONDS says
# otherwise (config.Settings.lease_seconds; the API's claim and heartbeat default to that setting).
DEFAULT_LEASE_SECONDS = 30.0
MIN_LEASE_SECONDS = 1.0
MAX_LEASE_SECONDS = 3600.0

# Pages and waits
MAX_PAGE_SIZE = 500
MAX_CURSOR = MAX_JSON_INT
MAX_WAIT_SECONDS = 60.0


class JsonTooBig(ValueError):
    """A free-form JSON value breaks one of the limits above (the message says which, and where)."""


def check_json(value: Any, where: str = "value") -> Any:
    """Walk a decoded JSON value once; raise JsonTooBig naming the first limit it breaks."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        if isinstance(item, int):
            if not MIN_JSON_INT <= item <= MAX_JSON_INT:
                raise JsonTooBig(f"{path}: integer out of range (signed 64-bit at most)")
        elif isinstance(item, str):
            if len(item) > MAX_JSON_STRING:
                raise JsonTooBig(f"{path}: string longer than {MAX_JSON_STRING:,} characters")
            _check_text(item, path)
        elif isinstance(item, (list, dict)):
            if depth >= MAX_JSON_DEPTH:
                raise JsonTooBig(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
            if len(item) > MAX_JSON_ITEMS:
                raise JsonTooBig(f"{path}: more than {MAX_JSON_ITEMS:,} items")
            if isinstance(item, dict):
                for key in item:
                    _check_text(str(key), f"{path} (a key)")
                stack.extend((v, f"{path}.{k}", depth + 1) for k, v in item.items())
            else:
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
    return value


def _check_text(text: str, path: str) -> None:
    # JSON may spell a lone UTF-16 surrogate ("\\ud800"), which no UTF-8 text can hold.
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise JsonTooBig(f"{path}: text holds a lone surrogate, which is not valid Unicode") from None
