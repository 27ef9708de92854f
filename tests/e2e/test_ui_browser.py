"""The web UI in a real browser: Playwright driving Debian's Chromium against a real `stoker serve`.

One server and one browser for the module. Every page is screenshotted into docs/screenshots/, and
any browser console error (a CSP violation, a script error) fails the test that caused it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import IN_CI
from harness import TOKEN, Server

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui")
    stoker = Server(base / "data").start()
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


class Console:
    """Console errors and uncaught exceptions of a page; a test ends by asserting there were none."""

    def __init__(self, page) -> None:
        self.messages: list[str] = []
        self.expected: list[str] = []
        page.on("console", lambda m: self.messages.append(f"{m.text} ({m.location.get('url')})")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.messages.append(f"uncaught: {e}"))

    def expect(self, fragment: str) -> None:
        """A refusal the test provokes on purpose: Chromium logs every 4xx answer as an error."""
        self.expected.append(fragment)

    @property
    def errors(self) -> list[str]:
        return [m for m in self.messages if not any(f in m for f in self.expected)]


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url, viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    console = page.console = Console(page)
    yield page
    context.close()
    assert console.errors == [], console.errors


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, token: str = TOKEN) -> None:
    page.goto("/ui/")
    assert "/ui/sign-in" in page.url
    page.fill("#token", token)
    page.keyboard.press("Enter")  # keyboard only
    page.wait_for_url(re.compile(r"^http://[^/]+/ui/$"))


def test_sign_in_submit_and_follow_a_pipeline_live(page, server):
    page.goto("/ui/sign-in")
    shoot(page, "sign-in")
    sign_in(page)
    page.goto("/ui/runs")
    page.evaluate("window.__notReloaded = true")
    page.fill("#steps", '[["range", 5], ["select", "id", "id * 10 AS tens"], ["collect"]]')
    page.click("text=Submit run")
    page.wait_for_url(re.compile(r"/ui/runs$"))
    page.evaluate("window.__notReloaded = true")  # the redirect loaded the list once; no reload after this
    row = page.locator("#runs tbody tr").first
    row.locator('[data-field="state"]', has_text="SUCCEEDED").wait_for(timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True  # it changed live, without a reload
    shoot(page, "runs")

    row.locator("a").first.click()
    page.wait_for_selector("#result-table")
    assert page.locator("#result-table tbody tr").count() == 5
    assert page.locator("#result-table thead").inner_text().split() == ["id", "tens"]
    # The Spark application's events come from the listener within moments.
    for _ in range(60):
        link = page.locator("a", has_text="Spark application")
        if link.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    shoot(page, "run")
    link.first.click()
    for _ in range(60):  # the listener sends the run's task events in batches: wait for them
        if page.locator("#cores canvas").count() and page.locator("#spark-timeline rect").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    page.wait_for_selector("#cores canvas")  # uPlot drew the cores chart
    page.wait_for_selector("#spark-timeline rect")
    assert page.locator("#stages tbody tr").count() >= 1
    shoot(page, "spark-app")

    page.goto("/ui/")
    page.wait_for_selector("#throughput canvas")
    shoot(page, "overview")
    page.set_viewport_size(PHONE)
    page.goto("/ui/runs")
    shoot(page, "runs-phone")


def test_a_failing_run_its_error_log_and_a_refused_retry(page, server):
    sign_in(page)
    page.goto("/ui/runs")
    page.fill("#steps", '[["range", 3], ["fail", "broken on purpose"]]')
    page.click("text=Submit run")
    page.wait_for_url(re.compile(r"/ui/runs$"))
    row = page.locator("#runs tbody tr").first
    row.locator('[data-field="state"]', has_text="FAILED").wait_for(timeout=120_000)
    row.locator("a").first.click()
    assert "broken on purpose" in page.locator("#run-error").inner_text()
    assert page.locator("#run-log").inner_text().strip() != ""
    shoot(page, "run-failed")

    page.goto("/ui/dead-letters")
    shoot(page, "dead-letters")
    page.console.expect("status of 409 (Conflict) (http://127.0.0.1")
    page.locator("#dead-letters button", has_text="Retry").first.click()
    assert "used all" in page.locator(".error").inner_text()  # the 409, in words


def test_jobs_functions_and_catalog_messages(page, server):
    sign_in(page)
    page.goto("/ui/jobs/new")
    page.fill("#name", "evens")
    page.fill("#steps", '[["range", 10], ["filter", "id % 2 = 0"], ["bogus"], ["count"]]')
    page.console.expect("status of 422 (Unprocessable")
    page.click("button:has-text('Create')")
    assert "step 2" in page.locator("#step-problems").inner_text()
    shoot(page, "job-invalid")
    page.fill("#steps", '[["range", "{{n}}"], ["filter", "id % 2 = 0"], ["count"]]')
    page.click("button:has-text('Create')")
    page.wait_for_url(re.compile(r"/ui/jobs/evens$"))
    page.fill("#params", '{"n": 10}')
    page.click("text=Submit run")
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]+$"))
    page.locator("#run-state", has_text="SUCCEEDED").wait_for(timeout=120_000)
    shoot(page, "job")
    page.goto("/ui/jobs")
    shoot(page, "jobs")
    page.goto("/ui/functions")
    assert page.locator("#fn-read_csv").count() == 1
    shoot(page, "functions")
    page.goto("/ui/spark")
    shoot(page, "spark-apps")


def test_a_read_token_sees_no_actions_and_a_forged_post_is_refused(page, server):
    sign_in(page)
    page.goto("/ui/tokens")
    page.fill("#token-name", "viewer")
    page.check("input[value=read]")
    page.click("text=Create token")
    reader_token = page.locator("pre.token").inner_text().strip()
    shoot(page, "tokens")
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/ui/sign-in"))

    sign_in(page, reader_token)
    for path in ("/ui/runs", "/ui/jobs", "/ui/dead-letters", "/ui/jobs/evens"):
        page.goto(path)
        actions = page.eval_on_selector_all("form[method=post]", "fs => fs.map(f => f.getAttribute('action'))")
        assert actions == ["/ui/sign-out"], (path, actions)
    # The server refuses anyway: a POST without the CSRF token, and one with it but without the scope.
    page.console.expect("status of 403 (Forbidden)")
    forged = page.request.post(f"{server.url}/ui/runs", form={"steps": '[["noop"]]'})
    assert forged.status == 403
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    lacking = page.request.post(f"{server.url}/ui/runs", form={"steps": '[["noop"]]', "csrf_token": csrf})
    assert lacking.status == 403
