"""Job notifications, delivered through the outbox (docs/notifications.md).

Two halves, both in the publisher's thread:
- `NotificationRouter` is a sink like webhooks and NATS: it follows its own cursor over the outbox
  (at least once, in order) and, for each run event a job's notifications want (failed → failure,
  succeeded → success, retrying → retry, running → start), makes one delivery row per destination.
  The row's unique key (run, event, attempt, destination) makes a re-read event a no-op: one
  message per run and event, whatever crashes in between.
- `Notifier` sends the due rows: it claims each under a lease (so one replica sends it), posts the
  signed webhook, the chat message or the e-mail, and marks it delivered, or failed with its error
  and the time of the next try (exponential backoff; given up after `notify_max_tries`). A process
  killed mid-send leaves its row claimed until the lease ends; another (or the restarted one)
  sends it then: at least once, with a stable id (X-Stoker-Delivery, the e-mail's Message-ID) for
  receivers that dedupe. It also runs the slow check: a RUNNING attempt past its job's threshold
  (or twice its median) owes one `slow` message.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx
import orjson

from stoker.config import SinkSettings
from stoker.core import notifications as notify
from stoker.core.secret_refs import Redactor
from stoker.services import Services
from stoker.sinks.events import Event
from stoker.sinks.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from stoker.store.notifications import Delivery, NotificationStore, Owed

log = logging.getLogger(__name__)

CURSOR = "notifications"
JOBS_REFRESH_SECONDS = 1.0


class JobNotifications:
    """job id -> (name, notifications) of the jobs that have some, reread at most every second."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._jobs: dict[str, tuple[str, dict[str, Any]]] = {}
        self._read_at = -1e18

    def get(self) -> dict[str, tuple[str, dict[str, Any]]]:
        if time.monotonic() - self._read_at >= JOBS_REFRESH_SECONDS:
            self._jobs = self.services.runs.jobs.with_notifications()
            self._read_at = time.monotonic()
        return self._jobs


class NotificationRouter:
    """The sink that turns run events into the deliveries their jobs' notifications owe."""

    name = CURSOR

    def __init__(self, services: Services, store: NotificationStore) -> None:
        self.store = store
        self.jobs = JobNotifications(services)

    def wants(self, event: Event) -> bool:
        return event.event in notify.BY_RUN_EVENT and event.job_id is not None

    async def deliver(self, event: Event) -> None:
        await asyncio.to_thread(self._route, event)

    def _route(self, event: Event) -> None:
        found = self.jobs.get().get(event.job_id or "")
        if found is None or event.run_id is None:
            return
        kind = notify.BY_RUN_EVENT[event.event]
        attempt = int(event.payload.get("attempt") or 0)
        document = event.document()
        self.store.enqueue([Owed(event.job_id or "", event.run_id, kind, attempt, d.key, d.kind, d.target, d.spec,
                                 document) for d in notify.owed(found[1], kind)])

    async def close(self) -> None:
        pass


class DeliveryFailed(Exception):
    pass


