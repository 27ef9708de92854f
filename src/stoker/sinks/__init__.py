"""Run events to the outside: the outbox publisher and its sinks (SSE stream, webhooks, NATS JetStream).

Importing the package registers its tables on the store's MetaData (`stoker.sinks.tables`).
Nothing starts on import: `Publisher` is built and started by the serve process's Background.
"""

from __future__ import annotations

from stoker.sinks import tables as _tables  # noqa: F401  (tables join the one MetaData)
