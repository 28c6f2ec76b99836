"""The service under gunicorn (the shipped config, two workers) over real HTTP against the devstack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import ALICE, Devstack

from addin_api.cli import dev_environment
from addin_api.devstack import seed
from addin_api.devstack.control import config_document

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).parents[2] / "addin_api" / "gunicorn_conf.py"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture()
def gunicorn(devstack: Devstack) -> Iterator[str]:
    """The service under gunicorn with two workers; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **dev_environment(config_document(devstack.server.state), url), "ADDIN_API_WORKERS": "2"}
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "addin_api:create_app()"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                # Refused before the master binds; unanswered while the workers still boot (a loaded machine).
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def test_gunicorn_serves_ready_me_and_track(gunicorn: str, devstack: Devstack) -> None:
    """Under gunicorn the service is ready, answers `me`, and tracks an email once across workers."""
    headers = {"Authorization": f"Bearer {devstack.token(ALICE)}"}
    assert 200 == requests.get(f"{gunicorn}/readyz", timeout=30).status_code
    assert True is requests.get(f"{gunicorn}/api/v1/me", headers=headers, timeout=30).json()["canUseAddIn"]
    body = {
        "internetMessageId": "<gunicorn-1@example.org>",
        "subject": "Under gunicorn",
        "from": {"address": seed.DANA_EMAIL},
        "to": [{"address": ALICE}],
        "sentAt": "2026-11-20T09:30:00Z",
    }

    def track(_: int) -> int:
        return requests.post(f"{gunicorn}/api/v1/emails", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(track, range(8)))
    assert (1, 7) == (statuses.count(201), statuses.count(200))
