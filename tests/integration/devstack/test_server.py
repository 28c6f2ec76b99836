"""The devstack's HTTPS server: persistent HTTP/1.1 connections, and `addin-api devstack --users N`."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from conftest import Devstack


def tls_connection(devstack: Devstack) -> http.client.HTTPSConnection:
    """One HTTPS connection to the devstack, trusting its CA."""
    context = ssl.create_default_context(cafile=devstack.ca_file)
    host, port = devstack.url.removeprefix("https://").rsplit(":", 1)
    return http.client.HTTPSConnection(host, int(port), context=context, timeout=30)


def test_two_requests_on_one_tls_connection_are_served_on_that_connection(devstack: Devstack) -> None:
    """Serve a second request on the TLS connection of the first, with no `Connection: close`."""
    conn = tls_connection(devstack)
    try:
        conn.request("GET", "/_devstack/config")
        first = conn.getresponse()
        first_body = first.read()
        sock, local = conn.sock, conn.sock.getsockname()
        conn.request("GET", "/common/v2.0/.well-known/openid-configuration")
        second = conn.getresponse()
        second.read()

        assert (200, 200) == (first.status, second.status)
        assert (None, None) == (first.getheader("Connection"), second.getheader("Connection"))
        assert (11, 11) == (first.version, second.version)  # HTTP/1.1
        assert sock is conn.sock and local == conn.sock.getsockname()
        assert devstack.config["clientId"] == json.loads(first_body)["clientId"]
    finally:
        conn.close()


def test_connection_stays_open_after_an_error_and_a_request_body(devstack: Devstack) -> None:
    """Keep the connection across a 401 from the Web API for a POST with a body, and a 404."""
    conn = tls_connection(devstack)
    try:
        conn.request(
            "POST", "/api/data/v9.2/accounts", body=b'{"name": "x"}', headers={"Content-Type": "application/json"}
        )
        unauthorized = conn.getresponse()
        unauthorized.read()
        sock = conn.sock
        conn.request("GET", "/no/such/path")
        missing = conn.getresponse()
        missing.read()
        conn.request("GET", "/_devstack/config")
        config = conn.getresponse()
        config.read()

        assert (401, 404, 200) == (unauthorized.status, missing.status, config.status)
        assert sock is conn.sock
    finally:
        conn.close()


@pytest.mark.slow
def test_devstack_command_adds_synthetic_users_that_act_in_dataverse(tmp_path: Path) -> None:
    """`addin-api devstack --users 3` lists bench-user-01..03, whose Dataverse tokens pass WhoAmI as themselves."""
    command = [sys.executable, "-m", "addin_api.cli", "devstack", "--port", "0", "--data-dir", str(tmp_path)]
    process = subprocess.Popen([*command, "--users", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    try:
        url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not url:
            line = process.stdout.readline()
            if line.startswith("ready: "):
                url = line.removeprefix("ready: ").strip()
        assert url.startswith("https://127.0.0.1:")
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(tmp_path / "ca.pem")
            config = session.get(f"{url}/_devstack/config", timeout=10).json()
            body = {"user": "bench-user-03@contoso.example", "audience": "dataverse"}
            token = session.post(f"{url}/_devstack/token", json=body, timeout=10).json()["access_token"]
            who = session.get(
                f"{url}/api/data/v9.2/WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).json()

        bench = [u for u in config["users"] if u["upn"].startswith("bench-user-")]
        assert ["bench-user-01", "bench-user-02", "bench-user-03"] == [u["upn"].split("@")[0] for u in bench]
        assert {"full_rights"} == {u["scenario"] for u in bench}
        assert "5e7abe4c-0000-4000-8000-000000000003" == who["UserId"]
    finally:
        process.send_signal(signal.SIGINT)
        assert 0 == process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def test_devstack_command_refuses_a_negative_user_count() -> None:
    """Reject `--users -1` with a usage error before anything starts."""
    done = subprocess.run(
        [sys.executable, "-m", "addin_api.cli", "devstack", "--users", "-1"], capture_output=True, text=True, timeout=60
    )

    assert (2, True) == (done.returncode, "must be between 0 and 999" in done.stderr)
