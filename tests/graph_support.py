"""Helpers for tests of the emulated Graph: callers with delegated or app tokens, deliveries, delta rounds, and a
small webhook receiver that answers the validation handshake and records notifications."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from conftest import ALICE, Devstack

BOB = "bob@contoso.example"
IMMUTABLE = 'IdType="ImmutableId"'


class Graph:
    """A Graph caller with a delegated token for one user (or an app-only token)."""

    def __init__(self, devstack: Devstack, token: str) -> None:
        self.devstack = devstack
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, prefer: str | None = None, **kwargs: Any) -> requests.Response:
        """Send a request to `/v1.0{path}` (or to an absolute URL)."""
        url = path if path.startswith("https://") else f"{self.devstack.url}/v1.0{path}"
        headers = {**self.headers, **({"Prefer": prefer} if prefer else {}), **kwargs.pop("headers", {})}
        return self.devstack.http.request(method, url, headers=headers, timeout=30, **kwargs)

    def json(self, method: str, path: str, prefer: str | None = None, **kwargs: Any) -> Any:
        """Send a request and return its JSON body, failing on an error status."""
        response = self.call(method, path, prefer, **kwargs)
        assert response.status_code < 400, response.text
        return response.json()


def as_user(devstack: Devstack, user: str = ALICE) -> Graph:
    """Graph as a user in Outlook (a delegated token from the control surface)."""
    return Graph(devstack, devstack.token(user, audience="graph"))


def as_app(devstack: Devstack) -> Graph:
    """Graph as the add-in's app registration (client credentials at the token endpoint)."""
    config = devstack.config
    response = devstack.http.post(
        f"{config['authority']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config["clientId"],
            "client_secret": config["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    )
    response.raise_for_status()
    return Graph(devstack, response.json()["access_token"])


def deliver(devstack: Devstack, to: str = ALICE, **fields: Any) -> dict[str, Any]:
    """Deliver a message from outside the tenant through the control surface."""
    body = {"from": {"address": "lee@northwind.example", "name": "Lee"}, "to": [{"address": to}], "subject": "Hi"}
    response = devstack.http.post(f"{devstack.url}/_devstack/mail/deliver", json={**body, **fields}, timeout=10)
    assert 201 == response.status_code, response.text
    return dict(response.json())


def delta_round(graph: Graph, url: str, prefer: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Follow nextLinks to the deltaLink; return every entry and the deltaLink."""
    entries: list[dict[str, Any]] = []
    while True:
        page = graph.json("GET", url, prefer)
        entries += page["value"]
        if "@odata.deltaLink" in page:
            return entries, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


class WebhookReceiver:
    """HTTP on a free loopback port: `/notify` and `/lifecycle`; `echo=False` answers validations wrongly."""

    def __init__(self) -> None:
        self.echo = True
        self.status = 202
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                token = parse_qs(parts.query).get("validationToken")
                if token:
                    with receiver._lock:
                        receiver.validations.append(token[0])
                    answer = (token[0] if receiver.echo else "not the token").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                body = json.loads(raw or b"{}")
                with receiver._lock:
                    target = receiver.lifecycle if parts.path == "/lifecycle" else receiver.notifications
                    target.extend(body.get("value", []))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()


def wait_until(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll until `check()` is truthy (returning it) or the time is up (returning the last falsy value)."""
    deadline = time.monotonic() + seconds
    result = check()
    while not result and time.monotonic() < deadline:
        time.sleep(0.05)
        result = check()
    return result
