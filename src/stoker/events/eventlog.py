"""Reading Spark event logs: single files (plain, zstd, lz4) and Spark 4's rolling directories.

Codecs are told by the file name's extension, as Spark does. zstd logs are standard zstd frames
(possibly several, one per flush). lz4 logs are not lz4 frames: Spark writes them through lz4-java's
`LZ4BlockOutputStream`, a sequence of blocks each with a 21-byte header ("LZ4Block", a token whose
high nibble is the method — 0x10 raw, 0x20 lz4 — and little-endian compressed length, original
length and checksum), ended by an empty block.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_ROLLING_FILE = re.compile(r"^events_(\d+)_")
_LZ4_MAGIC = b"LZ4Block"
_LZ4_HEADER = struct.Struct("<8sBiii")


def log_files(path: Path) -> list[Path]:
    """The files of one application's log in order: the file itself, or a rolling dir's events_N_*."""
    if not path.is_dir():
        return [path]
    numbered = [(int(m.group(1)), p) for p in path.iterdir()
                if (m := _ROLLING_FILE.match(p.name)) and p.is_file()]
    if not numbered:
        raise ValueError(f"{path} is a directory without events_N_* files (not a Spark 4 rolling log)")
    return [p for _, p in sorted(numbered)]


def codec_of(path: Path) -> str | None:
    name = path.name.removesuffix(".inprogress")
    suffix = name.rsplit(".", 1)[1] if "." in name else ""
    if suffix in ("zstd", "zst"):
        return "zstd"
    if suffix == "lz4":
        return "lz4"
    if suffix in ("snappy", "lzf"):
        raise ValueError(f"{path.name}: the {suffix} codec is not supported (use zstd or lz4)")
    return None


def open_log(path: Path, raw: BinaryIO) -> BinaryIO:
    """A stream of the decompressed bytes of one log file, read from `raw`."""
    codec = codec_of(path)
    if codec == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)
    if codec == "lz4":
        return io.BufferedReader(_Lz4BlockReader(raw), buffer_size=1 << 20)
    return raw


def iter_lines(path: Path) -> Iterator[bytes]:
    """Every event line of a log (file or rolling directory), without line ends or blank lines."""
    for file in log_files(path):
        with open(file, "rb") as raw:
            for line in open_log(file, raw):
                line = line.rstrip(b"\r\n")
                if line:
                    yield line


class _Lz4BlockReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._pending:
            block = self._next_block()
            if block is None:
                return 0
            self._pending = block
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_block(self) -> bytes | None:
        import lz4.block

        while True:
            header = self._raw.read(_LZ4_HEADER.size)
            if not header:
                return None
            if len(header) < _LZ4_HEADER.size:
                raise ValueError("truncated lz4 block header")
            magic, token, compressed, original, _checksum = _LZ4_HEADER.unpack(header)
            if magic != _LZ4_MAGIC:
                raise ValueError("not an lz4-java block stream (bad magic)")
            if original == 0:  # the end mark; another stream may follow
                continue
            data = self._raw.read(compressed)
            if len(data) < compressed:
                raise ValueError("truncated lz4 block")
            method = token & 0xF0
            if method == 0x10:
                return data
            if method == 0x20:
                return bytes(lz4.block.decompress(data, uncompressed_size=original))
            raise ValueError(f"unknown lz4 block method {method:#x}")
