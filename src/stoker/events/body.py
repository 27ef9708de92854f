"""Reading a request body: gzip or not, within size caps, decompressed incrementally.

The listener gzips its payloads but not every client sets `Content-Encoding`, so gzip is recognised
by its magic bytes. Decompression is fed in bounded steps (`max_length`) so a gzip bomb is refused
as soon as its output passes the cap, with no more memory than the cap spent on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from stoker.events.ingest_errors import MalformedBody, PayloadTooLarge

try:  # ISA-L inflates gzip about ten times faster than zlib here: it sets the ingest ceiling.
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - the plain zlib gives the same bytes, slower
    import zlib as _zlib  # type: ignore[no-redef]

_ZlibError = cast("type[Exception]", _zlib.error)  # isal types its error as an instance

GZIP_MAGIC = b"\x1f\x8b"
_STEP = 8 * 1024 * 1024  # output produced per decompress call


@dataclass(frozen=True)
class BodyLimits:
    max_compressed_bytes: int = 32 * 1024 * 1024
    max_decompressed_bytes: int = 256 * 1024 * 1024


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def decode_body(data: bytes, limits: BodyLimits) -> bytes:
    """The JSON bytes of a body: gunzipped when it is gzip (header or not), else as is."""
    if len(data) > limits.max_compressed_bytes:
        raise PayloadTooLarge(f"body of {len(data)} bytes exceeds the limit of "
                              f"{limits.max_compressed_bytes} bytes")
    if not is_gzip(data):
        if len(data) > limits.max_decompressed_bytes:
            raise PayloadTooLarge(f"payload exceeds the limit of {limits.max_decompressed_bytes} bytes")
        return data
    return gunzip_capped(data, limits.max_decompressed_bytes)


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Gunzip (all members) refusing output beyond `cap` bytes."""
    parts: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            inflater = _zlib.decompressobj(31)
            pending = rest
            while True:
                out = inflater.decompress(pending, min(_STEP, cap - total + 1))
                total += len(out)
                if total > cap:
                    raise PayloadTooLarge(f"decompressed payload exceeds the limit of {cap} bytes")
                parts.append(out)
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and not out):
                    break
            if not inflater.eof:
                raise MalformedBody("malformed gzip body: the stream is truncated")
            rest = inflater.unused_data
            # Concatenated gzip members are legal; trailing zero padding is tolerated.
            if rest and not is_gzip(rest):
                if rest.strip(b"\x00"):
                    raise MalformedBody("malformed gzip body: trailing bytes after the gzip stream")
                break
    except _ZlibError as exc:
        raise MalformedBody(f"malformed gzip body: {exc}") from None
    return b"".join(parts)
