"""Fixtures that start the devstack for real: HTTPS on a free loopback port, a temporary SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from addin_api.devstack.server import DevstackServer


class Devstack:
    """A running devstack and small helpers to drive its control surface over HTTP."""

    def __init__(self, server: DevstackServer) -> None:
        self.server = server
        self.url = server.url
        self.ca_file = str(server.ca_file)
        self.http = requests.Session()
        self.http.verify = self.ca_file
        self.http.trust_env = False
        self.config: dict[str, Any] = self.http.get(f"{self.url}/_devstack/config", timeout=10).json()

    @property
    def api(self) -> str:
        """The emulated Dataverse Web API base, with a trailing slash."""
        return f"{self.url}/api/data/v9.2/"

    def token(self, user: str, audience: str = "addin", **claims: Any) -> str:
        """Mint a token for a demo user (bootstrap by default, or "dataverse")."""
        body = {"user": user, "audience": audience, "claims": claims}
        response = self.http.post(f"{self.url}/_devstack/token", json=body, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def requests_log(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The devstack request log, optionally only one kind ("dataverse" or "identity")."""
        entries = self.http.get(f"{self.url}/_devstack/requests", timeout=10).json()["requests"]
        return [e for e in entries if kind is None or e["kind"] == kind]

    def clear_log(self) -> None:
        """Empty the request log."""
        self.http.delete(f"{self.url}/_devstack/requests", timeout=10).raise_for_status()

    def fault(self, **fault: Any) -> None:
        """Inject a fault (see DESIGN §7 for the fields)."""
        self.http.post(f"{self.url}/_devstack/faults", json=fault, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Back to the seeded state: data, log, faults and limits."""
        self.http.post(f"{self.url}/_devstack/reset", timeout=30).raise_for_status()


@pytest.fixture(scope="session")
def devstack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory for the session's devstack (CA, keys, SQLite)."""
    return tmp_path_factory.mktemp("devstack")


@pytest.fixture(scope="session")
def devstack_server(devstack_dir: Path) -> Iterator[DevstackServer]:
    """One devstack for the whole session, on a free port."""
    server = DevstackServer(devstack_dir, host="127.0.0.1", port=0).start()
    yield server
    server.stop()


@pytest.fixture()
def devstack(devstack_server: DevstackServer) -> Iterator[Devstack]:
    """The session devstack, reset to its seeded state before each test."""
    stack = Devstack(devstack_server)
    stack.reset()
    yield stack
    stack.http.close()
