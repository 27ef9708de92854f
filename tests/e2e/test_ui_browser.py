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
from harness import TOKEN, Server, kill_every_node

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
    kill_every_node(base)  # a cluster's JVMs, should a test fail before destroying it


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
    with server.client() as admin:  # a job page of its own: this test runs alone too
        created = admin.post("/api/v1/jobs", json={"name": "viewer-sees", "steps": [["range", 3], ["count"]]})
        assert created.status_code in (201, 409), created.text
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
    for path in ("/ui/runs", "/ui/jobs", "/ui/dead-letters", "/ui/jobs/viewer-sees", "/ui/clusters", "/ui/products",
                 "/ui/products/spark-standalone/4.3", "/ui/tasks"):
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


def test_launch_watch_and_destroy_a_cluster(page, server):
    sign_in(page)
    page.goto("/ui/products")
    shoot(page, "products")
    page.click("text=spark-standalone")
    page.wait_for_url(re.compile(r"/ui/products/spark-standalone/4.3$"))
    # A value the service refuses comes back in words, next to its option, with what was typed.
    page.fill("[name='opt:size']", "0")
    page.console.expect("status of 422 (Unprocessable")
    page.click("button:has-text('Launch')")
    assert "size" in page.locator("#launch-error").inner_text()
    assert "node count" in page.locator("#option-error").inner_text()
    assert page.locator("[name='opt:size']").input_value() == "0"
    shoot(page, "product-invalid")
    page.fill("[name='opt:size']", "1")
    shoot(page, "product")
    page.click("button:has-text('Launch')")
    page.wait_for_url(re.compile(r"/ui/clusters/[0-9a-f-]+$"))
    # The page follows the launch by itself (server-sent events), up to ready.
    page.locator("#cluster-status", has_text="ready").wait_for(timeout=180_000)
    nodes = page.locator("#cluster-nodes tbody tr")
    assert nodes.count() == 2
    assert page.locator("#cluster-nodes tbody tr", has_text="running").count() == 2
    history = page.locator("#cluster-history tbody").inner_text()
    assert "registered" in history and "configuring" in history and "ready" in history
    shoot(page, "cluster")
    page.set_viewport_size(PHONE)
    shoot(page, "cluster-phone")
    page.set_viewport_size(LAPTOP)
    cluster_url = page.url
    page.goto("/ui/clusters")
    assert page.locator("#clusters tbody tr", has_text="ready").count() == 1
    shoot(page, "clusters")

    # The list, open in a second tab, follows the destroy live, without a reload.
    listing = page.context.new_page()
    watcher = Console(listing)
    listing.goto("/ui/clusters")
    listing.evaluate("window.__notReloaded = true")
    page.goto(cluster_url)
    page.click("button:has-text('Destroy')")
    page.locator("#cluster-status", has_text="destroyed").wait_for(timeout=60_000)
    assert page.locator("#cluster-nodes tbody tr", has_text="running").count() == 0
    assert page.locator("button:has-text('Destroy')").count() == 0
    listing.locator('#clusters [data-field="status"]', has_text="destroyed").wait_for(timeout=30_000)
    assert listing.evaluate("window.__notReloaded") is True
    assert watcher.errors == [], watcher.errors


def test_register_a_container_task_run_it_three_times_and_read_the_logs(page, server):
    sign_in(page)
    page.goto("/ui/tasks")
    if page.locator("#no-runtime").count():
        message = page.locator("#no-runtime").inner_text()
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    page.fill("#repository", "localhost/stoker/busybox:latest")
    page.fill("#task-name", "greeter")
    page.fill("#command", "sh -c 'echo hello from $GREETING; echo a warning >&2'")
    page.fill("#env", "GREETING=stoker")
    page.click("button:has-text('Register task')")
    page.wait_for_url(re.compile(r"/ui/tasks/[0-9a-f-]+$"))
    page.locator("#task-status", has_text="READY").wait_for(timeout=120_000)  # the page reloads while importing
    page.fill("#times", "3")
    page.click("button:has-text('Run')")
    page.wait_for_url(re.compile(r"/ui/results/[0-9a-f-]+$"))
    # The executions update live (server-sent events) until the result is complete.
    page.locator("#result-status", has_text="COMPLETE").wait_for(timeout=180_000)
    rows = page.locator("#details tbody tr")
    assert rows.count() == 3
    for i in range(3):
        assert "COMPLETE" in rows.nth(i).inner_text()
        assert rows.nth(i).locator("td").nth(2).inner_text() == "0"  # the exit code
    shoot(page, "result")
    rows.first.locator("a", has_text="Logs").click()
    page.wait_for_url(re.compile(r"/ui/results/[0-9a-f-]+/details/[0-9a-f-]+#logs$"))
    assert "hello from stoker" in page.locator("#detail-stdout").inner_text()
    assert "a warning" in page.locator("#detail-stderr").inner_text()
    assert page.locator("#detail-exit").inner_text() == "0"
    shoot(page, "execution")
    page.click("#main >> text=greeter")
    page.wait_for_url(re.compile(r"/ui/tasks/[0-9a-f-]+$"))
    assert page.locator("#results tbody tr", has_text="COMPLETE").count() == 1
    shoot(page, "task")
    page.goto("/ui/tasks")
    shoot(page, "tasks")
