"""Run events to the outside: the outbox publisher and its sinks (SSE stream, webhooks, NATS JetStream).

Its tables are the store's (`stoker.store.tables.sinks`).
Nothing starts on import: `Publisher` is built and started by the serve process's Background.
"""

from __future__ import annotations
