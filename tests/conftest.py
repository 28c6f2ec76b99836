"""Fixtures that start the devstack for real: HTTPS on a free loopback port, a temporary SQLite database."""

from __future__ import annotations

import io
import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from addin_api import create_app, logs
from addin_api.devstack.config import DEFAULT_AZP
from addin_api.devstack.server import DevstackServer
from addin_api.settings import Settings

# The browser tests' fixtures, shared by every browser test module (one Chromium per session).
pytest_plugins = ["browser_support"]

ALICE = "alice@contoso.example"


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
        """Inject a fault (the fields: docs/devstack.md, "Faults")."""
        self.http.post(f"{self.url}/_devstack/faults", json=fault, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Back to the seeded state: data, log, faults and limits."""
        self.http.post(f"{self.url}/_devstack/reset", timeout=30).raise_for_status()


def make_settings(devstack: Devstack, **overrides: Any) -> Settings:
    """Service settings for the devstack's tenant, app, environment and CA (fields overridable)."""
    config = devstack.config
    values: dict[str, Any] = {
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
        "tenants": (config["tenantId"],),
        "dataverse_urls": {config["tenantId"]: config["environmentUrl"]},
        "authority_host": devstack.url,
        "graph_url": devstack.url,
        "allowed_client_apps": (DEFAULT_AZP,),
        "ca_bundle": Path(config["caFile"]),
    }
    values.update(overrides)
    return Settings(**values)


def make_session(devstack: Devstack) -> requests.Session:
    """An outbound session as the wiring builds it: the devstack CA, no environment overrides."""
    session = requests.Session()
    session.trust_env = False
    session.verify = devstack.config["caFile"]
    return session


class ManualClock:
    """A clock the test moves by hand (monotonic or wall-clock stand-in)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def wait_for_delayed(devstack: Devstack, path: str, count: int = 1) -> None:
    """Wait until a request the devstack delayed has finished, so it cannot land in the next test's log."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(1 for e in devstack.requests_log("identity") if e["path"].endswith(path)) >= count:
            return
        time.sleep(0.05)


@contextmanager
def capture_logs() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG while inside, through the production handler (redacting filter, JSON)."""
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


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


@pytest.fixture(scope="session")
def service_settings(devstack_server: DevstackServer) -> Settings:
    """The service's settings for the session devstack, parsed from the environment it would be given."""
    from addin_api.cli import dev_environment
    from addin_api.devstack.control import config_document

    config = config_document(devstack_server.state)
    return Settings.from_env(dev_environment(config, "https://127.0.0.1:5000"))


@pytest.fixture()
def app(service_settings: Settings, devstack: Devstack) -> Flask:
    """A fresh service app (empty caches) against the reset devstack; pytest-flask's `client` uses it."""
    return create_app(service_settings)


class Api:
    """The service's HTTP API through the Flask test client, with tokens minted by the devstack."""

    def __init__(self, client: FlaskClient, devstack: Devstack) -> None:
        self.client = client
        self.devstack = devstack
        self._tokens: dict[str, str] = {}

    def headers(self, user: str | None, token: str | None = None) -> dict[str, str]:
        """Authorization for a demo user (token cached per user) or an explicit token."""
        if token is None and user is not None:
            token = self._tokens.get(user) or self._tokens.setdefault(user, self.devstack.token(user))
        return {"Authorization": f"Bearer {token}"} if token else {}

    def call(
        self, method: str, path: str, user: str | None = ALICE, *, token: str | None = None, **kwargs: Any
    ) -> TestResponse:
        """Send a request as `user` (or with `token`)."""
        headers = {**self.headers(user, token), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, user: str | None = ALICE, **kwargs: Any) -> TestResponse:
        """GET as `user`."""
        return self.call("GET", path, user, **kwargs)

    def post(self, path: str, body: Any, user: str | None = ALICE, **kwargs: Any) -> TestResponse:
        """POST JSON as `user`."""
        return self.call("POST", path, user, json=body, **kwargs)

    def put(self, path: str, body: Any, user: str | None = ALICE, **kwargs: Any) -> TestResponse:
        """PUT JSON as `user`."""
        return self.call("PUT", path, user, json=body, **kwargs)

    def delete(self, path: str, user: str | None = ALICE, **kwargs: Any) -> TestResponse:
        """DELETE as `user`."""
        return self.call("DELETE", path, user, **kwargs)

    def dataverse_trips(self) -> list[dict[str, Any]]:
        """Dataverse requests the devstack has logged since the last `clear_log()`."""
        return self.devstack.requests_log("dataverse")


@pytest.fixture()
def api(client: FlaskClient, devstack: Devstack) -> Api:
    """The API as the task pane calls it."""
    return Api(client, devstack)


# What the service's logs must never contain: JWTs, bearer tokens, email addresses.
LEAKS = re.compile(r"eyJ[A-Za-z0-9_-]{10,}|(?i:bearer\s+(?!\[redacted\]))|[\w.+-]+(?:@|%40)[\w-]+\.[\w.-]+")


def log_leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    """The substrings of `text` that leak a token, an address or one of `secrets`."""
    found = [m.group(0) for m in LEAKS.finditer(text)]
    return found + [s for s in secrets if s and s in text]


@pytest.fixture(autouse=True)
def scanned_logs(request: pytest.FixtureRequest) -> Iterator[io.StringIO | None]:
    """During every tests/api test, log everything at DEBUG through the service's JSON handler and check for leaks.

    The handler is the production one (redacting filter + JSON formatter); the app registers its client secret with
    it when built. At teardown the emitted text must hold no token, address or client secret.
    """
    if request.node.path.parent.name != "api":
        yield None
        return
    with capture_logs() as stream:
        yield stream
    secret = request.getfixturevalue("service_settings").client_secret
    leaks = log_leaks(stream.getvalue(), (secret,))
    assert [] == leaks, "the logs leaked secrets or addresses"


# -- unit tests need no server ---------------------------------------------------------------------------------
# tests/unit runs pure code and fakes at the ports. A unit test that asks for a fixture starting the devstack or the
# service is refused at collection, and any IP connection a unit test opens fails: such tests belong in
# tests/integration or tests/api.
UNIT_TESTS = Path(__file__).parent / "unit"
SERVER_FIXTURES = frozenset({"devstack_server", "devstack", "service_settings", "app", "client", "api", "live_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse unit tests that would start a server, naming every one."""
    offenders = [
        f"{item.nodeid} uses {', '.join(sorted(wanted))}"
        for item in items
        if UNIT_TESTS in Path(str(item.path)).parents
        and (wanted := SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    ]
    if offenders:
        heading = "unit tests that start a server (move them to tests/integration):"
        raise pytest.UsageError("\n".join([heading, *offenders]))


class NetworkInUnitTest(AssertionError):
    """A unit test tried to open a network connection."""


@pytest.fixture(autouse=True)
def no_network_in_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In tests/unit, fail any IP connection (Unix sockets stay allowed)."""
    if UNIT_TESTS not in Path(str(request.node.path)).parents:
        return
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.close()
            raise NetworkInUnitTest(f"a unit test connected to {address!r}: use a fake at the port")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
