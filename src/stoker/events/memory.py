"""Keeping freed memory in the process for the next payload (glibc's malloc only).

Ingesting a payload of 1,000 Spark events allocates tens of MB (the gunzipped JSON, each event's
text, the NDJSON body, its zstd frame) and frees them when the payload is stored. With glibc's
defaults, allocations over 128 KiB are mmap'ed and returned on free, and freed memory at the top of
the heap goes back to the kernel: the next payload then faults every page in again, which cost as
much as decoding the events did (keeping it made ingest of 1,000-event payloads 1.2–1.5x
faster). `keep_freed_memory()` raises both thresholds for the process (called by `stoker
raises both thresholds for the process (called by `stoker serve`/`worker` at start), so a server
allocates concurrently, gives back what it has free over 64 MiB).
Settings the environment gives (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) are left alone, and
STOKER_MALLOC_TUNING=0 (`Settings.malloc_tuning`) turns this off.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for the dynamic threshold on 64-bit
TRIM_THRESHOLD = 64 * 1024 * 1024  # > the ~30 MB a payload of 1,000 TaskEnds passes through

def keep_freed_memory(enabled: bool = True) -> bool:
    """Raise glibc's mmap and trim thresholds (idempotent); False where that does not apply."""
    # MALLOC_*_THRESHOLD_ are glibc's own variables: set, they win (glibc reads them, not Stoker).
    if (not enabled or not sys.platform.startswith("linux")
            or "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt thresholds)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
