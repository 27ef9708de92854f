"""The pure parts of the executors' way to S3: which way a run takes, how an object is cut into
line-aligned ranges read exactly once, the CSV header, and keys kept out of reprs."""

from __future__ import annotations

import io
import pickle
import random

import pytest

from stoker.core.s3_ways import DIRECT, EXECUTORS, STAGED, choose_way, executors_share_disk
from stoker.executors.s3_executors import access_of, csv_header
from stoker.executors.s3tasks import Access, line_ranges, lines_of


@pytest.mark.parametrize(("master", "on_cluster", "shares"), [
    ("local[*]", False, True), ("local[2]", False, True), ("LOCAL", False, True),
    ("spark://10.0.0.5:7077", False, False), ("yarn", False, False), ("k8s://https://k:443", False, False),
    ("spark://127.0.0.1:7077", True, False),  # a cluster's executors may be on any of its hosts
])
def test_only_a_local_master_off_cluster_shares_the_workers_disk(master, on_cluster, shares):
    assert executors_share_disk(master, on_cluster=on_cluster) is shares
    assert choose_way(s3a=False, master=master, on_cluster=on_cluster) == (STAGED if shares else EXECUTORS)


def test_s3a_wins_and_the_operator_may_force_a_way():
    assert choose_way(s3a=True, master="spark://h:7077", on_cluster=True, override="staged") == DIRECT
    assert choose_way(s3a=False, master="local[*]", on_cluster=False, override="executors") == EXECUTORS
    assert choose_way(s3a=False, master="spark://h:7077", on_cluster=True, override="staged") == STAGED


def read_all(data: bytes, split: int, chunk: int) -> list[bytes]:
    lines = []
    for _path, start, end in line_ranges([("b/k", len(data))], split):
        for block in lines_of(io.BytesIO(data), start, end, chunk=chunk):
            lines.extend(block.splitlines())
    return lines


@pytest.mark.parametrize("split", [1, 2, 3, 7, 16, 1000])
@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_ranges_cut_anywhere_read_every_line_exactly_once(split, chunk):
    rng = random.Random(split * 100 + chunk)
    lines = [b"x" * rng.randint(0, 9) + str(n).encode() for n in range(40)]
    for trailing in (b"\n", b""):
        data = b"\n".join(lines) + trailing
        assert read_all(data, split, chunk) == lines


def test_an_empty_object_is_one_empty_range():
    assert line_ranges([("b/empty", 0), ("b/two", 5)], 3) == [("b/empty", 0, 0), ("b/two", 0, 3), ("b/two", 3, 5)]
    assert read_all(b"", 4, 4) == []


def test_the_csv_header_quotes_only_what_must_be():
    assert csv_header(["name", "age"], ",") == "name,age"
    assert csv_header(["a,b", "c"], ",") == '"a,b",c'
    assert csv_header(["a", "b"], ";") == "a;b"


def test_access_shows_no_key_and_needs_keys_unless_the_server_lends_its_own():
    options = {"aws_access_key_id": "AKIA-ID", "aws_secret_access_key": "SECRET-KEY",
               "aws_session_token": "TOKEN-X", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1"}
    access = access_of(options, allow_server=False, server_endpoint=None)
    assert access.secret_key == "SECRET-KEY" and access.endpoint_url == "http://127.0.0.1:9000"
    assert not any(s in repr(access) for s in ("AKIA-ID", "SECRET-KEY", "TOKEN-X"))
    assert pickle.loads(pickle.dumps(access)) == access  # it travels to the executors
    lent = access_of({}, allow_server=True, server_endpoint="http://s3.local:9000")
    assert lent == Access(endpoint_url="http://s3.local:9000")
    from stoker.executors.s3client import S3Failed

    with pytest.raises(S3Failed, match="no S3 credentials"):
        access_of({}, allow_server=False, server_endpoint=None)
