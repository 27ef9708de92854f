"""The staged way's commit of an output against moto's S3 server: multipart uploads completed only
when every part of every file is up (executors/s3objects.commit_files), so nothing shows under the
target before that, a failure leaves no half output, and no byte is copied a second time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stoker.catalog.s3paths import S3Path, parse_s3_url
from stoker.executors.s3client import S3Failed, s3_client
from stoker.executors.s3objects import PART_BYTES, commit_files

LOG = logging.getLogger("test")
BUCKET = "alice-bucket"


def target(mode: str) -> S3Path:
    url = parse_s3_url(f"s3://{BUCKET}/out/adults/")
    assert url is not None
    return S3Path(step=2, position=0, writes=True, url=url, given=f"s3://{BUCKET}/out/adults/", mode=mode)


@pytest.fixture
def client(moto_s3):
    moto_s3.empty(BUCKET)
    moto_s3.client().put_object(Bucket=BUCKET, Key="out/adults/part-old.parquet", Body=b"old")
    moto_s3.client().put_object(Bucket=BUCKET, Key="out/adults/_SUCCESS", Body=b"")
    return s3_client(moto_s3.options("alice"), allow_server=False, server_endpoint=None)


@pytest.fixture
def files(tmp_path: Path) -> list[tuple[Path, str]]:
    big = tmp_path / "part-0.parquet"  # three parts: 16 MiB, 16 MiB and the rest
    big.write_bytes(bytes(range(256)) * ((2 * PART_BYTES + 1000) // 256))
    empty = tmp_path / "part-1.parquet"
    empty.write_bytes(b"")
    nested = tmp_path / "city=Oslo" / "part-2.parquet"
    nested.parent.mkdir()
    nested.write_bytes(b"oslo")
    return [(big, "part-0.parquet"), (empty, "part-1.parquet"), (nested, "city=Oslo/part-2.parquet")]


def test_overwrite_replaces_the_output_with_every_file_whole(client, moto_s3, files) -> None:
    commit_files(client, target("overwrite"), files, LOG)
    assert moto_s3.keys_under(BUCKET, "out/") == ["out/adults/_SUCCESS", "out/adults/city=Oslo/part-2.parquet",
                                                  "out/adults/part-0.parquet", "out/adults/part-1.parquet"]
    for local, name in files:
        assert client.get_object(Bucket=BUCKET, Key=f"out/adults/{name}")["Body"].read() == local.read_bytes()
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_append_keeps_what_was_there(client, moto_s3, files) -> None:
    commit_files(client, target("append"), files[1:], LOG)
    assert "out/adults/part-old.parquet" in moto_s3.keys_under(BUCKET, "out/")
    assert "out/adults/part-1.parquet" in moto_s3.keys_under(BUCKET, "out/")


def test_a_failed_commit_shows_nothing_and_leaves_no_upload_behind(client, moto_s3, files, tmp_path) -> None:
    """A file that cannot be read fails the commit after other files' parts went up: those
    uploads are aborted, the old output is untouched, and no new object is visible."""
    missing = (tmp_path / "gone.parquet", "part-9.parquet")
    with pytest.raises(FileNotFoundError):
        commit_files(client, target("overwrite"), [*files, missing], LOG)
    assert moto_s3.keys_under(BUCKET, "out/") == ["out/adults/_SUCCESS", "out/adults/part-old.parquet"]
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_refused_write_says_so_and_shows_nothing(moto_s3, files) -> None:
    """alice's keys cannot write bob's bucket: a permanent S3Failed naming the bucket."""
    client = s3_client(moto_s3.options("alice"), allow_server=False, server_endpoint=None)
    url = parse_s3_url("s3://bob-bucket/out/")
    assert url is not None
    path = S3Path(step=2, position=0, writes=True, url=url, given="s3://bob-bucket/out/", mode="overwrite")
    with pytest.raises(S3Failed, match="bob-bucket") as info:
        commit_files(client, path, files, LOG)
    assert info.value.permanent
    assert moto_s3.keys_under("bob-bucket", "out/") == []
