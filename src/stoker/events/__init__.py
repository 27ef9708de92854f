"""Spark events: the collector (ingest, chunk store, queries, summaries) and the JVM listener.

Its tables are the store's (`stoker.store.tables.events`).
"""

from __future__ import annotations

from stoker.events.listener_conf import LISTENER_CLASS, listener_conf, listener_jar_path

__all__ = ["LISTENER_CLASS", "listener_conf", "listener_jar_path"]
