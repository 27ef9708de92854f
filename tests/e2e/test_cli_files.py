"""`stoker files put|get|ls|preview|rm`, the real CLI in a subprocess against a real server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile

import pytest

from harness import TOKEN, UvicornServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-files")
    stoker = UvicornServer(base / "data", env={"STOKER_ADMIN_TOKEN": TOKEN}).start()
    yield stoker
    stoker.stop()


def stoker(server, *args: str, cwd=None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STOKER_URL": server.url, "STOKER_TOKEN": TOKEN, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "stoker.cli", "files", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def test_put_ls_preview_get_rm(server, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))

    assert "people.csv" in stoker(server, "put", str(people)).stdout
    put = stoker(server, "put", str(big), "in/", "--checksum").stdout
    assert "in/big.bin" in put and hashlib.sha256(big.read_bytes()).hexdigest() in put
    refused = stoker(server, "put", str(people), check=False)
    assert refused.returncode != 0 and "409" in refused.stderr and "overwrite" in refused.stderr
    stoker(server, "put", str(people), "-f")

    listing = stoker(server, "ls").stdout
    assert "people.csv" in listing and "in/" in listing
    assert "in/big.bin" in stoker(server, "ls", "in").stdout and "3.0 MiB" in stoker(server, "ls", "in").stdout

    preview = stoker(server, "preview", "people.csv").stdout
    assert "Lisbon" in preview and "int64" in preview and "3 row(s)" in preview

    out = tmp_path / "down"
    out.mkdir()
    stoker(server, "get", "in/big.bin", str(out))
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    dir_get = stoker(server, "get", "in", cwd=out).stdout
    assert "in.zip" in dir_get
    with zipfile.ZipFile(out / "in.zip") as archive:
        assert archive.read("in/big.bin") == big.read_bytes()
    missing = stoker(server, "get", "nope.csv", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    stoker(server, "put", "-r", str(tree), "uploaded")
    assert "uploaded/sub/b.txt" in stoker(server, "ls", "-r", "uploaded/").stdout

    not_empty = stoker(server, "rm", "in", check=False)
    assert not_empty.returncode != 0 and "recursive" in not_empty.stderr
    stoker(server, "rm", "-r", "in", "uploaded")
    stoker(server, "rm", "people.csv")
    assert "nothing under" in stoker(server, "ls").stderr
