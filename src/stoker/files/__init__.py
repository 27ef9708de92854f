"""Files under the storage root, as the files API, the CLI and the UI see them: listing, atomic
streamed uploads, ranged downloads, directories as one streamed archive (`storage.py`) and
previews read with pyarrow (`preview.py`). Every path goes through the storage roots' own check
(`catalog.paths.StorageRoots.resolve_relative`), the one pipelines use."""

from __future__ import annotations

from stoker.files.storage import Entry, FileLimits, FileStore, Upload

__all__ = ["Entry", "FileLimits", "FileStore", "Upload"]
