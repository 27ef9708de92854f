"""Settings of the publisher and its sinks, read from the environment once and passed explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SinkSettings:
    nats_url: str | None = None  # STOKER_NATS_URL; unset: the NATS sink is off
    nats_stream: str = "STOKER_RUNS"
    nats_subject_prefix: str = "stoker.runs"  # events go to <prefix>.<event>
    # cluster.<status> goes to <prefix>.<status>; None: the run prefix's sibling (stoker.runs → stoker.clusters)
    nats_cluster_subject_prefix: str | None = None
    nats_timeout_seconds: float = 5.0  # connect and publish-ack timeout
    webhooks: bool = True
    webhook_timeout_seconds: float = 10.0  # must stay well below lease_seconds (see store/sink_cursors.py)
    # A failing sink retries after base * 2^(failures-1), capped; the delay never holds up a run.
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 60.0
    lease_seconds: float = 30.0  # how long a publisher owns a sink without renewing
    poll_seconds: float = 1.0  # fallback poll for events written by other processes
    refresh_seconds: float = 2.0  # how soon a new or deleted webhook is noticed
    batch_size: int = 500
    # Outbox events older than this are pruned (store/retention.py); 0 keeps them forever.
    outbox_retention_seconds: float = 7 * 24 * 3600.0
    prune_every_seconds: float = 60.0
    # Job notifications (sinks/notifications.py, docs/notifications.md).
    notifications: bool = True  # STOKER_NOTIFICATIONS=0: this process sends none (another replica may)
    smtp_host: str | None = None  # e-mail destinations need it
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "stoker@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    notify_timeout_seconds: float = 10.0
    notify_lease_seconds: float = 60.0  # a publisher that died mid-send is replaced after this
    notify_retry_base_seconds: float = 2.0
    notify_retry_max_seconds: float = 600.0
    notify_max_tries: int = 12  # then the delivery is `failed` for good (about an hour of tries)
    slow_check_seconds: float = 5.0
    public_url: str | None = None  # the links in messages (default: the server's STOKER_URL)

    @classmethod
    def from_env(cls, **overrides: object) -> SinkSettings:
        env = os.environ

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            return float(raw) if raw else default

        base = cls(
            nats_url=env.get("STOKER_NATS_URL") or None,
            nats_stream=env.get("STOKER_NATS_STREAM") or cls.nats_stream,
            nats_subject_prefix=env.get("STOKER_NATS_SUBJECT_PREFIX") or cls.nats_subject_prefix,
            nats_cluster_subject_prefix=env.get("STOKER_NATS_CLUSTER_SUBJECT_PREFIX") or None,
            webhooks=env.get("STOKER_WEBHOOKS", "1").lower() not in ("0", "false", "no", "off"),
            retry_base_seconds=number("STOKER_SINK_RETRY_BASE_SECONDS", cls.retry_base_seconds),
            retry_max_seconds=number("STOKER_SINK_RETRY_MAX_SECONDS", cls.retry_max_seconds),
            lease_seconds=number("STOKER_SINK_LEASE_SECONDS", cls.lease_seconds),
            poll_seconds=number("STOKER_SINK_POLL_SECONDS", cls.poll_seconds),
            refresh_seconds=number("STOKER_SINK_REFRESH_SECONDS", cls.refresh_seconds),
            outbox_retention_seconds=number("STOKER_OUTBOX_RETENTION_HOURS",
                                            cls.outbox_retention_seconds / 3600) * 3600,
            notifications=env.get("STOKER_NOTIFICATIONS", "1").lower() not in ("0", "false", "no", "off"),
            smtp_host=env.get("STOKER_SMTP_HOST") or None,
            smtp_port=int(number("STOKER_SMTP_PORT", cls.smtp_port)),
            smtp_user=env.get("STOKER_SMTP_USER") or None,
            smtp_password=env.get("STOKER_SMTP_PASSWORD") or None,
            smtp_from=env.get("STOKER_SMTP_FROM") or cls.smtp_from,
            smtp_starttls=env.get("STOKER_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes", "on"),
            smtp_ssl=env.get("STOKER_SMTP_SSL", "0").lower() in ("1", "true", "yes", "on"),
            notify_lease_seconds=number("STOKER_NOTIFY_LEASE_SECONDS", cls.notify_lease_seconds),
            notify_retry_base_seconds=number("STOKER_NOTIFY_RETRY_BASE_SECONDS", cls.notify_retry_base_seconds),
            notify_retry_max_seconds=number("STOKER_NOTIFY_RETRY_MAX_SECONDS", cls.notify_retry_max_seconds),
            notify_max_tries=int(number("STOKER_NOTIFY_MAX_TRIES", cls.notify_max_tries)),
            slow_check_seconds=number("STOKER_SLOW_CHECK_SECONDS", cls.slow_check_seconds),
            public_url=env.get("STOKER_PUBLIC_URL") or None,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    def cluster_subject_prefix(self) -> str:
        if self.nats_cluster_subject_prefix:
            return self.nats_cluster_subject_prefix
        base = self.nats_subject_prefix
        return (base.removesuffix(".runs") if base.endswith(".runs") else base) + ".clusters"

    def notify_retry_delay(self, tries: int) -> float | None:
        """When a notification that failed `tries` times is tried again; None: it is given up."""
        if tries >= self.notify_max_tries:
            return None
        return min(self.notify_retry_max_seconds, self.notify_retry_base_seconds * 2.0 ** min(tries - 1, 30))

    def retry_delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.retry_max_seconds, self.retry_base_seconds * 2.0 ** min(failures - 1, 30))
