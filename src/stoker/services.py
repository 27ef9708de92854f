"""The object graph of one Stoker process (`Services`), as the layers below the app take it; it is
built from Settings by `stoker.app.wiring` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stoker.config import Settings
from stoker.core.secrets import SecretBox
from stoker.store.audit import AuditLog
from stoker.store.db import Database
from stoker.store.group_commit import GroupCommitter
from stoker.store.notify import Wakeup
from stoker.store.queue import Queue
from stoker.store.runs import RunStore
from stoker.store.secrets import SecretStore
from stoker.store.teams import TeamStore
from stoker.store.tokens import LISTENER_USER, TokenCache, TokenStore

if TYPE_CHECKING:
    from stoker.catalog import Catalog, StorageRoots
    from stoker.catalog.submit_check import ColumnCheck
    from stoker.clusters.service import ClusterService
    from stoker.containers.importer import ImageImporter
    from stoker.containers.runtime import ContainerRuntime
    from stoker.store.containers import ContainerStore


@dataclass
class Services:
    settings: Settings
    db: Database
    wakeup: Wakeup
    runs: RunStore
    queue: Queue
    tokens: TokenStore
    token_cache: TokenCache
    teams: TeamStore
    audit: AuditLog
    secrets: SecretBox
    secret_store: SecretStore  # named secrets (store/secrets.py), under the same key ring
    catalog: Catalog
    roots: StorageRoots
    group_commit: GroupCommitter
    containers: ContainerRuntime  # the Docker Engine API of container jobs, or why there is none
    container_jobs: ContainerStore
    images: ImageImporter
    clusters: ClusterService
    # A Spark pipeline reading a local file is explained at submit, its column typos refused
    # (catalog/submit_check.py); set by create_app, which has the Spark to explain on.
    column_check: ColumnCheck | None = None

    def close(self) -> None:
        self.group_commit.close()
        self.db.dispose()


def internal_ingest_token(services: Services) -> str:
    """The token Spark apps started by Stoker use to send their listener events: derived from the
    secret key (so every replica and worker knows it without storing it), registered by hash."""
    token = "stk_internal_" + services.secrets.derive("spark-listener-ingest")
    services.tokens.ensure("internal: Spark listener of Stoker's own runs", ["ingest"], token, user=LISTENER_USER)
    return token
