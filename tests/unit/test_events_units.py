"""Pure pieces of the collector: body decoding, the chunk merge, event-log codecs, listener confs."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import pytest

from stoker.events import LISTENER_CLASS, listener_conf
from stoker.events.body import BodyLimits, decode_body
from stoker.events.eventlog import iter_lines, log_files
from stoker.events.importer import payloads
from stoker.events.ingest_errors import MalformedBody, PayloadTooLarge
from stoker.events.merge import ChunkData, ChunkMeta, is_ordered, merged_stream, pack_times, plan_groups


def test_gzip_members_plain_json_and_caps():
    limits = BodyLimits(max_compressed_bytes=1000, max_decompressed_bytes=5000)
    assert decode_body(gzip.compress(b'{"a":') + gzip.compress(b"1}"), limits) == b'{"a":1}'
    assert decode_body(b'{"a":1}', limits) == b'{"a":1}'
    with pytest.raises(MalformedBody, match="truncated"):
        decode_body(gzip.compress(b"x" * 100)[:-12], limits)
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(b"x" * 5001), limits)
    assert len(decode_body(gzip.compress(b"x" * 5000), limits)) == 5000
    with pytest.raises(PayloadTooLarge):
        decode_body(b"x" * 1001, limits)


def _chunks(seed: int) -> list[tuple[int, list[int]]]:
    rng = random.Random(seed)
    chunks, base = [], 0
    for chunk_id in range(1, 40):
        base += rng.randint(-30, 40)  # sometimes overlapping the previous chunks, sometimes not
        times = [base + rng.randint(0, 25) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.7:
            times.sort()
        chunks.append((chunk_id, times))
    return chunks


@pytest.mark.parametrize("seed", range(25))
def test_merge_equals_a_stable_sort_by_time_then_arrival(seed):
    chunks = _chunks(seed)
    data = {cid: ChunkData(cid, pack_times(times),
                           b"".join(f"{cid}:{i}\n".encode() for i in range(len(times))),
                           is_ordered(times))
            for cid, times in chunks}
    metas = sorted((ChunkMeta(cid, min(t), max(t), is_ordered(t)) for cid, t in chunks),
                   key=lambda m: (m.min_time, m.id))
    merged = b"".join(merged_stream(plan_groups(metas), lambda ids: [data[i] for i in ids]))
    expected = [f"{cid}:{i}".encode() for (t, cid, i) in
                sorted((t, cid, i) for cid, times in chunks for i, t in enumerate(times))]
    assert merged.splitlines() == expected


def test_disjoint_ordered_chunks_are_copied_as_stored():
    metas = [ChunkMeta(1, 0, 5, True), ChunkMeta(2, 5, 9, True), ChunkMeta(3, 10, 12, True)]
    assert [[m.id for m in g] for g in plan_groups(metas)] == [[1], [2], [3]]
    # equal boundary times: the later arrival may follow; an earlier arrival must be merged
    assert [[m.id for m in g] for g in plan_groups([ChunkMeta(2, 0, 5, True),
                                                    ChunkMeta(1, 5, 9, True)])] == [[2, 1]]


def _lz4_blocks(data: bytes, block: int = 7) -> bytes:
    import lz4.block

    out = b""
    for i in range(0, len(data), block):
        piece = data[i:i + block]
        packed = lz4.block.compress(piece, store_size=False)
        method, body = (0x20, packed) if i % 2 == 0 else (0x10, piece)
        out += struct.pack("<8sBiii", b"LZ4Block", method | 0x01, len(body), len(piece), 0) + body
    return out + struct.pack("<8sBiii", b"LZ4Block", 0x10, 0, 0, 0)


def test_codecs_and_rolling_directories(tmp_path: Path):
    import zstandard

    lines = [b'{"Event":"SparkListenerLogStart","Spark Version":"4.3.0"}',
             b'{"Event":"SparkListenerApplicationStart","App ID":"app-9","Timestamp":5}',
             b'{"Event":"SparkListenerApplicationEnd","Timestamp":9}']
    text = b"\n".join(lines) + b"\n"
    (tmp_path / "a.lz4").write_bytes(_lz4_blocks(text))
    zstd = zstandard.ZstdCompressor()
    (tmp_path / "b.zstd").write_bytes(zstd.compress(text[:40]) + zstd.compress(text[40:]))
    (tmp_path / "c").write_bytes(text)
    for name in ("a.lz4", "b.zstd", "c"):
        assert list(iter_lines(tmp_path / name)) == lines
    rolling = tmp_path / "eventlog_v2_app-9"
    rolling.mkdir()
    (rolling / "appstatus_app-9").write_bytes(b"")
    for n, line in ((10, lines[2]), (2, lines[1]), (1, lines[0])):
        (rolling / f"events_{n}_app-9.zstd").write_bytes(zstd.compress(line + b"\n"))
    assert [p.name for p in log_files(rolling)] == ["events_1_app-9.zstd", "events_2_app-9.zstd",
                                                    "events_10_app-9.zstd"]
    assert list(iter_lines(rolling)) == lines


def test_imported_times_never_decrease_and_keep_file_order(tmp_path: Path):
    import orjson

    log = tmp_path / "log"
    log.write_bytes(b"\n".join([
        b'{"Event":"SparkListenerLogStart"}',
        b'{"Event":"SparkListenerApplicationStart","App ID":"x","Timestamp":100}',
        b'{"Event":"SparkListenerTaskEnd","Task Info":{"Launch Time":150,"Finish Time":180}}',
        b'{"Event":"SparkListenerJobEnd","Completion Time":170}',
    ]))
    (body,) = payloads(log, "j", "x")
    messages = orjson.loads(body)["messages"]
    assert [m["generated_at"] for m in messages] == [100, 100, 180, 180]


def test_listener_conf_appends_to_existing_jars_and_listeners():
    conf = listener_conf("http://h:8000/", "tok", "nightly", existing={
        "spark.jars": "/a.jar", "spark.extraListeners": "com.x.L"}, check_jar=False)
    assert conf["spark.jars"].startswith("/a.jar,") and conf["spark.jars"].endswith("stoker-listener.jar")
    assert conf["spark.extraListeners"] == f"com.x.L,{LISTENER_CLASS}"
    assert conf["spark.stoker.url"] == "http://h:8000" and conf["spark.stoker.jobName"] == "nightly"
    assert "spark.stoker.runId" not in conf
    assert listener_conf("http://h", "t", "j", "r1", check_jar=False)["spark.stoker.runId"] == "r1"


def test_listener_conf_can_name_a_token_file_instead_of_the_token(tmp_path):
    conf = listener_conf("http://h:8000", "stk_secret", "nightly", token_file=tmp_path / "t",
                         check_jar=False)
    assert conf["spark.stoker.tokenFile"] == str(tmp_path / "t")
    assert "spark.stoker.token" not in conf and "stk_secret" not in str(conf)
