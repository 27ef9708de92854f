"""A job's notifications (docs/notifications.md): which run events to tell, to whom, and the words
of each message. Pure: checking a configuration, choosing what an event owes, writing messages.

```json
{"on": ["failure"], "slow_after_seconds": 3600,
 "destinations": [{"kind": "chat", "secret": "oncall-slack"},
                  {"kind": "email", "to": ["oncall@example.org"], "on": ["failure", "slow"]},
                  {"kind": "webhook", "url": "https://ops.example.org/stoker", "secret": "ops-hook"}]}
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from stoker.core.errors import InvalidInput
from stoker.core.secret_refs import NAME, Ref

NOTIFY_EVENTS = ("failure", "success", "retry", "start", "slow")
KINDS = ("webhook", "chat", "email")
# The run event (store/outbox.py) each notification follows; `slow` comes from the slow check.
BY_RUN_EVENT = {"failed": "failure", "succeeded": "success", "retrying": "retry", "running": "start"}
SLOW_FACTOR = 2.0  # slow: running longer than this times the job's median, without a threshold
MAX_DESTINATIONS = 10
EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}$")
SECRET_KEY_OF = {"chat": "url", "webhook": "signing_key"}  # the key a destination's secret must have


@dataclass(frozen=True)
class Destination:
    key: str  # a digest of its spec: one message per run, event and destination
    kind: str
    on: tuple[str, ...]
    spec: dict[str, Any]

    @property
    def target(self) -> str:
        """What reads may show: a webhook's URL without its query, a chat's host, the addresses."""
        if self.kind == "email":
            return ", ".join(self.spec["to"])
        if "url" not in self.spec:
            return f"(secret {self.spec['secret']})"
        parts = urlsplit(self.spec["url"])
        return f"{parts.scheme}://{parts.netloc}" + (parts.path if self.kind == "webhook" else "/…")


def check(raw: Any) -> dict[str, Any] | None:
    """A job's `notifications` as given, checked (422 saying what is wrong); None removes them."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("notifications must be an object: {\"on\": [...], \"destinations\": [...]}")
    unknown = set(raw) - {"on", "slow_after_seconds", "destinations"}
    if unknown:
        raise InvalidInput(f"notifications: unknown field(s) {sorted(unknown)}; they take on, "
                           "slow_after_seconds, destinations")
    on = _events(raw.get("on", ["failure"]), "notifications.on")
    slow = raw.get("slow_after_seconds")
    if slow is not None and (isinstance(slow, bool) or not isinstance(slow, int | float) or not 1 <= slow <= 7 * 86400):
        raise InvalidInput("notifications.slow_after_seconds must be a number of seconds from 1 to 604800")
    destinations = raw.get("destinations")
    if not isinstance(destinations, list) or not 1 <= len(destinations) <= MAX_DESTINATIONS:
        raise InvalidInput(f"notifications.destinations must list 1 to {MAX_DESTINATIONS} destinations")
    checked = [_destination(d, f"notifications.destinations[{i}]") for i, d in enumerate(destinations)]
    out: dict[str, Any] = {"on": list(on), "destinations": checked}
    if slow is not None:
        out["slow_after_seconds"] = slow
    return out


