"""Building the object graph of one process (`Services`) from `Settings`, and the first start's
admin token."""

from __future__ import annotations

from stoker.config import Settings, secret
from stoker.core.secrets import SecretBox
from stoker.services import Services
from stoker.store.audit import AuditLog
from stoker.store.db import Database
from stoker.store.group_commit import GroupCommitter
from stoker.store.notify import Wakeup
from stoker.store.queue import Queue
from stoker.store.runs import RunStore
from stoker.store.secrets import SecretStore
from stoker.store.teams import TeamStore
from stoker.store.tokens import ADMIN_USER, SCOPES, SERVER_START, TokenCache, TokenStore


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    from stoker.catalog import StorageRoots, load_catalog
    from stoker.clusters.service import ClusterService
    from stoker.containers.importer import ImageImporter
    from stoker.containers.runtime import ContainerRuntime
    from stoker.store.containers import ContainerStore

    unknown = [s for s in settings.anonymous_scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"STOKER_ANONYMOUS_SCOPES: unknown scope(s) {unknown}; choose from {', '.join(SCOPES)}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.storage_root.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    if migrate:
        db.upgrade()
    wakeup = Wakeup()
    tokens = TokenStore(db)
    teams = TeamStore(db)
    if migrate:
        teams.ensure_default(ADMIN_USER)  # `make run` needs no set-up: the admin owns the default team
    runs = RunStore(db, wakeup)
    # Started (a private Podman service) by `stoker serve` / `stoker worker` when no host is set.
    containers = ContainerRuntime(settings.docker_host)
    container_jobs = ContainerStore(db)
    clusters = ClusterService(db, settings.data_dir, settings.clusters, containers=containers)
    if migrate:
        clusters.products.ensure_builtins()
        if settings.local_host:
            clusters.hosts.ensure_local(settings.clusters.capacity)
    box = SecretBox.from_settings(secret(settings.secret_key), settings.data_dir)
    secret_store = SecretStore(db, box)
    if migrate:  # a lost or wrong master key is a clear error now, never a failure mid-run
        secret_store.check_master_key()
    return Services(
        settings=settings, db=db, wakeup=wakeup, runs=runs, queue=Queue(db), group_commit=GroupCommitter(runs),
        tokens=tokens, token_cache=TokenCache(tokens), teams=teams, audit=AuditLog(db),
        secrets=box, secret_store=secret_store,
        catalog=load_catalog(),
        roots=StorageRoots(settings.storage_root, settings.storage_roots, teams_dir=settings.data_dir / "teams"),
        containers=containers, container_jobs=container_jobs,
        images=ImageImporter(container_jobs, containers, allowed_registries=settings.allowed_registries,
                             elsewhere=clusters.hosts.answering_endpoints),
        clusters=clusters,
    )


def bootstrap_admin_token(services: Services) -> str | None:
    """Register STOKER_ADMIN_TOKEN, or on a first start make an admin token and return it (once)."""
    admin_token = secret(services.settings.admin_token)
    if admin_token:
        services.tokens.ensure("admin (STOKER_ADMIN_TOKEN)", ["admin"], admin_token, user=ADMIN_USER)
        return None
    if services.tokens.any_admin():
        return None
    return services.tokens.create("admin (first start)", ["admin"], user=ADMIN_USER, shared=True, by=SERVER_START)


