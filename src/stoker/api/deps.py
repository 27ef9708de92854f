"""What a route may ask for, one typed FastAPI dependency per need: `RunStoreDep`, `QueueDep`,
`ClusterServiceDep`, `EventStoreDep`… A router names the dependencies it uses, and receives just
those; nothing reads `app.state` but this module.

The object graph itself (`Services`) is built once per process (`stoker.app.wiring`) and hung on
`app.state`; `services_of(app)` is the one typed accessor, for what runs outside FastAPI's
dependency resolution (the quick routes of `api/fastpath.py`, which must not pay for it, the
authentication dependency, the UI's install). `ServicesDep` is for the routes that hand the whole
graph on to a service that takes it (the submission service, the worker protocol's claim).

Every dependency here is `async`: FastAPI runs a sync dependency in the thread pool, a hop that
costs more than the attribute read it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from stoker.catalog import Catalog, StorageRoots
from stoker.clusters.service import ClusterService
from stoker.config import Settings
from stoker.core.teams import DEFAULT_TEAM
from stoker.events.checking import PayloadChecker
from stoker.events.store import EventStore
from stoker.files import FileLimits, FileStore
from stoker.schedules.service import ScheduleService
from stoker.services import Services
from stoker.sinks.feed import OutboxFeed
from stoker.sinks.signal import AsyncSignal
from stoker.sinks.webhooks import WebhookStore
from stoker.store.containers import ContainerStore
from stoker.store.dashboard import Dashboard
from stoker.store.db import Database
from stoker.store.jobs import JobStore
from stoker.store.notifications import NotificationStore
from stoker.store.notify import Wakeup
from stoker.store.queue import Queue
from stoker.store.runs import RunStore
from stoker.store.secrets import SecretStore
from stoker.store.tokens import Principal, TokenStore


def services_of(app: FastAPI) -> Services:
    """The process's object graph, as `create_app` hung it on the app."""
    services: Services = app.state.services
    return services


@dataclass
class StreamHub:
    """What all run-event streams of one app share: the outbox reader and the wake-up fan-out."""

    feed: OutboxFeed
    signal: AsyncSignal


def stream_hub_of(app: FastAPI) -> StreamHub:
    hub: StreamHub | None = getattr(app.state, "event_stream_hub", None)
    if hub is None:  # made on first use, on the event loop's thread, so no race
        services = services_of(app)
        hub = app.state.event_stream_hub = StreamHub(OutboxFeed(services.db), AsyncSignal(services.wakeup))
    return hub


def file_store_of(app: FastAPI, team: str = DEFAULT_TEAM) -> FileStore:
    """A team's storage root as the files API and the UI's file browser see it (one per team and
    app): the root its pipelines read and write (catalog/paths.py `StorageRoots.for_team`)."""
    stores: dict[str, FileStore] | None = getattr(app.state, "file_stores", None)
    if stores is None:
        stores = app.state.file_stores = {}
    store = stores.get(team)
    if store is None:
        services = services_of(app)
        s = services.settings
        store = stores[team] = FileStore(services.roots.for_team(team), FileLimits(
            max_file_bytes=s.files_max_bytes, max_dir_entries=s.files_max_dir_entries,
            max_archive_files=s.files_max_archive_files, preview_max_bytes=s.files_preview_max_bytes))
    return store


def principal_of(request: Request) -> Principal:
    """Who the request's authorization let in (api/auth.py `require`, or the UI's session): a
    dependency that needs it runs after that one, since a route's own dependencies come first."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise RuntimeError(f"{request.url.path}: no principal; the route declares no require(...)")
    return principal


async def _services(request: Request) -> Services:
    return services_of(request.app)


async def _settings(request: Request) -> Settings:
    return services_of(request.app).settings


async def _database(request: Request) -> Database:
    return services_of(request.app).db


async def _wakeup(request: Request) -> Wakeup:
    return services_of(request.app).wakeup


async def _run_store(request: Request) -> RunStore:
    return services_of(request.app).runs


async def _job_store(request: Request) -> JobStore:
    return services_of(request.app).runs.jobs


async def _queue(request: Request) -> Queue:
    return services_of(request.app).queue


async def _catalog(request: Request) -> Catalog:
    return services_of(request.app).catalog


async def _storage_roots(request: Request) -> StorageRoots:
    return services_of(request.app).roots


async def _token_store(request: Request) -> TokenStore:
    return services_of(request.app).tokens


async def _container_store(request: Request) -> ContainerStore:
    return services_of(request.app).container_jobs


async def _cluster_service(request: Request) -> ClusterService:
    return services_of(request.app).clusters


async def _event_store(request: Request) -> EventStore:
    store: EventStore = request.app.state.event_store  # one per app: it caches app ids across requests
    return store


async def _payload_checker(request: Request) -> PayloadChecker:
    checker: PayloadChecker = request.app.state.payload_checker
    return checker


async def _webhook_store(request: Request) -> WebhookStore:
    services = services_of(request.app)
    return WebhookStore(services.db, services.secrets)


async def _secret_store(request: Request) -> SecretStore:
    return services_of(request.app).secret_store


async def _notification_store(request: Request) -> NotificationStore:
    return NotificationStore(services_of(request.app).db)


async def _stream_hub(request: Request) -> StreamHub:
    return stream_hub_of(request.app)


async def _file_store(request: Request) -> FileStore:
    return file_store_of(request.app, principal_of(request).team)


async def _schedule_service(request: Request) -> ScheduleService:
    return ScheduleService.of(services_of(request.app))


async def _dashboard(request: Request) -> Dashboard:
    return Dashboard(services_of(request.app).db)


ServicesDep = Annotated[Services, Depends(_services)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
WakeupDep = Annotated[Wakeup, Depends(_wakeup)]
RunStoreDep = Annotated[RunStore, Depends(_run_store)]
JobStoreDep = Annotated[JobStore, Depends(_job_store)]
QueueDep = Annotated[Queue, Depends(_queue)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
StorageRootsDep = Annotated[StorageRoots, Depends(_storage_roots)]
TokenStoreDep = Annotated[TokenStore, Depends(_token_store)]
ContainerStoreDep = Annotated[ContainerStore, Depends(_container_store)]
ClusterServiceDep = Annotated[ClusterService, Depends(_cluster_service)]
EventStoreDep = Annotated[EventStore, Depends(_event_store)]
PayloadCheckerDep = Annotated[PayloadChecker, Depends(_payload_checker)]
WebhookStoreDep = Annotated[WebhookStore, Depends(_webhook_store)]
StreamHubDep = Annotated[StreamHub, Depends(_stream_hub)]
SecretStoreDep = Annotated[SecretStore, Depends(_secret_store)]
NotificationStoreDep = Annotated[NotificationStore, Depends(_notification_store)]
DashboardDep = Annotated[Dashboard, Depends(_dashboard)]
FileStoreDep = Annotated[FileStore, Depends(_file_store)]
ScheduleServiceDep = Annotated[ScheduleService, Depends(_schedule_service)]
