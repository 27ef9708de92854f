"""The files API (docs/files.md): uploads, downloads with Range, listings, archives, previews,
deletes, the path check pipelines share, the limits and the scopes."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services

PEOPLE = b"name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\n"


@pytest.fixture
def files_services(tmp_path):
    s = make_services(tmp_path / "data", files_max_bytes=1_000_000, files_max_dir_entries=50,
                      files_max_archive_files=20, files_preview_max_bytes=64 * 1024)
    yield s
    s.close()


@pytest.fixture
def client(files_services):
    from stoker.app import create_app

    with TestClient(create_app(files_services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        yield c


@pytest.fixture
def root(files_services):
    return files_services.roots.storage_root


def leftovers(root) -> list[str]:
    return [n for _, _, names in os.walk(root) for n in names if n.startswith(".stoker-upload-")]


def test_put_then_get_roundtrip_and_the_answers_of_an_existing_name(client, root):
    response = client.put("/api/v1/files/in/people.csv", content=PEOPLE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["path"] == "in/people.csv" and body["kind"] == "file" and body["size"] == len(PEOPLE)
    assert body["format"] == "csv" and response.headers["location"] == "/api/v1/files/in/people.csv"
    assert (root / "in" / "people.csv").read_bytes() == PEOPLE  # where a pipeline reads "in/people.csv"

    got = client.get("/api/v1/files/in/people.csv")
    assert got.status_code == 200 and got.content == PEOPLE
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers["content-security-policy"]
    assert client.head("/api/v1/files/in/people.csv").headers["content-length"] == str(len(PEOPLE))

    again = client.put("/api/v1/files/in/people.csv", content=b"x")
    assert again.status_code == 409 and "overwrite=true" in again.json()["detail"]
    assert (root / "in" / "people.csv").read_bytes() == PEOPLE
    replaced = client.put("/api/v1/files/in/people.csv?overwrite=true", content=b"a,b\n1,2\n")
    assert replaced.status_code == 200 and replaced.json()["size"] == 8
    assert client.put("/api/v1/files/in", content=b"x", params={"overwrite": "true"}).status_code == 409  # a dir
    assert client.put("/api/v1/files/in/people.csv/under", content=b"x").status_code == 409  # a file is in the way
    assert leftovers(root) == []


def test_ranges(client):
    data = bytes(range(256)) * 40
    client.put("/api/v1/files/blob.bin", content=data)
    part = client.get("/api/v1/files/blob.bin", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get("/api/v1/files/blob.bin", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = client.get("/api/v1/files/blob.bin", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416


def test_checksums_are_checked_before_anything_is_published(client, root):
    digest = hashlib.sha256(PEOPLE).digest()
    ok = client.put("/api/v1/files/a.csv", content=PEOPLE, headers={"X-Checksum-SHA256": digest.hex()})
    assert ok.status_code == 201 and ok.json()["sha256"] == digest.hex()
    rfc = client.put("/api/v1/files/b.csv", content=PEOPLE,
                     headers={"Content-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:"})
    assert rfc.status_code == 201
    bad = client.put("/api/v1/files/c.csv", content=PEOPLE, headers={"X-Checksum-SHA256": "0" * 64})
    assert bad.status_code == 400 and "checksum mismatch" in bad.json()["detail"]
    assert not (root / "c.csv").exists() and leftovers(root) == []
    malformed = client.put("/api/v1/files/c.csv", content=PEOPLE, headers={"X-Checksum-SHA256": "abc"})
    assert malformed.status_code == 422


def test_a_streamed_upload_lands_whole_and_a_too_large_one_not_at_all(client, root):
    def chunks(n: int, size: int = 64 * 1024):
        for i in range(n):
            yield bytes([i % 256]) * size

    streamed = client.put("/api/v1/files/big/stream.bin", content=chunks(10))  # chunked: no Content-Length
    assert streamed.status_code == 201 and streamed.json()["size"] == 10 * 64 * 1024
    declared = client.put("/api/v1/files/big/declared.bin", content=b"x" * 1_000_001)
    assert declared.status_code == 413 and "STOKER_FILES_MAX_BYTES" in declared.json()["detail"]
    counted = client.put("/api/v1/files/big/counted.bin", content=chunks(20))  # 1.3 MB, told as it streams
    assert counted.status_code == 413
    assert sorted(os.listdir(root / "big")) == ["stream.bin"]


def test_a_full_directory_refuses_a_new_entry_but_not_a_replacement(client, root):
    (root / "full").mkdir(parents=True)
    for i in range(50):
        (root / "full" / f"f{i:02}").write_bytes(b"")
    refused = client.put("/api/v1/files/full/one-more", content=b"x")
    assert refused.status_code == 413 and "STOKER_FILES_MAX_DIR_ENTRIES" in refused.json()["detail"]
    assert client.put("/api/v1/files/full/f00?overwrite=true", content=b"x").status_code == 200


@pytest.mark.parametrize("path", ["../outside.csv", "in/../../outside.csv", "%2Fetc%2Fpasswd", "/etc/passwd",
                                  "s3:x", "data*.csv", "a/preview"])
def test_paths_are_refused_as_pipelines_refuse_them(client, root, path):
    response = client.put(f"/api/v1/files/{path}", content=b"x")
    # /etc/passwd: //etc → a 404 route; a/preview: the preview of a, read-only (405)
    assert response.status_code in (400, 404, 405), (path, response.text)
    assert not (root.parent / "outside.csv").exists()


def test_the_api_and_pipelines_share_one_path_check(client, files_services):
    """The same path, refused by a pipeline's validation and by the files API, in the same words."""
    pipeline = client.post("/api/v1/runs", json={"steps": [["read_csv", "../secret.csv"], ["collect"]]})
    api = client.get("/api/v1/files/../secret.csv".replace("../", "..%2F"))
    assert pipeline.status_code == api.status_code == 400
    assert pipeline.json()["detail"].split(": ", 1)[-1] == api.json()["detail"]


