"""Spark events: the collector (ingest, chunk store, queries, summaries) and the JVM listener.

Importing the package registers its tables on the store's MetaData (`stoker.events.tables`).
"""

from __future__ import annotations

from stoker.events import tables as _tables  # noqa: F401  (tables join the one MetaData)
from stoker.events.listener_conf import LISTENER_CLASS, listener_conf, listener_jar_path

__all__ = ["LISTENER_CLASS", "listener_conf", "listener_jar_path"]
