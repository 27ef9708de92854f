"""The NATS JetStream sink: every event on `<prefix>.<event>` in one stream, acknowledged. Cluster
events (`cluster.<status>`) go to `<cluster prefix>.<status>` (default: `stoker.clusters.<status>`
beside `stoker.runs`).

The cursor moves only after JetStream acknowledged the publish, so a server that is down or slow
delays delivery and loses nothing. `Nats-Msg-Id` is `<install id>-<seq>`: a publish retried after a
lost ack is dropped by JetStream's duplicate window instead of stored twice. (The install id keeps
two Stoker databases that share a NATS server, or a recreated database, from colliding on seqs.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from stoker.config import SinkSettings
from stoker.sinks.events import Event
from stoker.store import settings_kv
from stoker.store.db import Database

log = logging.getLogger(__name__)

CURSOR = "nats"
CLUSTER_EVENT = "cluster."
INSTALL_ID_KEY = "sinks.install_id"


def subject_for(prefix: str, event: Event, cluster_prefix: str = "stoker.clusters") -> str:
    if event.event.startswith(CLUSTER_EVENT):
        return f"{cluster_prefix}.{event.event[len(CLUSTER_EVENT):]}"
    return f"{prefix}.{event.event}"


def install_id(db: Database) -> str:
    """This database's stable random id, made on first use."""
    return settings_kv.get_or_create(db, INSTALL_ID_KEY, lambda: uuid.uuid4().hex[:12])


async def _quiet(*_args: Any) -> None:
    """nats-py logs every connection error through callbacks; our loop reports failures itself."""


class NatsUnavailable(Exception):
    pass


class NatsSink:
    name = CURSOR

    def __init__(self, settings: SinkSettings, msg_id_prefix: str) -> None:
        assert settings.nats_url
        self.url = settings.nats_url
        self.stream = settings.nats_stream
        self.prefix = settings.nats_subject_prefix
        self.cluster_prefix = settings.cluster_subject_prefix()
        self.timeout = settings.nats_timeout_seconds
        self.msg_id_prefix = msg_id_prefix
        self._nc: Any = None
        self._js: Any = None

    def wants(self, event: Event) -> bool:
        return True

    async def _connect(self) -> Any:
        if self._nc is not None and self._nc.is_connected:
            return self._js
        await self.close()
        import nats
        from nats.js.errors import NotFoundError

        # No automatic reconnects: a failed publish fails the batch, and the publisher's own
        # backoff decides when to try again (with a fresh connection). nats-py retries the first
        # connect until max_reconnect_attempts is *exceeded* (0 would mean forever), hence 1 and a
        # short wait, all bounded by our timeout.
        self._nc = await asyncio.wait_for(
            nats.connect(self.url, name="stoker-publisher", allow_reconnect=False,
                         connect_timeout=self.timeout, max_reconnect_attempts=1, reconnect_time_wait=0.1,
                         error_cb=_quiet, disconnected_cb=_quiet, closed_cb=_quiet),
            self.timeout)
        self._js = self._nc.jetstream(timeout=self.timeout)
        subjects = [f"{self.prefix}.>"]
        if not self.cluster_prefix.startswith(f"{self.prefix}."):  # else prefix.> already holds them
            subjects.append(f"{self.cluster_prefix}.>")
        try:
            info = await self._js.stream_info(self.stream)
            missing = [s for s in subjects if s not in (info.config.subjects or [])]
            if missing:  # a stream made before cluster events existed
                info.config.subjects = [*(info.config.subjects or []), *missing]
                await self._js.update_stream(info.config)
        except NotFoundError:
            await self._js.add_stream(name=self.stream, subjects=subjects)
            log.info("created JetStream stream %s for %s", self.stream, subjects)
        return self._js

    async def deliver(self, event: Event) -> None:
        try:
            js = await self._connect()
        except Exception as exc:
            await self.close()
            raise NatsUnavailable(f"cannot connect to NATS at {self.url} "
                                  f"({type(exc).__name__}: {str(exc) or 'timed out'})") from exc
        try:
            await js.publish(subject_for(self.prefix, event, self.cluster_prefix), event.nats_body(),
                             timeout=self.timeout,
                             headers={"Nats-Msg-Id": f"{self.msg_id_prefix}-{event.seq}",
                                      "Stoker-Seq": str(event.seq), "Stoker-Event": event.event,
                                      **({"Stoker-Run": event.run_id} if event.run_id else {})})
        except Exception:
            await self.close()  # start from a fresh connection next time
            raise

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                pass
