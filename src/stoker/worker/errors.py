"""Error text for people: a few meaningful lines, not a JVM stack dump."""

from __future__ import annotations

MAX_LINES = 5
MAX_CHARS = 1000
_STACK_MARKERS = ("at ", "JVM stacktrace", "Caused by", "...", "Traceback", "File \"")


def short_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    kept: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_STACK_MARKERS):
            break
        kept.append(line)
        if len(kept) == MAX_LINES:
            break
    message = "\n".join(kept) or type(exc).__name__
    name = type(exc).__name__
    if not message.startswith(name):
        message = f"{name}: {message}"
    return message[:MAX_CHARS]
