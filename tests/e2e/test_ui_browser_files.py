"""The file browser in a real browser (Playwright, Debian's Chromium) against a real `stoker serve`:
upload with the file input and by drag and drop, preview, download, delete, and the quick start
done from the browser's side: a CSV in, the pipeline's Parquet output previewed and downloaded from
the run's page. Screenshots go to docs/screenshots/ (files*.png)."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from conftest import IN_CI
from harness import TOKEN, Server, wait_terminal

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PEOPLE = "name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    stoker = Server(tmp_path_factory.mktemp("ui-files") / "data").start()
    yield stoker
    stoker.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing (make setup installs Debian's chromium as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.errors = errors
    yield page
    context.close()
    # Refusals the tests provoke on purpose (a forged upload, an upload of a name that exists), which
    # Chromium logs as errors; anything else (a CSP violation, a script error) fails the test.
    assert [e for e in errors if "403" not in e and "409" not in e] == [], errors


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, token: str = TOKEN) -> None:
    page.goto("/ui/files")
    assert "/ui/sign-in" in page.url
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/ui/files$"))  # not the sign-in page's ?next=/ui/files


def test_upload_preview_download_and_delete(page, server, tmp_path):
    sign_in(page)
    local = tmp_path / "people.csv"
    local.write_text(PEOPLE)
    page.set_input_files("#upload-input", str(local))  # the file input uploads at once
    page.wait_for_selector('#files tr[data-path="people.csv"]')  # the page reloaded with it
    # Again: the server answers 409; declining to replace leaves the refusal on the page, in words.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.set_input_files("#upload-input", str(local))
    failed = page.locator("#upload-progress li.failed .status")
    failed.wait_for()
    assert "exists" in failed.inner_text()

    # Drag and drop: a drop event carrying a file, as a desktop's file manager sends it.
    data = page.evaluate_handle("""() => { const dt = new DataTransfer();
        dt.items.add(new File(['id,score\\n1,0.5\\n2,0.75\\n'], 'dropped.csv', {type: 'text/csv'})); return dt; }""")
    page.dispatch_event("#upload-form", "drop", {"dataTransfer": data})
    page.wait_for_selector('#files tr[data-path="dropped.csv"]')
    with server.client() as api:
        assert api.get("/api/v1/files/dropped.csv").text == "id,score\n1,0.5\n2,0.75\n"
    shoot(page, "files")

    page.click('#files a:text-is("people.csv")')
    page.wait_for_selector("#preview-table")
    assert page.locator("#preview-table thead th").all_inner_texts()[0].split() == ["name", "string"]
    assert page.locator("#preview-table tbody tr").count() == 3
    assert "Lisbon" in page.locator("#preview-table tbody").inner_text()
    shoot(page, "files-csv")
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_text() == PEOPLE

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Delete")
    page.wait_for_url(re.compile(r"/ui/files$"))
    assert page.locator('#files tr[data-path="people.csv"]').count() == 0


def test_quick_start_from_the_browser_side(page, server):
    """A CSV put in over the API, the quick-start pipeline run on it; its Parquet output is found from
    the run's page, previewed and downloaded in the browser."""
    with server.client() as api:
        assert api.put("/api/v1/files/people.csv", content=PEOPLE.encode(),
                       params={"overwrite": "true"}).status_code in (200, 201)
        run = api.post("/api/v1/runs", json={"steps": [
            ["read_csv", "people.csv", {"header": True, "inferSchema": True}], ["filter", "age > 30"],
            ["write_parquet", "out/adults.parquet", "overwrite"]]}).json()
        done = wait_terminal(api, [run["id"]], timeout=180)[0]
        assert done["state"] == "SUCCEEDED", done
    sign_in(page)
    page.goto(f"/ui/runs/{run['id']}")
    page.click('#written a:text-is("out/adults.parquet")')
    page.wait_for_selector("#preview-table")
    assert page.locator("#preview-table tbody tr").count() == 2
    assert sorted(page.locator("#preview-table tbody tr td:first-child").all_inner_texts()) == ["ana", "cy"]
    assert "parquet" in page.locator("#preview-facts").inner_text()
    shoot(page, "files-parquet")
    with page.expect_download() as download:
        page.click("#download")
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        names = archive.namelist()
    assert any(n.startswith("adults.parquet/part-") and n.endswith(".parquet") for n in names), names


def test_a_read_token_gets_no_upload_and_a_forged_one_is_refused(page, server):
    sign_in(page)
    page.goto("/ui/tokens")
    page.fill("#token-name", "files-viewer")
    page.check("input[value=read]")
    page.click("text=Create token")
    reader = page.locator("pre.token").inner_text().strip()
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/ui/sign-in"))
    sign_in(page, reader)
    assert page.locator("#upload-form").count() == 0 and page.locator("text=Delete").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")  # the sign-out form's
    for token in ("nope", csrf):  # a forged CSRF token, then the right one without the scope
        status = page.evaluate("""async (token) => (await fetch('/ui/files/upload?path=forged.csv',
            {method: 'PUT', body: 'x', headers: {'X-CSRF-Token': token}})).status""", token)
        assert status == 403
    with server.client() as api:
        assert api.get("/api/v1/files/forged.csv").status_code == 404
