"""The browser tests' fixtures: one Chromium for the whole session, and the service on a loopback port.

A plugin of the root conftest, so every browser test module shares the one session-scoped browser: Playwright's
sync API holds an event loop in the main thread, and a second `sync_playwright()` beside the first fails.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from addin_api.api import devharness, taskpane

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
