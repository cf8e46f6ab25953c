"""Browser fixtures: the API and the dashboard over real HTTP on free ports (on the session's
local stack), a workspace holding demo traces, and headless Debian Chromium driven by Playwright.
A failing test leaves a screenshot of its page in tests/browser/screenshots/."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.jobs.polling import poll_job

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DEMO_TRACES = 12


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the dashboard in Chromium")
    config.addinivalue_line("markers", "slow: slower tests (browser, property-based, whole-dataset)")
    config.addinivalue_line("markers", "allow_page_errors(pattern): page errors matching the regex are expected")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Servers:
    api_url: str
    dashboard_url: str


@dataclass
class Workspace:
    """A workspace signed in over HTTP: its key and an httpx client carrying it."""

    api_url: str
    key: str
    workspace_id: str
    name: str

    def call(self, method: str, path: str, **kw):
        import httpx

        headers = {"Authorization": f"Bearer {self.key}", **kw.pop("headers", {})}
        return httpx.request(method, self.api_url + path, headers=headers, timeout=30, **kw)

    def ok(self, method: str, path: str, **kw):
        response = self.call(method, path, **kw)
        assert response.status_code < 300, f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        return response.json() if response.content else None

    def wait_job(self, job_id: str, timeout_s: float = 60) -> dict:
        return poll_job(lambda: self.ok("GET", f"/jobs/{job_id}"), timeout_s=timeout_s)

def create_workspace(api_url: str, name: str) -> Workspace:
    """A fresh workspace over HTTP (sign-up is open in the local stack)."""
    import httpx

    response = httpx.post(f"{api_url}/workspaces", json={"name": name}, timeout=30)
    assert response.status_code == 201, response.text
    created = response.json()
    return Workspace(api_url, created["api_key"], created["workspace"]["id"], name)


@pytest.fixture(scope="session")
def servers(stack) -> Servers:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need {CHROMIUM} (make browser installs Debian's chromium)")
    import httpx

    from app import app
    from infra.local.dashboard_server import start_dashboard_server
    from infra.local.dev import start_api_server

    api_port = free_port()
    api_server = start_api_server(app, api_port)
    api_url = f"http://127.0.0.1:{api_port}/v1"
    dashboard_url = start_dashboard_server(free_port(), api_url)
    deadline = time.monotonic() + 10
    while httpx.get(f"{api_url}/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.1)
    yield Servers(api_url, dashboard_url)
    api_server.shutdown()


@pytest.fixture(scope="session")
def workspace(servers) -> Workspace:
    """A workspace with demo traces uploaded through the real upload path (shared by a worker's tests)."""
    return demo_workspace(servers.api_url, "Browser tests")


def demo_workspace(api_url: str, name: str) -> Workspace:
    """A fresh workspace holding DEMO_TRACES demo traces."""
    from infra.local.demo_traces import make_demo_traces

    ws = create_workspace(api_url, name)
    body = "\n".join(json.dumps(t) for t in make_demo_traces(DEMO_TRACES))
    accepted = ws.ok("POST", "/traces/upload?format=langfuse", content=body,
                     headers={"Content-Type": "application/x-ndjson"})
    job = ws.wait_job(accepted["job_id"])
    assert job["status"] == "succeeded", job
    return ws


@pytest.fixture(scope="session")
def browser(servers):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# The browser's own log line for an HTTP error status or an aborted request: not the page's fault.
NETWORK_LOG = re.compile(r"^Failed to load resource: ")


def _watch_errors(page, errors: list[str]) -> None:
    """Collect uncaught exceptions, unhandled rejections (Chromium reports both as page errors) and
    console.error calls of ``page``."""
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def on_console(message):
        if message.type == "error" and not NETWORK_LOG.match(message.text):
            errors.append(f"console.error: {message.text}")
    page.on("console", on_console)


@pytest.fixture(autouse=True)
def no_page_errors(request):
    """Fail the test when any of its pages threw, left a promise rejection unhandled or called
    console.error (unless marked ``allow_page_errors(pattern)`` and every error matches it)."""
    errors: list[str] = []
    yield errors
    marker = request.node.get_closest_marker("allow_page_errors")
    allowed = re.compile(marker.args[0]) if marker else None
    unexpected = [e for e in errors if not (allowed and allowed.search(e))]
    if unexpected:
        pytest.fail("the page reported errors:\n" + "\n".join(unexpected), pytrace=False)


def _page(browser, request, viewport, errors):
    context = browser.new_context(viewport=viewport, has_touch=viewport["width"] < 600)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _watch_errors(page, errors)
    page.js_errors = errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(browser, request, no_page_errors):
    """A fresh desktop-sized browser page (own storage); screenshot on failure."""
    yield from _page(browser, request, {"width": 1280, "height": 900}, no_page_errors)


@pytest.fixture
def phone_page(browser, request, no_page_errors):
    """A phone-sized touch page."""
    yield from _page(browser, request, {"width": 390, "height": 844}, no_page_errors)


def sign_in(page, servers: Servers, ws: Workspace, route: str = "") -> None:
    """Sign in through the form, then open ``route`` (a hash path like "traces")."""
    page.goto(servers.dashboard_url + "#/signin")
    page.get_by_label("API key").fill(ws.key)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who").filter(has_text=ws.name).wait_for()
    if route:
        page.goto(f"{servers.dashboard_url}#/{route}")
