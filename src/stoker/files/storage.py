"""Files under the storage root: list, upload (streamed, atomic), delete, and a directory as one
streamed archive. Downloads of one file are the router's (a ranged file response); this module
only says which file.

Every path a client names is relative to the storage root and goes through
`StorageRoots.resolve_relative`, the check pipelines' paths go through, so the two can never
disagree about what is inside. Paths in answers are the client's own spelling, normalised
(`out/adults.parquet`), never the server's absolute paths.

An upload is written to a hidden temporary file in the target's directory
(`.stoker-upload-*.part`, never listed) and moved into place with one rename once every byte is
there, flushed and checked, so a reader sees the old file or the new one, never part of one. The
body is consumed in chunks (at most `WRITE_CHUNK` held at once), so memory does not grow with the
file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio

from stoker.catalog import PathRefused, StorageRoots
from stoker.core.errors import Conflict, InvalidInput, NotFound, StokerError

UPLOAD_PREFIX = ".stoker-upload-"  # temporary files of uploads in progress: never listed, never a name
RESERVED_NAMES = frozenset({"preview"})  # GET /api/v1/files/{path}/preview previews {path}
WRITE_CHUNK = 4 * 1024 * 1024  # bytes of an upload gathered before one write (in a thread)
QUEUED_WRITES = 2  # batches received but not yet written, at most (memory: about 3 × WRITE_CHUNK)
SYNC_EVERY = 16 * 1024 * 1024  # bytes written before their writeback is started: the final fsync has little left
ARCHIVE_CHUNK = 1024 * 1024  # bytes of an archive handed to the response at once
ArchiveFormat = Literal["zip", "tar"]


class TooLarge(StokerError):
    status_code = 413


class ChecksumMismatch(StokerError):
    status_code = 400


class Incomplete(StokerError):
    status_code = 400


class BadName(StokerError):
    status_code = 400


class DiskFull(StokerError):
    status_code = 507


@contextlib.contextmanager
def os_errors(path: str) -> Iterator[None]:
    """What the file system says, as an answer: a name too long is the client's 400, a full disk
    507, a file where a directory should be 409; anything else stays a server error."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise BadName(f"path {path!r}: a name in it is longer than the file system allows "
                          "(255 bytes a name)") from None
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull("the server's disk is full: nothing was written; retry when an operator "
                           "has freed space") from None
        if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
            raise Conflict(f"path {path!r}: a file is where a directory should be, or the reverse") from None
        if exc.errno == errno.ELOOP:
            raise BadName(f"path {path!r}: its symlinks form a loop") from None
        raise


@dataclass(frozen=True)
class FileLimits:
    """From the settings (docs/files.md): what one upload may write, how many entries a directory
    may hold before an upload adding one is refused, how many files one archive may carry."""

    max_file_bytes: int = 10 * 1024**3
    max_dir_entries: int = 100_000
    max_archive_files: int = 100_000
    preview_max_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the storage root, with "/" separators
    name: str
    kind: Literal["file", "directory"]
    size: int | None  # bytes of a file; None for a directory
    modified_at: float

    @property
    def format(self) -> str | None:
        """What a preview would read it as, from its name (Spark names its output directories
        after their format: adults.parquet, adults.csv)."""
        return format_of_name(self.name)


@dataclass(frozen=True)
class Upload:
    entry: Entry
    created: bool  # False: an existing file was replaced
    sha256: str | None  # hex, when the client sent a checksum (and it matched)