def _events(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise InvalidInput(f"{where} must list events: {', '.join(NOTIFY_EVENTS)}")
    unknown = [e for e in raw if e not in NOTIFY_EVENTS]
    if unknown:
        raise InvalidInput(f"{where}: unknown event(s) {unknown}; choose from {', '.join(NOTIFY_EVENTS)}")
    return tuple(dict.fromkeys(raw))


def _destination(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
        raise InvalidInput(f"{where}: a destination is an object with kind {', '.join(KINDS)}")
    kind = raw["kind"]
    allowed = {"kind", "on", "url", "secret"} if kind != "email" else {"kind", "on", "to"}
    unknown = set(raw) - allowed
    if unknown:
        raise InvalidInput(f"{where}: a {kind} destination takes {', '.join(sorted(allowed))}; not {sorted(unknown)}")
    out: dict[str, Any] = {"kind": kind}
    if "on" in raw:
        out["on"] = list(_events(raw["on"], f"{where}.on"))
    if kind == "email":
        to = raw.get("to")
        if isinstance(to, str):
            to = [to]
        if (not isinstance(to, list) or not 1 <= len(to) <= 20
                or not all(isinstance(a, str) and EMAIL.match(a) for a in to)):
            raise InvalidInput(f"{where}.to must list 1 to 20 e-mail addresses")
        out["to"] = to
        return out
    if "secret" in raw:
        if not isinstance(raw["secret"], str) or not NAME.match(raw["secret"]):
            raise InvalidInput(f"{where}.secret must name a secret")
        out["secret"] = raw["secret"]
    if "url" in raw:
        url = raw["url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
            raise InvalidInput(f"{where}.url must be an absolute http(s) URL")
        out["url"] = url
    if kind == "chat" and ("url" in out) == ("secret" in out):
        raise InvalidInput(f"{where}: a chat destination takes its incoming-webhook `url`, or a `secret` whose key "
                           "`url` holds it (chat webhook URLs carry a token), not both")
    if kind == "webhook" and not ("url" in out and "secret" in out):
        raise InvalidInput(f"{where}: a webhook destination takes a `url` and a `secret` (a generic secret with the "
                           "key `signing_key`, the HMAC key of X-Stoker-Signature)")
    return out


def secret_refs(notifications: Mapping[str, Any] | None) -> list[Ref]:
    """The secrets the destinations name, with the key each must hold (checked at submit of the job)."""
    refs: list[Ref] = []
    for i, d in enumerate((notifications or {}).get("destinations") or []):
        if "secret" in d:
            refs.append(Ref(d["secret"], SECRET_KEY_OF[d["kind"]], f"notifications.destinations[{i}].secret"))
    return refs


def destinations(notifications: Mapping[str, Any] | None) -> list[Destination]:
    out = []
    default_on = tuple((notifications or {}).get("on") or ("failure",))
    for d in (notifications or {}).get("destinations") or []:
        key = hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        out.append(Destination(key, d["kind"], tuple(d.get("on") or default_on), dict(d)))
    return out


def owed(notifications: Mapping[str, Any] | None, event: str) -> list[Destination]:
    """The destinations that want a notification event."""
    return [d for d in destinations(notifications) if event in d.on]


def wants_slow(notifications: Mapping[str, Any] | None) -> bool:
    return bool(owed(notifications, "slow"))


# -- the messages -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """What one notification says, in every form a destination takes."""

    event: str
    job: str
    run_id: str
    state: str
    attempt: int
    max_attempts: int
    error: str | None
    duration: float | None  # seconds, so far for start/slow
    usual: float | None  # the job's median duration of succeeded runs, when known
    link: str
    delivery_id: str

    @property
    def headline(self) -> str:
        what = {"failure": "failed", "success": "succeeded", "retry": "failed; retrying",
                "start": "started", "slow": "is running slow"}[self.event]
        attempt = f" (attempt {self.attempt}/{self.max_attempts})" if self.attempt else ""
        return f"Stoker: job {self.job} {what}{attempt}"

    def lines(self) -> list[str]:
        lines = [self.headline, f"run {self.run_id}: {self.state}"]
        if self.error and self.event in ("failure", "retry"):
            lines.append(f"error: {first_line(self.error)}")
        if self.duration is not None:
            usual = f" (usually {words(self.usual)})" if self.usual else ""
            took = "running for" if self.event in ("start", "slow") else "took"
            lines.append(f"{took} {words(self.duration)}{usual}")
        lines.append(self.link)
        return lines

    def chat(self) -> dict[str, Any]:
        """A Slack-compatible incoming-webhook body (Mattermost, Rocket.Chat, Teams' Slack mode)."""
        icon = {"failure": ":red_circle:", "success": ":large_green_circle:", "retry": ":large_orange_circle:",
                "start": ":arrow_forward:", "slow": ":hourglass:"}[self.event]
        lines = self.lines()
        return {"text": f"{icon} {lines[0]}\n" + "\n".join(lines[1:])}

    def document(self) -> dict[str, Any]:
        """The signed webhook's JSON."""
        return {"type": "stoker.notification", "id": self.delivery_id, "event": self.event, "job": self.job,
                "run_id": self.run_id, "state": self.state, "attempt": self.attempt,
                "max_attempts": self.max_attempts, "error": first_line(self.error) if self.error else None,
                "duration_seconds": self.duration, "usual_seconds": self.usual, "link": self.link,
                "text": "\n".join(self.lines())}

    def subject(self) -> str:
        return self.headline

    def body(self) -> str:
        text = "\n".join(self.lines())
        if self.error and self.event in ("failure", "retry"):
            text += "\n\nThe error, whole:\n" + self.error[:20_000]
        return text + "\n"


def first_line(error: str) -> str:
    line = next((ln.strip() for ln in error.splitlines() if ln.strip()), "")
    return line[:300] + ("…" if len(line) > 300 else "")


def words(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def slow_threshold(notifications: Mapping[str, Any] | None, median: float | None) -> float | None:
    """When a run of the job counts as slow: its configured threshold, else twice its median."""
    configured = (notifications or {}).get("slow_after_seconds")
    if configured:
        return float(configured)
    return SLOW_FACTOR * median if median else None
