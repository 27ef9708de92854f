"""Every table of Stoker on one MetaData: the core tables plus those of the modules that add their own."""

from __future__ import annotations

import importlib

import sqlalchemy as sa

TABLE_MODULES = ("stoker.store.tables", "stoker.events.tables", "stoker.sinks.tables",
                 "stoker.store.sate", "stoker.store.container_tables")


def all_tables() -> sa.MetaData:
    for name in TABLE_MODULES:
        importlib.import_module(name)
    from stoker.store.tables import metadata

    return metadata
