"""The outbox publisher: one thread running an asyncio loop, one task per sink.

Each sink task follows its own durable cursor (store/sink_cursors.py): it holds the sink's lease,
reads the settled outbox after its position (feed.py), delivers event by event in seq order, and moves the
cursor past what was delivered. A failure stops that sink's batch at the failing event and retries
it after an exponential backoff; the other sinks and the runs themselves never wait for it.

Tasks wake on `services.wakeup` (every local state change) and otherwise poll every
`poll_seconds`, for events written by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from stoker.config import SinkSettings
from stoker.services import Services
from stoker.sinks import jetstream
from stoker.sinks.events import Event
from stoker.sinks.feed import OutboxFeed
from stoker.sinks.notifications import CURSOR as NOTIFICATIONS_CURSOR
from stoker.sinks.notifications import NotificationRouter, Notifier
from stoker.sinks.signal import AsyncSignal, Subscription
from stoker.sinks.webhooks import WebhookSink, WebhookStore, cursor_name
from stoker.store.notifications import NotificationStore
from stoker.store.retention import prune_outbox
from stoker.store.sink_cursors import Cursors

log = logging.getLogger(__name__)

NOTIFY_POLL_SECONDS = 0.5  # how soon a delivery the router made (or a retry that fell due) is sent


class Sink(Protocol):
    name: str

    def wants(self, event: Event) -> bool: ...

    async def deliver(self, event: Event) -> None: ...

    async def close(self) -> None: ...


class Publisher:
    def __init__(self, services: Services, settings: SinkSettings | None = None, *,
                 owner: str | None = None) -> None:
        self.services = services
        self.settings = settings or services.settings.sinks
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.feed = OutboxFeed(services.db)
        self.cursors = Cursors(services.db, self.owner, self.settings.lease_seconds)
        self.webhooks = WebhookStore(services.db, services.secrets)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._notifications_ready = False

    # -- life cycle (called from the serve process's Background) --------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stoker-publisher", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the publisher stopped on an error")
        finally:
            self._ready.set()

    # -- supervision: which sinks exist, one task each ------------------------------------
    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        signal = AsyncSignal(self.services.wakeup)
        tasks: dict[str, asyncio.Task[None]] = {}
        pruned_at = time.monotonic()  # the first prune waits a round: start-up stays quick
        notifier = asyncio.create_task(self._notify(), name="notifier") if self.settings.notifications else None
        try:
            msg_id_prefix = None
            while not self._stopping.is_set():
                if time.monotonic() - pruned_at >= self.settings.prune_every_seconds:
                    pruned_at = time.monotonic()
                    await self._prune()
                try:
                    if self.settings.nats_url and msg_id_prefix is None:
                        msg_id_prefix = await asyncio.to_thread(self._prepare_nats)
                    wanted = await asyncio.to_thread(self._wanted, msg_id_prefix)
                except Exception:
                    log.exception("publisher: listing sinks failed; retrying")
                    wanted = dict.fromkeys(tasks)  # keep what runs
                for name, make in wanted.items():
                    if make is not None and (name not in tasks or tasks[name].done()):
                        tasks[name] = asyncio.create_task(self._serve(make(), signal), name=name)
                for name in [n for n in tasks if n not in wanted]:
                    tasks.pop(name).cancel()
                await self._until_stopped(self.settings.refresh_seconds)
        finally:
            for task in tasks.values():
                task.cancel()
            if notifier is not None:
                notifier.cancel()
                await asyncio.gather(notifier, return_exceptions=True)
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            for name in tasks:
                try:
                    await asyncio.to_thread(self.cursors.release, name)
                except Exception:
                    log.warning("could not release the lease of sink %s", name)

    async def _prune(self) -> None:
        retention = self.settings.outbox_retention_seconds
        if retention <= 0:
            return
        try:
            await asyncio.to_thread(prune_outbox, self.services.db, time.time() - retention)
        except Exception:
            log.exception("pruning the outbox failed; trying again later")

    async def _notify(self) -> None:
        """Send the job notifications that are due, round after round (sinks/notifications.py)."""
        notifier = Notifier(self.services, self.settings, self.owner)
        try:
            while True:
                try:
                    sent = await notifier.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("notifications: a round failed; trying again")
                    sent = 0
                if not sent:
                    await self._sleep(NOTIFY_POLL_SECONDS)
        finally:
            await notifier.close()

    def _prepare_nats(self) -> str:
        self.cursors.ensure(jetstream.CURSOR, self.feed.horizon())  # a new sink starts from now
        return jetstream.install_id(self.services.db)

    def _wanted(self, msg_id_prefix: str | None) -> dict[str, Callable[[], Sink] | None]:
        wanted: dict[str, Callable[[], Sink] | None] = {}
        if self.settings.nats_url and msg_id_prefix is not None:
            settings = self.settings
            wanted[jetstream.CURSOR] = lambda: jetstream.NatsSink(settings, msg_id_prefix)
        if self.settings.notifications:
            if not self._notifications_ready:  # a new sink starts from now, not the whole history
                self.cursors.ensure(NOTIFICATIONS_CURSOR, self.feed.horizon())
                self._notifications_ready = True
            store = NotificationStore(self.services.db)
            wanted[NOTIFICATIONS_CURSOR] = lambda: NotificationRouter(self.services, store)
        if self.settings.webhooks:
            for hook in self.webhooks.active():
                wanted[cursor_name(hook.id)] = functools.partial(
                    WebhookSink, hook, self.settings.webhook_timeout_seconds)
        return wanted

    # -- one sink -------------------------------------------------------------------------
    async def _serve(self, sink: Sink, signal: AsyncSignal) -> None:
        standby = self.settings.lease_seconds / 3
        try:
            with signal.subscribe() as sub:
                while True:
                    try:
                        claim = await asyncio.to_thread(self.cursors.claim, sink.name)
                        if claim is not None:
                            await self._deliver_while_owner(sink, sub, claim.position, claim.failures)
                            continue  # lost the lease: back to standby
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("sink %s: publisher error; retrying", sink.name)
                    await self._sleep(standby)  # another replica serves it, or we just failed
        finally:
            await sink.close()

    async def _deliver_while_owner(self, sink: Sink, sub: Subscription, position: int,
                                   failures: int) -> None:
        settings = self.settings
        renew_every = settings.lease_seconds / 3
        renewed = time.monotonic()
        while True:
            if failures:
                if not await self._back_off(sink.name, settings.retry_delay(failures)):
                    return
                renewed = time.monotonic()
            sub.arm()
            events, through = await asyncio.to_thread(self.feed.read, position, limit=settings.batch_size)
            if through == position:  # nothing new: renew the lease when due, then wait
                if time.monotonic() - renewed >= renew_every:
                    if await asyncio.to_thread(self.cursors.claim, sink.name) is None:
                        return
                    renewed = time.monotonic()
                await sub.wait(min(settings.poll_seconds, renew_every))
                continue
            reached, delivered, error = position, False, None
            try:
                for event in events:
                    if time.monotonic() - renewed >= renew_every:
                        # A long batch (a slow sink) saves its progress and renews the lease on the
                        # way, so a standby never sees it expire and delivers the same events again.
                        if not await _to_the_end(self.cursors.advance, sink.name, reached,
                                                 delivered=delivered):
                            log.info("sink %s: lease lost to another publisher", sink.name)
                            return
                        position, renewed = reached, time.monotonic()
                    if sink.wants(event):
                        try:
                            await sink.deliver(event)
                        except Exception as exc:
                            error = f"event {event.seq}: {type(exc).__name__}: {exc}"
                            break
                        delivered = True
                    reached = event.seq
                else:
                    reached = through
            except asyncio.CancelledError:
                # Stopping mid-batch: what was delivered is saved before the lease is released,
                # or the standby taking over would deliver it again.
                if reached > position:
                    await _to_the_end(self.cursors.advance, sink.name, reached, delivered=delivered)
                raise
            if error is None:
                failures = 0
                owned = await _to_the_end(self.cursors.advance, sink.name, reached, delivered=delivered)
            else:
                failures += 1
                log.warning("sink %s: delivery failed (%d in a row, next try in %.1f s): %s",
                            sink.name, failures, settings.retry_delay(failures), error)
                owned = await _to_the_end(self.cursors.failed, sink.name, reached, failures, error)
            if not owned:
                log.info("sink %s: lease lost to another publisher", sink.name)
                return
            position, renewed = reached, time.monotonic()

    async def _back_off(self, name: str, delay: float) -> bool:
        """Wait `delay` seconds, renewing the lease meanwhile; False if it was lost."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await self._sleep(min(left, self.settings.lease_seconds / 3))
            if time.monotonic() < deadline and await asyncio.to_thread(self.cursors.claim, name) is None:
                return False
        return True

    async def _until_stopped(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when the publisher is stopping."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _sleep(self, seconds: float) -> None:
        """A sink task's pause; it ends the task when the publisher stops."""
        if await self._until_stopped(seconds):
            raise asyncio.CancelledError


async def _to_the_end(call: Callable[..., bool], *args: object, **kwargs: object) -> bool:
    """Run a cursor write in a thread and wait for it even if this task is cancelled meanwhile: a
    thread cannot be stopped, and a write landing after the publisher released its lease would be
    refused (`owner = me`), losing the progress it records."""
    future = asyncio.ensure_future(asyncio.to_thread(call, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await future
        raise