def format_of_name(name: str) -> str | None:
    lower = name.lower()
    for suffix in (".gz", ".bz2", ".zst", ".lz4", ".snappy"):
        if lower.endswith(suffix) and not lower.endswith(".parquet" + suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith((".parquet", ".parq")):
        return "parquet"
    if lower.endswith((".csv", ".tsv")):
        return "csv"
    if lower.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    return None


def normalise(path: str) -> str:
    """The client's path with doubled and trailing slashes and "." parts gone ("" is the root).
    ".." and a leading "/" are left in place for resolve_relative to judge (and refuse)."""
    clean = "/".join(p for p in path.split("/") if p not in ("", "."))
    return "/" + clean if path.startswith("/") else clean


def parse_checksum(content_digest: str | None, sha256_hex: str | None) -> str | None:
    """The SHA-256 a client says its body has, as hex: `X-Checksum-SHA256: <hex>` or RFC 9530's
    `Content-Digest: sha-256=:<base64>:` (other algorithms there are ignored; none left: None)."""
    if sha256_hex:
        value = sha256_hex.strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidInput("X-Checksum-SHA256 must be 64 hexadecimal digits (the file's SHA-256)")
        return value
    if content_digest:
        for item in content_digest.split(","):
            algorithm, _, value = item.strip().partition("=")
            if algorithm.strip().lower() == "sha-256":
                try:
                    raw = base64.b64decode(value.strip().strip(":"), validate=True)
                except (binascii.Error, ValueError):
                    raw = b""
                if len(raw) != 32:
                    raise InvalidInput("Content-Digest sha-256 must be :<base64 of 32 bytes>: (RFC 9530)")
                return raw.hex()
    return None


class FileStore:
    """The storage root as a file tree for clients."""

    def __init__(self, roots: StorageRoots, limits: FileLimits) -> None:
        self.roots = roots
        self.limits = limits

    # ---- the public operations: each translates what the file system says (os_errors) -------------
    def existing(self, path: str) -> tuple[str, Path, os.stat_result]:
        with os_errors(path):
            return self._existing(path)

    def list_entries(self, prefix: str = "", *, recursive: bool = False, limit: int = 100,
                     cursor: str | None = None) -> tuple[list[Entry], str | None]:
        with os_errors(prefix):
            return self._list_entries(prefix, recursive=recursive, limit=limit, cursor=cursor)

    def archive_members(self, path: str) -> tuple[str, Path, list[tuple[Path, str, os.stat_result]]]:
        with os_errors(path):
            return self._archive_members(path)

    def target_to_write(self, path: str, *, overwrite: bool) -> tuple[str, Path, bool]:
        with os_errors(path):
            return self._target_to_write(path, overwrite=overwrite)

    async def upload(self, path: str, body: AsyncIterable[bytes], *, overwrite: bool = False,
                     length: int | None = None, sha256: str | None = None) -> Upload:
        with os_errors(path):
            return await self._upload(path, body, overwrite=overwrite, length=length, sha256=sha256)

    def delete(self, path: str, *, recursive: bool = False) -> None:
        with os_errors(path):
            self._delete(path, recursive=recursive)

    # ---- naming -------------------------------------------------------------------------------
    def locate(self, path: str) -> tuple[str, Path]:
        """(the path as answers spell it, where it is on disk), for reading; "" is the root."""
        rel = normalise(path)
        _refuse_reserved(rel, writing=False)
        if not rel:
            return "", self.roots.storage_root
        return rel, Path(self.roots.resolve_relative(rel))

    def _existing(self, path: str) -> tuple[str, Path, os.stat_result]:
        rel, where = self.locate(path)
        try:
            return rel, where, where.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no file or directory {rel or '/'!r} in the storage root") from None

    def entry(self, path: str) -> Entry:
        rel, _where, st = self.existing(path)
        return _entry(rel, st)

    # ---- listing ------------------------------------------------------------------------------
    def _list_entries(self, prefix: str = "", *, recursive: bool = False, limit: int = 100,
                      cursor: str | None = None) -> tuple[list[Entry], str | None]:
        """Entries whose path starts with `prefix`, in path order, `limit` a page; the cursor is the
        last path of the previous page. As in S3, a prefix ending in "/" lists that directory;
        otherwise its last part filters the names of its parent directory ("out/ad" → out/adults.csv,
        out/adults.parquet; "out" → out itself, outer.txt). `recursive`: every file below, depth first."""
        clean = normalise(prefix)
        if clean.startswith("/"):
            self.locate(clean)  # an absolute path: refused as every other path is
        directory, start = clean, ""
        if clean and not prefix.endswith("/"):
            directory, _, start = clean.rpartition("/")
        _, base = self.locate(directory)
        if not base.is_dir():
            raise NotFound(f"no directory {directory or '/'!r} in the storage root")
        after = tuple(cursor.split("/")) if cursor else ()
        out: list[Entry] = []
        walker = self._walk(base, directory, start, after) if recursive else self._children(base, directory, start)
        for entry in walker:
            if after and tuple(entry.path.split("/")) <= after:
                continue
            out.append(entry)
            if len(out) > limit:
                break
        if len(out) > limit:
            return out[:limit], out[limit - 1].path
        return out, None

    def _children(self, base: Path, directory: str, start: str) -> Iterator[Entry]:
        for name, st in self._sorted_entries(base, start):
            yield _entry(f"{directory}/{name}" if directory else name, st)

    def _walk(self, base: Path, directory: str, start: str, after: tuple[str, ...]) -> Iterator[Entry]:
        depth = len(directory.split("/")) if directory else 0
        for name, st in self._sorted_entries(base, start):
            rel = f"{directory}/{name}" if directory else name
            parts = tuple(rel.split("/"))
            if stat.S_ISDIR(st.st_mode):
                # A subtree wholly before the cursor is skipped without reading it.
                if after and parts < after[: depth + 1]:
                    continue
                child = base / name
                if self.roots.contains(os.path.realpath(child)):
                    yield from self._walk(child, rel, "", after)
            else:
                yield _entry(rel, st)

    def _sorted_entries(self, base: Path, start: str) -> list[tuple[str, os.stat_result]]:
        found = []
        try:
            scan = os.scandir(base)
        except (FileNotFoundError, NotADirectoryError):
            return []
        with scan:
            for item in scan:
                if not item.name.startswith(start) or item.name.startswith(UPLOAD_PREFIX):
                    continue
                try:
                    st = item.stat()  # follows a symlink: what a read of it would see
                except OSError:
                    continue  # a dangling link, or gone since the scan
                if item.is_symlink() and not self.roots.contains(os.path.realpath(item.path)):
                    continue  # leads out of the roots: not a file of ours
                found.append((item.name, st))
        found.sort(key=lambda pair: pair[0])
        return found

    # ---- download -----------------------------------------------------------------------------
    def file_to_read(self, path: str) -> tuple[str, Path, os.stat_result]:
        rel, where, st = self.existing(path)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{rel or '/'!r} is a directory: download it as one archive "
                               "(?archive=zip or ?archive=tar) or list it (GET /api/v1/files?prefix=...)")
        return rel, where, st

    def _archive_members(self, path: str) -> tuple[str, Path, list[tuple[Path, str, os.stat_result]]]:
        """The files of a directory an archive would carry, checked before the first byte is sent:
        (file on disk, name in the archive, its stat), in path order; symlinks that lead out of the
        roots are left out, and more than max_archive_files is refused."""
        rel, where, st = self.existing(path)
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{rel!r} is a file: download it without ?archive")
        top = rel.rsplit("/", 1)[-1] if rel else "files"
        members: list[tuple[Path, str, os.stat_result]] = []
        for dirpath, dirnames, filenames in os.walk(where):
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if self.roots.contains(os.path.realpath(os.path.join(dirpath, d)))]
            for name in sorted(filenames):
                if name.startswith(UPLOAD_PREFIX):
                    continue
                full = Path(dirpath, name)
                if not self.roots.contains(os.path.realpath(full)):
                    continue
                try:
                    fst = full.stat()
                except OSError:
                    continue
                if not stat.S_ISREG(fst.st_mode):
                    continue
                members.append((full, f"{top}/{full.relative_to(where).as_posix()}", fst))
                if len(members) > self.limits.max_archive_files:
                    raise TooLarge(f"{rel or '/'!r} holds more than {self.limits.max_archive_files:,} files, "
                                   "the most one archive carries (STOKER_FILES_MAX_ARCHIVE_FILES); download "
                                   "its subdirectories or files one by one")
        return top, where, members

    # ---- upload -------------------------------------------------------------------------------
    def _target_to_write(self, path: str, *, overwrite: bool) -> tuple[str, Path, bool]:
        """(path as answers spell it, where to write, whether it exists) — or why not, before any
        byte of the body is read."""
        rel = normalise(path)
        if not rel:
            raise InvalidInput("name the file to write: PUT /api/v1/files/<path>")
        _refuse_reserved(rel, writing=True)
        target = Path(self.roots.resolve_relative(rel, output=True))
        exists = target.exists()
        if target.is_dir():
            raise Conflict(f"{rel!r} is a directory; a file cannot replace it")
        if exists and not overwrite:
            raise Conflict(f"{rel!r} exists; send ?overwrite=true to replace it")
        for parent in target.parents:  # the nearest ancestor that exists must be a directory
            if parent.exists():
                if not parent.is_dir():
                    raise Conflict(f"{parent.relative_to(self.roots.storage_root).as_posix()!r} is a file, "
                                   f"so {rel!r} cannot be created under it")
                break
        if not exists and target.parent.is_dir() and _count_entries(target.parent, self.limits.max_dir_entries):
            raise TooLarge(f"{rel.rpartition('/')[0] or '/'!r} already holds {self.limits.max_dir_entries:,} "
                           "entries, the most a directory may (STOKER_FILES_MAX_DIR_ENTRIES)")
        return rel, target, exists

    async def _upload(self, path: str, body: AsyncIterable[bytes], *, overwrite: bool = False,
                     length: int | None = None, sha256: str | None = None) -> Upload:
        """Stream `body` into `path`: written to a temporary file beside it, flushed to disk, its
        length and checksum checked, then renamed into place. Refused before reading a byte when
        the path is refused, exists (without overwrite) or `length` passes the limit."""
        rel, target, _existed = self.target_to_write(path, overwrite=overwrite)
        limit = self.limits.max_file_bytes
        if length is not None and length > limit:
            raise TooLarge(_too_large(rel, limit))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=UPLOAD_PREFIX, suffix=".part")
        tmp = Path(tmp_name)
        hasher = hashlib.sha256() if sha256 else None
        size = 0
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                writer = _Writer(out, hasher)
                # The body is received on the event loop while a thread writes what came before:
                # at most QUEUED_WRITES batches wait between them, so memory stays bounded.
                send, receive = anyio.create_memory_object_stream[list[bytes]](max_buffer_size=QUEUED_WRITES)

                async def write_batches() -> None:
                    async with receive:
                        async for batch in receive:
                            await anyio.to_thread.run_sync(writer.write, batch)

                try:
                    async with anyio.create_task_group() as group:
                        group.start_soon(write_batches)
                        async with send:
                            pending: list[bytes] = []
                            held = 0
                            async for chunk in body:
                                if not chunk:
                                    continue
                                size += len(chunk)
                                if size > limit:
                                    raise TooLarge(_too_large(rel, limit))
                                pending.append(chunk)
                                held += len(chunk)
                                if held >= WRITE_CHUNK:
                                    await send.send(pending)
                                    pending, held = [], 0
                            if pending:
                                await send.send(pending)
                except BaseExceptionGroup as failed:  # the task group's wrapping of the one error
                    raise _first(failed) from None
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
            if length is not None and size != length:
                raise Incomplete(f"the body ended after {size:,} of the {length:,} bytes announced; "
                                 "nothing was written")
            digest = hasher.hexdigest() if hasher is not None else None
            if sha256 is not None and digest != sha256:
                raise ChecksumMismatch(f"checksum mismatch: the body's SHA-256 is {digest}, the request "
                                       f"said {sha256}; nothing was written")
            created = await anyio.to_thread.run_sync(_publish, tmp, target, overwrite, rel)
            return Upload(_entry(rel, target.stat()), created, digest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # ---- delete -------------------------------------------------------------------------------
    def _delete(self, path: str, *, recursive: bool = False) -> None:
        rel = normalise(path)
        if not rel:
            raise InvalidInput("the storage root itself cannot be deleted")
        _refuse_reserved(rel, writing=False)
        parent_rel, _, name = rel.rpartition("/")
        if name == "..":
            raise PathRefused(None, rel, f"path {rel!r}: name the file or directory to delete, not '..'")
        parent = Path(self.roots.resolve_relative(parent_rel)) if parent_rel else self.roots.storage_root
        if (parent / name).is_symlink():
            (parent / name).unlink()  # the link goes, never what it points to
            return
        target = Path(self.roots.resolve_relative(rel, output=True))  # never a root itself
        if target.is_dir():
            if not recursive and _count_entries(target, 1):
                raise Conflict(f"{rel!r} is a directory that is not empty; send ?recursive=true to delete "
                               "it with everything in it")
            import shutil

            shutil.rmtree(target) if recursive else target.rmdir()
            return
        try:
            target.unlink()
        except FileNotFoundError:
            raise NotFound(f"no file or directory {rel!r} in the storage root") from None


def archive_chunks(members: list[tuple[Path, str, os.stat_result]], fmt: ArchiveFormat) -> Iterator[bytes]:
    """The archive of `members`, as it is made, ARCHIVE_CHUNK bytes at a time: files are read
    in chunks and stored (zip: uncompressed, as Parquet and most outputs are compressed already),
    so the memory it takes does not depend on the directory's size."""
    sink = _ChunkSink()
    if fmt == "tar":
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for full, name, st in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
                with open(full, "rb") as handle:
                    tar.addfile(info, _limited(handle, st.st_size))
                yield from sink.take()
    else:
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for full, name, st in members:
                zinfo = zipfile.ZipInfo.from_file(full, name)
                zinfo.compress_type = zipfile.ZIP_STORED
                with open(full, "rb") as handle, archive.open(zinfo, "w", force_zip64=st.st_size > 2**31) as dest:
                    while block := handle.read(ARCHIVE_CHUNK):
                        dest.write(block)
                        yield from sink.take()
                yield from sink.take()
    yield from sink.take(final=True)


class _Writer:
    """Writes an upload's batches (in a worker thread), hashing them when asked, and starts the
    disk's writeback of each SYNC_EVERY bytes as soon as they are written (Linux's sync_file_range,
    which does not wait), so the fsync before the rename has little left to wait for. Where that
    call is missing, fdatasync (which waits) takes its place."""

    def __init__(self, out: io.FileIO, hasher: hashlib._Hash | None) -> None:
        self.out = out
        self.hasher = hasher
        self.written = 0
        self.kicked = 0  # bytes whose writeback has been started

    def write(self, chunks: list[bytes]) -> None:
        if self.hasher is not None:
            for chunk in chunks:
                self.hasher.update(chunk)  # releases the GIL: hashing runs beside the event loop
        self.written += _write_all(self.out.fileno(), chunks)  # one writev, no joined copy
        if self.written - self.kicked >= SYNC_EVERY:
            _start_writeback(self.out.fileno(), self.kicked, self.written - self.kicked)
            self.kicked = self.written


def _start_writeback(fd: int, offset: int, length: int) -> None:
    if _SYNC_FILE_RANGE is not None and _SYNC_FILE_RANGE(fd, offset, length, 2) == 0:
        return  # 2: SYNC_FILE_RANGE_WRITE, start the writeback and do not wait for it
    os.fdatasync(fd)


def _sync_file_range() -> Any:
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range  # glibc, Linux; ctypes releases the GIL
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_SYNC_FILE_RANGE = _sync_file_range()


def _write_all(fd: int, chunks: list[bytes]) -> int:
    """Write every chunk, in as few writev calls as the kernel allows (it may write less)."""
    total = sum(len(c) for c in chunks)
    views = [memoryview(c) for c in chunks]
    while views:
        written = os.writev(fd, views[:1024])  # IOV_MAX
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
    return total


class _ChunkSink:
    """A write-only, unseekable file that hands what was written on in chunks."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self, final: bool = False) -> Iterator[bytes]:
        if len(self.buffer) >= ARCHIVE_CHUNK or (final and self.buffer):
            data = bytes(self.buffer)
            self.buffer.clear()
            yield data


class _limited:
    """At most `size` bytes of a file (it may have grown since its stat)."""

    def __init__(self, handle: object, size: int) -> None:
        self.handle = handle
        self.left = size

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data: bytes = self.handle.read(want)  # type: ignore[attr-defined]
        self.left -= len(data)
        return data


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group's (nested) group: what went wrong, unwrapped."""
    inner = group.exceptions[0]
    return _first(inner) if isinstance(inner, BaseExceptionGroup) else inner


def _publish(tmp: Path, target: Path, overwrite: bool, rel: str) -> bool:
    """Move the finished upload into place in one step; True when it created the file."""
    if overwrite:
        existed = target.exists()
        os.replace(tmp, target)
        return not existed
    try:
        os.link(tmp, target)  # fails if the name was taken meanwhile: never replaces
    except FileExistsError:
        raise Conflict(f"{rel!r} was created by someone else during the upload; "
                       "send ?overwrite=true to replace it") from None
    return True


def _entry(rel: str, st: os.stat_result) -> Entry:
    is_dir = stat.S_ISDIR(st.st_mode)
    return Entry(path=rel, name=rel.rsplit("/", 1)[-1], kind="directory" if is_dir else "file",
                 size=None if is_dir else st.st_size, modified_at=st.st_mtime)


def _count_entries(directory: Path, limit: int) -> bool:
    """Does `directory` hold `limit` entries or more?"""
    with os.scandir(directory) as scan:
        for count, _ in enumerate(scan, 1):
            if count >= limit:
                return True
    return False


def _refuse_reserved(rel: str, *, writing: bool) -> None:
    names = rel.split("/")
    if any(n.startswith(UPLOAD_PREFIX) for n in names):
        raise PathRefused(None, rel, f"path {rel!r}: names starting with {UPLOAD_PREFIX} are uploads in progress")
    if writing and names[-1] in RESERVED_NAMES:
        raise PathRefused(None, rel, f"path {rel!r}: the name {names[-1]!r} is reserved "
                                     f"(GET /api/v1/files/<path>/{names[-1]} previews <path>)")


def _too_large(rel: str, limit: int) -> str:
    return (f"{rel!r}: larger than {limit:,} bytes, the most one upload may write "
            "(STOKER_FILES_MAX_BYTES); nothing was written")
