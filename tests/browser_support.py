"""The browser tests' fixtures: one Chromium for the whole session, and the service on a loopback port.

A plugin of the root conftest, so every browser test module shares the one session-scoped browser: Playwright's
sync API holds an event loop in the main thread, and a second `sync_playwright()` beside the first fails.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from werkzeug.serving import make_server

from addin_api.api import devharness, taskpane

ROOT = Path(__file__).parents[1]
STANDIN = ROOT / "addin_api" / "static" / "dev" / "office-standin.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PANE_WIDTH = 340


class Pane:
    """The task pane open in a page, with helpers to read the stand-in's Outlook state."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.api_requests: list[tuple[str, str]] = []
        self.bearers: list[str] = []
        self.vendor_requests: list[str] = []
        self.errors: list[str] = []
        self.bodies: list[Any] = []
        page.on("request", self._record)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _record(self, request: Any) -> None:
        if "/api/v1/" in request.url:
            self.api_requests.append((request.method, request.url.split("/api/v1/", 1)[1]))
            if request.method in ("POST", "PUT"):
                self.bodies.append(json.loads(request.post_data or "null"))
            self.bearers.append(request.headers.get("authorization", "").removeprefix("Bearer "))
        if "/taskpane/vendor/" in request.url:
            self.vendor_requests.append(request.url.split("/taskpane/vendor/", 1)[1])

    def token_clients(self) -> set[str]:
        """The `azp` (calling client) of every bearer the pane sent to /api/v1."""
        return {jwt.decode(token, options={"verify_signature": False})["azp"] for token in self.bearers}

    def bridge_methods(self) -> list[str]:
        """The NAA bridge requests msal-browser made to the stand-in, in order."""
        return [r["method"] for r in self.standin()["bridgeRequests"]]

    def standin(self) -> dict[str, Any]:
        """The stand-in's state: categories, master categories, token requests."""
        state: dict[str, Any] = self.page.evaluate("() => JSON.parse(JSON.stringify(window.OfficeStandin.state))")
        return state

    def categories(self) -> list[str]:
        """Categories applied to the item."""
        return [c["displayName"] for c in self.standin()["itemCategories"]]

    def master_categories(self) -> list[str]:
        """The mailbox's master category list."""
        return [c["displayName"] for c in self.standin()["masterCategories"]]

    def message(self) -> str:
        """The text of the pane's message bar (waits for it to show)."""
        self.page.locator("#message").wait_for(state="visible")
        return str(self.page.locator("#message-text").inner_text())

    def wait_loaded(self) -> None:
        """Wait until the tracking status and the people cards have been read (the pane is no longer busy)."""
        self.page.locator("#status-loading").wait_for(state="hidden")
        self.page.locator("#main[aria-busy=false]").wait_for(state="attached")

    def shot(self, name: str) -> None:
        """Save a screenshot of the pane to test-artifacts/screenshots/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


OpenPane = Callable[..., Pane]


@pytest.fixture()
def open_pane(browser: Any, live_service: str) -> Iterator[OpenPane]:
    """Open `/taskpane.html` as `user` on a sample item; Office.js comes from the stand-in."""
    contexts: list[Any] = []
    panes: list[Pane] = []
    standin_js = STANDIN.read_text(encoding="utf-8")

    def open_(
        user: str = "alice@contoso.example",
        sample: str = "dana-read",
        item: dict[str, Any] | None = None,
        standin: dict[str, Any] | None = None,
        before: Callable[[Any], None] | None = None,
    ) -> Pane:
        # The devstack (the environment behind "View in Dynamics 365") speaks HTTPS with its own CA.
        context = browser.new_context(viewport={"width": PANE_WIDTH, "height": 900}, ignore_https_errors=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.route(
            "https://appsforoffice.microsoft.com/**",
            lambda route: route.fulfill(status=200, body=standin_js, content_type="application/javascript"),
        )
        config = {"user": user, "sample": sample, "item": item or {}, **(standin or {})}
        page.add_init_script(f"window.__OFFICE_STANDIN__ = {json.dumps(config)};")
        pane = Pane(page, live_service)
        panes.append(pane)
        if before is not None:
            before(page)
        page.goto(f"{live_service}/taskpane.html")
        return pane

    yield open_
    for context in contexts:
        context.close()
    assert [] == [error for pane in panes for error in pane.errors], "no uncaught errors in the pane"


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    """A missing browser fails the browser tests loudly (`make test` installs Chromium); they are never skipped."""
    pytest.fail(f"the browser tests cannot run: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session."""
    executable = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if executable is None:
        _unavailable("chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def live_service(app: Flask) -> Iterator[str]:
    """The service (with the pane and the dev harness) on a free loopback port, plain HTTP, in a thread."""
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    if "devharness" not in app.blueprints:
        devharness.init_app(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="service", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