class Notifier:
    """Sends the deliveries that are due, and runs the slow check (see the module's docstring)."""

    def __init__(self, services: Services, settings: SinkSettings, owner: str) -> None:
        self.services = services
        self.settings = settings
        self.owner = owner
        self.store = NotificationStore(services.db)
        self.jobs = JobNotifications(services)
        self.base_url = (settings.public_url or services.settings.api_url).rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._slow_checked = 0.0
        self._redaction: tuple[tuple[int, float], Redactor] | None = None

    async def run_once(self) -> int:
        """One round: the slow check when due, then every due delivery; how many were sent."""
        if time.monotonic() - self._slow_checked >= self.settings.slow_check_seconds:
            self._slow_checked = time.monotonic()
            try:
                await asyncio.to_thread(self.check_slow)
            except Exception:
                log.exception("notifications: the slow check failed; trying again later")
        due = await asyncio.to_thread(self.store.claim, self.owner, self.settings.notify_lease_seconds)
        for delivery in due:
            await self.send(delivery)
        return len(due)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # -- the slow check -------------------------------------------------------------------
    def check_slow(self) -> None:
        wanting = {job_id: (name, n) for job_id, (name, n) in self.jobs.get().items() if notify.wants_slow(n)}
        if not wanting:
            return
        now = time.time()
        owed: list[Owed] = []
        for run in self.store.running(list(wanting)):
            name, notifications = wanting[run.job_id]
            threshold = notify.slow_threshold(notifications, self.store.median(run.job_id)
                                              if not notifications.get("slow_after_seconds") else None)
            if threshold is None or now - run.started_at < threshold:
                continue
            payload = {"event": "slow", "run_id": run.run_id, "job_id": run.job_id, "job": name, "state": "RUNNING",
                       "attempt": run.attempt, "threshold_seconds": threshold, "created_at": now}
            owed += [Owed(run.job_id, run.run_id, "slow", run.attempt, d.key, d.kind, d.target, d.spec, payload)
                     for d in notify.owed(notifications, "slow")]
        if owed:
            self.store.enqueue(owed)  # the unique key: one `slow` per attempt however often this runs

    # -- sending --------------------------------------------------------------------------
    async def send(self, delivery: Delivery) -> None:
        try:
            message = await asyncio.to_thread(self.message, delivery)
            if delivery.kind == "email":
                await asyncio.to_thread(self._email, delivery, message)
            else:
                await self._post(delivery, message)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeliveryFailed) else str(exc)
            retry_in = self.settings.notify_retry_delay(delivery.tries + 1)
            log.warning("notification %s (%s %s, job %s) failed, try %d: %s; %s", delivery.id, delivery.kind,
                        delivery.target, delivery.payload.get("job"), delivery.tries + 1, error,
                        "given up" if retry_in is None else f"next try in {retry_in:.1f} s")
            await asyncio.to_thread(self.store.failed, delivery.id, self.owner, error, retry_in)
            return
        await asyncio.to_thread(self.store.delivered, delivery.id, self.owner)

    def message(self, delivery: Delivery) -> notify.Message:
        facts = self.store.facts(delivery.run_id)
        payload = delivery.payload
        now = time.time()
        started = facts.started_at if facts is not None else None
        if delivery.event in ("start", "slow"):
            duration = now - started if started else None
        else:
            duration = (facts.finished_at - started) if facts and facts.finished_at and started else None
        error = payload.get("error") or (facts.error if facts and delivery.event in ("failure", "retry") else None)
        return notify.Message(
            event=delivery.event, job=facts.job if facts else str(payload.get("job")), run_id=delivery.run_id,
            state=str(payload.get("state") or (facts.state if facts else "")), attempt=delivery.attempt,
            max_attempts=facts.max_attempts if facts else 0,
            error=self._redacted(error) if error else None, duration=duration,
            usual=facts.usual if facts else None, link=f"{self.base_url}/ui/runs/{delivery.run_id}",
            delivery_id=delivery.id)

    def _redacted(self, text: str) -> str:
        """An error quoting a secret's value (a run's log already hides it; this is belt and braces
        for errors written before the worker knew it)."""
        store = self.services.secret_store
        generation = store.generation()
        if self._redaction is None or self._redaction[0] != generation:
            self._redaction = (generation, Redactor(store.redactable_values() if generation[0] else ()))
        return self._redaction[1].text(text)

    def _secret_value(self, name: str, key: str) -> str:
        found = self.services.secret_store.open_many([name]).get(name)
        if found is None or key not in found.values:
            raise DeliveryFailed(f"secret {name!r} (key {key!r}) named by this destination is gone")
        return found.values[key]

    async def _post(self, delivery: Delivery, message: notify.Message) -> None:
        spec = delivery.spec
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.notify_timeout_seconds, follow_redirects=False,
                                             headers={"User-Agent": "stoker-notifications"})
        headers = {"Content-Type": "application/json", "X-Stoker-Delivery": delivery.id,
                   "X-Stoker-Event": f"notification.{delivery.event}"}
        if delivery.kind == "chat":
            url = str(spec.get("url") or await asyncio.to_thread(self._secret_value, spec["secret"], "url"))
            body = orjson.dumps(message.chat())
        else:
            url = str(spec["url"])
            body = orjson.dumps(message.document())
            key = await asyncio.to_thread(self._secret_value, spec["secret"], "signing_key")
            headers.update({TIMESTAMP_HEADER: str(int(time.time())), SIGNATURE_HEADER: sign(key, body)})
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {delivery.target}: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"POST {delivery.target}: HTTP {response.status_code}")

    def _email(self, delivery: Delivery, message: notify.Message) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryFailed("no SMTP server is set (STOKER_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = ", ".join(delivery.spec["to"])
        mail["Subject"] = message.subject()
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{delivery.id}@stoker>"  # the same on every try: receivers may dedupe
        mail["X-Stoker-Delivery"] = delivery.id
        mail.set_content(message.body())
        smtp_class = smtplib.SMTP_SSL if s.smtp_ssl else smtplib.SMTP
        try:
            with smtp_class(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_seconds,
                            local_hostname=socket.gethostname() or "stoker") as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP {s.smtp_host}:{s.smtp_port}: {type(exc).__name__}: {exc}") from exc