def test_symlinks_that_escape_are_refused_and_not_listed(client, root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root.mkdir(parents=True, exist_ok=True)
    (root / "escape").symlink_to(outside)
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "inside.csv").write_bytes(PEOPLE)
    (root / "alias.csv").symlink_to(root / "inside.csv")  # stays inside: fine
    assert client.get("/api/v1/files/escape/secret.txt").status_code == 400
    assert client.get("/api/v1/files/leak.txt").status_code == 400
    assert client.put("/api/v1/files/escape/new.txt", content=b"x").status_code == 400
    assert not (outside / "new.txt").exists()
    assert client.get("/api/v1/files/alias.csv").content == PEOPLE
    names = [e["name"] for e in client.get("/api/v1/files").json()["files"]]
    assert names == ["alias.csv", "inside.csv"]
    assert client.delete("/api/v1/files/escape").status_code == 204  # the link goes, not what it points to
    assert (outside / "secret.txt").exists()


def test_listing_by_prefix_recursive_and_in_pages(client):
    for name in ("out/a.csv", "out/b/part-0.csv", "out/b/part-1.csv", "out/c.json", "outer.txt", "z.txt"):
        assert client.put(f"/api/v1/files/{name}", content=b"1\n").status_code == 201
    top = client.get("/api/v1/files").json()
    assert [(e["name"], e["kind"]) for e in top["files"]] == [("out", "directory"), ("outer.txt", "file"),
                                                              ("z.txt", "file")]
    assert top["files"][0]["size"] is None and top["files"][1]["size"] == 2 and top["next_cursor"] is None
    assert top["files"][1]["modified_at"].endswith("Z") or "+" in top["files"][1]["modified_at"]
    directory = client.get("/api/v1/files", params={"prefix": "out/"}).json()["files"]
    assert [e["path"] for e in directory] == ["out/a.csv", "out/b", "out/c.json"]
    started = client.get("/api/v1/files", params={"prefix": "out"}).json()["files"]  # names, as S3 prefixes
    assert [e["path"] for e in started] == ["out", "outer.txt"]
    assert [e["path"] for e in client.get("/api/v1/files", params={"prefix": "out/b/part-1"}).json()["files"]] \
        == ["out/b/part-1.csv"]
    walked, cursor, pages = [], None, 0
    while True:
        page = client.get("/api/v1/files", params={"recursive": "true", "limit": 2,
                                                   **({"cursor": cursor} if cursor else {})}).json()
        walked += [e["path"] for e in page["files"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ["out/a.csv", "out/b/part-0.csv", "out/b/part-1.csv", "out/c.json", "outer.txt", "z.txt"]
    assert pages == 3
    assert client.get("/api/v1/files", params={"prefix": "nope/"}).status_code == 404


def test_a_directory_as_one_zip_or_tar(client):
    files = {"out/t.parquet/part-00000.parquet": b"P" * 3000, "out/t.parquet/part-00001.parquet": b"Q" * 10,
             "out/t.parquet/_SUCCESS": b"", "out/t.parquet/sub/x.txt": b"deep"}
    for name, data in files.items():
        client.put(f"/api/v1/files/{name}", content=data)
    as_zip = client.get("/api/v1/files/out/t.parquet", params={"archive": "zip"})
    assert as_zip.status_code == 200 and as_zip.headers["content-type"] == "application/zip"
    assert "t.parquet.zip" in as_zip.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(as_zip.content)) as archive:
        assert archive.testzip() is None
        got = {i.filename: archive.read(i) for i in archive.infolist()}
    assert got == {name.replace("out/", ""): data for name, data in files.items()}
    as_tar = client.get("/api/v1/files/out/t.parquet", params={"archive": "tar"})
    with tarfile.open(fileobj=io.BytesIO(as_tar.content)) as archive:
        got = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    assert got == {name.replace("out/", ""): data for name, data in files.items()}
    plain = client.get("/api/v1/files/out/t.parquet")
    assert plain.status_code == 422 and "archive" in plain.json()["detail"]
    for i in range(21):
        client.put(f"/api/v1/files/many/{i}", content=b"")
    assert client.get("/api/v1/files/many", params={"archive": "zip"}).status_code == 413


def test_delete_files_and_directories(client, root):
    client.put("/api/v1/files/d/one.txt", content=b"1")
    assert client.delete("/api/v1/files/d").status_code == 409
    assert client.delete("/api/v1/files/d/one.txt").status_code == 204
    assert client.delete("/api/v1/files/d/one.txt").status_code == 404
    client.put("/api/v1/files/d/e/two.txt", content=b"2")
    assert client.delete("/api/v1/files/d?recursive=true").status_code == 204
    assert not (root / "d").exists()
    assert client.delete("/api/v1/files/").status_code in (400, 405, 422)
    assert client.delete("/api/v1/files/..%2F..").status_code == 400
    assert root.exists()


def test_scopes_read_to_look_submit_to_change(client, files_services):
    client.put("/api/v1/files/x.csv", content=PEOPLE)
    reader = files_services.tokens.create("reader", ["read"])
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/v1/files/x.csv", headers=as_reader).status_code == 200
    assert client.get("/api/v1/files", headers=as_reader).status_code == 200
    assert client.get("/api/v1/files/x.csv/preview", headers=as_reader).status_code == 200
    assert client.put("/api/v1/files/y.csv", content=b"1", headers=as_reader).status_code == 403
    assert client.delete("/api/v1/files/x.csv", headers=as_reader).status_code == 403
    assert client.get("/api/v1/files/x.csv", headers={"Authorization": ""}).status_code == 401


def test_previews_of_csv_json_lines_parquet_and_a_spark_style_directory(client, root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    client.put("/api/v1/files/people.csv", content=PEOPLE)
    csv = client.get("/api/v1/files/people.csv/preview").json()
    assert csv["format"] == "csv" and [c["name"] for c in csv["columns"]] == ["name", "age", "city"]
    assert csv["columns"][1]["type"] == "int64"
    assert csv["rows"] == [["ana", 34, "Lisbon"], ["bo", 28, "Oslo"], ["cy", 41, "Lisbon"]]
    assert csv["truncated"] is False and csv["bytes_read"] == len(PEOPLE)
    assert client.get("/api/v1/files/people.csv/preview", params={"rows": 2}).json()["truncated"] is True

    client.put("/api/v1/files/events.jsonl", content=b'{"id": 1, "at": "2024-01-01T00:00:00"}\n{"id": 2}\n')
    js = client.get("/api/v1/files/events.jsonl/preview").json()
    assert js["format"] == "json" and js["rows"][0][0] == 1 and js["rows"][1] == [2, None]

    out = root / "out" / "people.parquet"
    out.mkdir(parents=True)
    table = pa.table({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]})
    pq.write_table(table.slice(0, 600), out / "part-00000-abc.snappy.parquet")
    pq.write_table(table.slice(600), out / "part-00001-abc.snappy.parquet")
    (out / "_SUCCESS").write_bytes(b"")
    (out / ".part-00000-abc.snappy.parquet.crc").write_bytes(b"crc")
    listed = client.get("/api/v1/files", params={"prefix": "out/"}).json()["files"]
    assert listed[0]["format"] == "parquet" and listed[0]["links"]["preview"].endswith("/preview")
    directory = client.get("/api/v1/files/out/people.parquet/preview", params={"rows": 5}).json()
    assert directory["files"] == 2 and directory["format"] == "parquet"
    assert directory["columns"] == [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]
    assert directory["rows"] == [[i, f"n{i}"] for i in range(5)] and directory["truncated"] is True
    single = client.get("/api/v1/files/out/people.parquet/part-00001-abc.snappy.parquet/preview").json()
    assert single["total_rows"] == 400 and single["rows"][0] == [600, "n600"]

    assert client.get("/api/v1/files/blob/preview").status_code == 404
    client.put("/api/v1/files/blob.bin", content=b"\x00\x01")
    unknown = client.get("/api/v1/files/blob.bin/preview")
    assert unknown.status_code == 422 and "format" in unknown.json()["detail"]
    broken = client.get("/api/v1/files/blob.bin/preview", params={"format": "parquet"})
    assert broken.status_code == 422 and "could not be read as parquet" in broken.json()["detail"]
    assert client.put("/api/v1/files/x/preview", content=b"1").status_code == 405  # reserved name


def test_a_preview_reads_a_bounded_number_of_bytes(client, root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = b"n,text\n" + b"".join(b"%d,%s\n" % (i, b"x" * 100) for i in range(5000))  # ~520 KB
    client.put("/api/v1/files/big.csv", content=big)
    shown = client.get("/api/v1/files/big.csv/preview", params={"rows": 1000}).json()
    assert shown["bytes_read"] <= 64 * 1024 and shown["truncated"] is True and 0 < len(shown["rows"]) < 1000
    # One row group of ~1 MB incompressible text: the footer is read, the rows would pass the budget.
    table = pa.table({"blob": [os.urandom(1024).hex() for _ in range(500)]})
    pq.write_table(table, root / "wide.parquet", compression="none", data_page_size=2 * 1024 * 1024)
    wide = client.get("/api/v1/files/wide.parquet/preview").json()
    assert wide["columns"] == [{"name": "blob", "type": "string"}]
    assert wide["rows"] == [] and wide["bytes_read"] <= 64 * 1024 and wide["notes"]


def test_what_the_file_system_refuses_is_a_4xx_not_a_server_error(client):
    long_name = "x" * 300
    assert client.put(f"/api/v1/files/{long_name}", content=b"1").status_code == 400
    assert client.get(f"/api/v1/files/{long_name}").status_code in (400, 404)
    assert client.get("/api/v1/files", params={"prefix": long_name + "/"}).status_code in (400, 404)
    assert client.put("/api/v1/files/bad%00name", content=b"1").status_code == 400


def test_an_absolute_prefix_is_refused_as_an_absolute_path_is(client):
    response = client.get("/api/v1/files", params={"prefix": "/etc"})
    assert response.status_code == 400 and "relative to the storage root" in response.json()["detail"]


def test_a_preview_path_only_answers_get(client, root):
    client.put("/api/v1/files/x.csv", content=PEOPLE)
    for method in ("PUT", "DELETE", "POST"):
        response = client.request(method, "/api/v1/files/x.csv/preview", content=b"1")
        assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert (root / "x.csv").read_bytes() == PEOPLE
