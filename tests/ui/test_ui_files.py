"""The file browser through the app (TestClient): folders and pages, the upload without JavaScript
(multipart) and the script's (PUT with X-CSRF-Token), downloads, deletes, refusals in words, and
the run page's links to what a run wrote. The browser itself: tests/e2e/test_ui_browser_files.py."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import create_app


@pytest.fixture
def ui(services):
    with TestClient(create_app(services), follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> str:
    assert client.post("/ui/sign-in", data={"token": token, "next": "/ui/files"}).status_code == 303
    page = client.get("/ui/files")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_upload_browse_preview_download_delete(ui, services):
    csrf = sign_in(ui)
    posted = ui.post("/ui/files/upload", data={"csrf_token": csrf, "directory": "in"},
                     files=[("files", ("people.csv", b"name,age\nana,34\n", "text/csv")),
                            ("files", ("notes.txt", b"hello", "text/plain"))])
    assert posted.status_code == 303 and posted.headers["location"] == "/ui/files?path=in"
    folder = ui.get("/ui/files?path=in")
    assert folder.status_code == 200 and 'data-path="in/people.csv"' in folder.text
    assert 'data-path="in/notes.txt"' in folder.text and "/ui/static/files.js" in folder.text
    file_page = ui.get("/ui/files?path=in/people.csv")
    assert 'id="preview-table"' in file_page.text and "ana" in file_page.text and "int64" in file_page.text
    assert ui.get("/ui/files/download?path=in/people.csv").content == b"name,age\nana,34\n"

    put = ui.put("/ui/files/upload?path=in/put.csv", content=b"a\n1\n", headers={"X-CSRF-Token": csrf})
    assert put.status_code == 201 and put.json()["path"] == "in/put.csv"
    again = ui.put("/ui/files/upload?path=in/put.csv", content=b"a\n2\n", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409 and "overwrite" in again.json()["detail"]
    escape = ui.put("/ui/files/upload?path=../x.csv", content=b"1", headers={"X-CSRF-Token": csrf})
    assert escape.status_code == 400 and "outside the storage roots" in escape.json()["detail"]
    assert ui.put("/ui/files/upload?path=in/y.csv", content=b"1").status_code == 403  # no CSRF token

    not_empty = ui.post("/ui/files/delete", data={"csrf_token": csrf, "path": "in"})
    assert not_empty.status_code == 409 and "recursive" in not_empty.text
    gone = ui.post("/ui/files/delete", data={"csrf_token": csrf, "path": "in", "recursive": "1"})
    assert gone.status_code == 303 and not (services.roots.storage_root / "in").exists()
    missing = ui.get("/ui/files?path=nope")
    assert missing.status_code == 404 and "no file or directory" in missing.text


def test_a_read_session_sees_no_upload_and_cannot_post(ui, services):
    reader = services.tokens.create("reader", ["read"])
    csrf = sign_in(ui, reader)
    page = ui.get("/ui/files")
    assert 'id="upload-form"' not in page.text
    assert ui.put("/ui/files/upload?path=x.csv", content=b"1", headers={"X-CSRF-Token": csrf}).status_code == 403
    assert ui.post("/ui/files/upload", data={"csrf_token": csrf},
                   files=[("files", ("x.csv", b"1", "text/csv"))]).status_code == 403


def test_the_run_page_links_to_what_the_run_wrote(ui, services):
    from stoker.api.deps import file_store_of
    from stoker.ui.files import written_files

    store = file_store_of(ui.app)
    root = services.roots.storage_root
    assert written_files(store, {"type": "write", "path": str(root / "out" / "a.parquet")}) == ["out/a.parquet"]
    assert written_files(store, {"type": "write", "path": "s3a://bucket/out"}) == []
    assert written_files(store, {"type": "rows"}) == []
    assert written_files(store, {"type": "write", "path": str(root.parent / "elsewhere")}) == []
