"""Where a pipeline may read and write: inside the storage roots, or S3 through s3a.

Clients name files; the server decides what those names mean. Every check works on the path
after normpath and realpath, so "../" and symlinks cannot lead outside a root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from stoker.catalog.errors import PathRefused
from stoker.catalog.s3paths import S3_SCHEMES, parse_s3_url
from stoker.core.teams import DEFAULT_TEAM, check_team_name

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_GLOB_CHARS = "*?["


class StorageRoots:
    """The directories a run may touch. Relative paths land in `storage_root`; absolute paths
    must already be inside it or inside one of `extra_roots`.

    These are the default team's roots. Every other team has one root of its own,
    `<teams_dir>/<team>/files` (docs/teams.md), which `for_team` hands out: a team's pipelines and
    its files API see that root and no other, so one team's paths never name another's files."""

    def __init__(self, storage_root: Path, extra_roots: Sequence[Path] = (), *,
                 teams_dir: Path | None = None) -> None:
        # Roots are realpath'd once so containment compares like with like (e.g. /tmp → /private/tmp).
        self.storage_root = Path(os.path.realpath(storage_root))
        self.extra_roots = tuple(Path(os.path.realpath(r)) for r in extra_roots)
        self.teams_dir = teams_dir
        self._teams: dict[str, StorageRoots] = {}

    def for_team(self, team: str) -> StorageRoots:
        """The roots of `team` (made on first use); the default team's are these."""
        if team == DEFAULT_TEAM or self.teams_dir is None:
            return self
        found = self._teams.get(team)
        if found is None:
            check_team_name(team)  # a name that could climb out of teams_dir never gets here
            root = self.teams_dir / team / "files"
            root.mkdir(parents=True, exist_ok=True)
            found = self._teams[team] = StorageRoots(root)
        return found

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.storage_root, *self.extra_roots)

    def __repr__(self) -> str:
        return f"StorageRoots({str(self.storage_root)!r}, extra_roots={[str(r) for r in self.extra_roots]!r})"

    def resolve(self, path: str) -> str:
        """The path Spark should use: an absolute local path inside a root, or an s3a:// URI.

        Globs (* ? [..]) are kept for Spark to expand, after the part before them is resolved;
        callers that read should expand them with `expand()` so matches are checked too.
        """
        if not isinstance(path, str) or not path.strip():
            raise PathRefused(None, str(path), "a path must be a non-empty string")
        if "\x00" in path:
            raise PathRefused(None, path, "a path must not contain NUL characters")
        match = _SCHEME.match(path)
        if match:
            return self._resolve_uri(path, match.group(1).lower())
        if "{" in path or "}" in path:
            # Hadoop expands {a,b} textually, so "{..}" could climb out after our checks.
            raise PathRefused(None, path, f"path {path!r}: brace patterns {{a,b}} are not supported")
        joined = path if os.path.isabs(path) else os.path.join(self.storage_root, path)
        resolved = _realpath_with_glob(os.path.normpath(joined))
        if not self.contains(resolved):
            raise PathRefused(None, path, f"path {path!r} is outside the storage roots")
        return resolved

    def resolve_output(self, path: str) -> str:
        """Like resolve(), for a path to write: no globs, no S3 bucket root, and never a root
        itself (a write in overwrite mode would delete everything under it)."""
        resolved = self.resolve(path)
        if is_remote(resolved):
            bucket_and_key = resolved.split("://", 1)[1].strip("/")
            if "/" not in bucket_and_key:
                raise PathRefused(None, path, f"path {path!r}: writing to a bucket root is not allowed")
            return resolved
        if has_glob(resolved):
            raise PathRefused(None, path, f"path {path!r}: an output path cannot contain * ? or [")
        if Path(resolved) in self.roots:
            raise PathRefused(None, path, f"path {path!r} is a storage root; write to a path inside it")
        return resolved

    def resolve_relative(self, path: str, *, output: bool = False) -> str:
        """A path named relative to the storage root, as the files API names every path (and as a
        pipeline's relative path means): checked by resolve() (or resolve_output() to write), so
        the API and pipelines refuse the same traversal and symlink escapes; a URL, an absolute
        path or a glob is refused first, since the API names files in this root and no other."""
        if isinstance(path, str) and (os.path.isabs(path) or _SCHEME.match(path)):
            raise PathRefused(None, path, f"path {path!r} must be relative to the storage root "
                                          "(e.g. people.csv or out/adults.parquet)")
        if isinstance(path, str) and (has_glob(path) or "{" in path or "}" in path):
            raise PathRefused(None, path, f"path {path!r}: a file name cannot contain * ? [ {{ or }} "
                                          "(pipelines read them as patterns)")
        return self.resolve_output(path) if output else self.resolve(path)

    def contains(self, resolved: str) -> bool:
        """Is this (already realpath'd) local path inside one of the roots?"""
        for root in self.roots:
            try:
                if os.path.commonpath([root, resolved]) == str(root):
                    return True
            except ValueError:  # different drives; cannot happen on POSIX
                continue
        return False

    def expand(self, resolved: str) -> list[str]:
        """The files a resolved local glob matches, each checked again after realpath (a match can
        be a symlink pointing out). A path without glob characters is returned as it is."""
        if is_remote(resolved) or not has_glob(resolved):
            return [resolved]
        import glob

        matches = sorted(glob.glob(resolved))
        for match in matches:
            if not self.contains(os.path.realpath(match)):
                raise PathRefused(None, resolved,
                                  f"{match!r} (matched by {resolved!r}) leads outside the storage roots")
        return matches

    def _resolve_uri(self, path: str, scheme: str) -> str:
        if scheme in S3_SCHEMES:
            try:
                url = parse_s3_url(path)
            except ValueError as exc:
                raise PathRefused(None, path, f"path {exc}") from None
            if url is None:
                raise PathRefused(None, path, f"path {path!r}: an S3 URL looks like s3://bucket/key")
            return url.uri  # s3:// is the name people know; Hadoop's connector is s3a
        raise PathRefused(None, path, f"path {path!r}: scheme '{scheme}:' is not allowed; use a path "
                                      "inside the storage root or an s3:// URL")


def is_remote(resolved: str) -> bool:
    return resolved.startswith("s3a://")


def has_glob(path: str) -> bool:
    return any(c in path for c in _GLOB_CHARS)


def _realpath_with_glob(path: str) -> str:
    """realpath() of the part before the first glob component, with the rest appended, so
    symlinks in the fixed part are followed before the containment check."""
    if not has_glob(path):
        return os.path.realpath(path)
    parts = path.split(os.sep)
    first = next(i for i, part in enumerate(parts) if has_glob(part))
    prefix = os.sep.join(parts[:first]) or os.sep
    return os.path.join(os.path.realpath(prefix), *parts[first:])
