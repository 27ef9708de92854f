"""A bounded LRU of inferred schemas, so a repeat read of an unchanged file skips inference.

Inferring a CSV schema (header + inferSchema) costs Spark two extra jobs over the data, and a
parquet or JSON read one more; for the small files Stoker is tuned for, that is most of a run.
A file's identity here is its resolved path, size and mtime: change any and the entry misses. A
staged S3 input (a new local path per attempt) is known by the objects it was copied from: bucket,
keys, ETags and sizes, so a repeat read of an unchanged object hits as a local one does.
The cache belongs to one Catalog (no module-level state), and is shared by its worker threads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from stoker.catalog.paths import is_remote

# Directory reads are signed by listing them; past this many files the listing itself would
# cost more than it saves, so such reads are not cached.
MAX_SIGNED_FILES = 1000


class SchemaCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            schema = self._entries.get(key)
            if schema is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return schema

    def put(self, key: Hashable, schema: Any) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = schema
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def cache_key(fmt: str, paths: Sequence[str], options: Mapping[str, Any],
              sources: Mapping[str, Hashable] | None = None) -> Hashable | None:
    """The key for a read, or None when the inputs cannot be signed cheaply (S3 read directly,
    huge dirs, missing files): those reads simply infer as Spark would. `sources` names the
    identity of paths that stand for data elsewhere (staged S3 objects)."""
    signed: list[Hashable] = []
    for path in paths:
        source = _source(path, sources) if sources else None
        sig = ("source", source) if source is not None else signature(path)
        if sig is None:
            return None
        signed.append(sig)
    opts = tuple(sorted((k.lower(), repr(v)) for k, v in options.items()))
    return (fmt, tuple(signed), opts)


def _source(path: str, sources: Mapping[str, Hashable]) -> Hashable | None:
    if path in sources:
        return sources[path]
    real = os.path.realpath(path)
    for local, identity in sources.items():
        if os.path.realpath(local) == real:
            return identity
    return None


def signature(path: str) -> tuple[Any, ...] | None:
    """A local path's identity for caching: its size and time, or a directory's every file's (None
    when remote, missing, or past MAX_SIGNED_FILES files)."""
    if is_remote(path):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return (path, st.st_size, st.st_mtime_ns)
    files: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                fst = os.stat(full)
            except OSError:
                return None
            files.append((os.path.relpath(full, path), fst.st_size, fst.st_mtime_ns))
            if len(files) > MAX_SIGNED_FILES:
                return None
    return (path, st.st_mtime_ns, tuple(files))
