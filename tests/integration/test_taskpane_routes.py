"""The pane's routes (CSP, assets) and the dev harness's routes, which reach the devstack over HTTP."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest import Devstack, capture_logs, make_settings
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from addin_api import create_app
from addin_api.api import devharness, taskpane
from addin_api.api.devharness import HARNESS_DIR, OFFICE_JS_URL, STANDIN_URL

# A line of the stand-in's opening comment: a response carrying it served the dev-only file.
STANDIN_MARK = b"A small stand-in for Office.js, used ONLY by the dev harness"
# Spellings of the stand-in's path under the pane's asset route: dot segments, percent-encoded dots and slashes,
# backslashes (raw and encoded), double encoding, empty segments, case, NUL, an absolute-form request target.
STANDIN_SPELLINGS = [
    "/taskpane/dev/office-standin.js",
    "/taskpane/./dev/office-standin.js",
    "/taskpane/dev/./office-standin.js",
    "/taskpane//dev/office-standin.js",
    "/taskpane/vendor/../dev/office-standin.js",
    "/taskpane/vendor/./../dev/office-standin.js",
    "/taskpane/../dev/office-standin.js",
    "/taskpane/../static/dev/office-standin.js",
    "/taskpane/%2e/dev/office-standin.js",
    "/taskpane/%2E/dev/office-standin.js",
    "/taskpane/vendor/%2e%2e/dev/office-standin.js",
    "/taskpane/vendor/%2E%2E/dev/office-standin.js",
    "/taskpane/%2e%2e/dev/office-standin.js",
    "/taskpane/dev%2foffice-standin.js",
    "/taskpane/dev%2Foffice-standin.js",
    "/taskpane/.%2fdev%2foffice-standin.js",
    "/taskpane/vendor%2f..%2fdev%2foffice-standin.js",
    "/taskpane/..%2fdev%2foffice-standin.js",
    "/taskpane/vendor/..%2f..%2fdev%2foffice-standin.js",
    "/taskpane/dev\\office-standin.js",
    "/taskpane/.\\dev\\office-standin.js",
    "/taskpane/vendor\\..\\dev\\office-standin.js",
    "/taskpane/dev%5coffice-standin.js",
    "/taskpane/vendor%5c..%5cdev%5coffice-standin.js",
    "/taskpane/..%5cdev%5coffice-standin.js",
    "/taskpane/%252e/dev/office-standin.js",
    "/taskpane/vendor/%252e%252e/dev/office-standin.js",
    "/taskpane/dev%252foffice-standin.js",
    "/taskpane/%c0%ae/dev/office-standin.js",
    "/taskpane/DEV/office-standin.js",
    "/taskpane/dev/office-standin.js%00",
    "/taskpane/dev/office-standin.js?x=1",
    "/taskpane/dev/office-standin.js%3f",
    "http://127.0.0.1/taskpane/./dev/office-standin.js",
]


@pytest.fixture()
def pane_client(app: Flask, client: FlaskClient) -> FlaskClient:
    """The test client of an app with the pane and the dev harness registered."""
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    if "devharness" not in app.blueprints:
        devharness.init_app(app)
    return client


def fetch(client: FlaskClient, path: str) -> tuple[int, bytes, Any]:
    """GET a path and close the response (static files are streamed): status, body, headers."""
    with client.get(path) as response:
        return response.status_code, response.get_data(), response.headers


def csp(headers: Any) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}."""
    pairs = (d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}


def test_the_pane_may_be_framed_and_loads_office_js_from_microsoft(pane_client: FlaskClient) -> None:
    """Outlook frames the pane: no frame-ancestors 'none'; scripts from self and the Office.js CDN only."""
    status, body, headers = fetch(pane_client, "/taskpane.html")
    assert 200 == status
    policy = csp(headers)
    assert "frame-ancestors" not in policy
    assert "X-Frame-Options" not in headers
    assert "'self' https://appsforoffice.microsoft.com" == policy["script-src"]
    assert "'self'" == policy["connect-src"]
    assert OFFICE_JS_URL.encode() in body


def test_pane_assets_are_served_but_not_the_dev_stand_in(pane_client: FlaskClient) -> None:
    """The pane's modules and styles are public; the Office.js stand-in is only under /dev."""
    status, _, headers = fetch(pane_client, "/taskpane/js/main.js")
    # Browsers run a module script only when it is served with a JavaScript MIME type.
    assert (200, "text/javascript") == (status, headers["Content-Type"].split(";")[0])
    assert 200 == fetch(pane_client, "/taskpane/taskpane.css")[0]
    assert 200 == fetch(pane_client, "/taskpane/vendor/msal-browser.min.js")[0]
    assert 404 == fetch(pane_client, "/taskpane/dev/office-standin.js")[0]
    assert 404 == fetch(pane_client, "/taskpane/../manifest.py")[0]
    assert 404 == fetch(pane_client, "/taskpane/vendor/README.md")[0]
    assert 404 == fetch(pane_client, "/taskpane/taskpane.html")[0]
    status, body, _ = fetch(pane_client, "/assets/icon-80.png")
    assert (200, b"\x89PNG") == (status, body[:4])


def test_the_pane_serves_only_its_allowlist_and_no_dev_file() -> None:
    """`/taskpane/<name>` serves exactly the pane's scripts and styles; the dev files live in another root."""
    modules = ["api", "auth", "config", "main", "office", "people", "query", "quickcreate", "recent", "render"]
    modules += ["rules", "search", "settings", "state", "text"]
    expected = {"commands.js", "taskpane.css", "vendor/msal-browser.min.js", *(f"js/{m}.js" for m in modules)}
    assert expected == set(taskpane.PANE_ASSETS)
    assert not any(HARNESS_DIR in path.parents for path in taskpane.PANE_ASSETS.values())
    assert not (taskpane.PANE_DIR / "dev").exists()
    assert STANDIN_MARK in (HARNESS_DIR / "office-standin.js").read_bytes()


def raw_get(port: int, target: str, follow: bool = True) -> tuple[int, bytes]:
    """Send `GET <target>` byte for byte (no client-side normalization), following one redirect: status, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    location = next((line[9:].strip() for line in head.split(b"\r\n") if line.lower().startswith(b"location:")), None)
    if follow and 300 <= status < 400 and location:
        return raw_get(port, location.decode("latin-1"), follow=False)
    return status, body


@pytest.fixture()
def dev_server(app: Flask) -> Iterator[int]:
    """The app with the pane and the dev harness (as `addin-api dev` runs it) on a loopback port; yields the port."""
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    if "devharness" not in app.blueprints:
        devharness.init_app(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dev-server", daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_no_spelling_of_a_pane_path_reaches_the_dev_stand_in_over_http(dev_server: int) -> None:
    """Even with the dev harness mounted, every spelling under /taskpane/ is refused; only /dev serves the stand-in."""
    status, body = raw_get(dev_server, STANDIN_URL)
    assert (200, True) == (status, STANDIN_MARK in body)
    assert 200 == raw_get(dev_server, "/taskpane/js/main.js")[0]
    served = {}
    for target in STANDIN_SPELLINGS:
        status, body = raw_get(dev_server, target)
        if status < 400 or STANDIN_MARK in body:
            served[target] = status
    assert {} == served


def test_manifest_and_pane_config_ignore_the_host_header(pane_client: FlaskClient) -> None:
    """A forged Host changes neither the manifest's URLs nor the pane's SSO scope: both come from the settings."""
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    manifest = pane_client.get("/manifest.xml", headers=headers)
    config = pane_client.get("/taskpane/config.json", headers=headers)
    assert (200, 200) == (manifest.status_code, config.status_code)
    assert b"evil.example" not in manifest.data and b"https://127.0.0.1:5000/taskpane.html" in manifest.data
    assert config.get_json()["apiScope"].startswith("api://127.0.0.1:5000/")


def test_without_a_public_url_the_manifest_is_refused_not_built_from_the_request(devstack: Devstack) -> None:
    """Settings without a public URL (built in code; the environment parse requires it) answer 503, never Host."""
    app = create_app(make_settings(devstack))
    with app.test_client() as client:
        for path in ("/manifest.xml", "/taskpane/config.json"):
            response = client.get(path, headers={"Host": "evil.example"})
            assert (503, "configuration_error") == (response.status_code, response.get_json()["code"])
            assert b"evil.example" not in response.data


def test_the_harness_pane_swaps_office_js_for_the_stand_in(pane_client: FlaskClient) -> None:
    """/dev/pane is the real pane with the stand-in instead of Microsoft's Office.js."""
    html = fetch(pane_client, "/dev/pane")[1]
    assert STANDIN_URL.encode() in html and OFFICE_JS_URL.encode() not in html
    assert 200 == fetch(pane_client, STANDIN_URL)[0]
    assert 200 == fetch(pane_client, "/dev")[0]
    assert 404 == fetch(pane_client, "/dev/harness.html")[0]


def test_the_harness_mints_tokens_and_lists_users_through_the_devstack(pane_client: FlaskClient) -> None:
    """Tokens come from the devstack over HTTP (claims overrides pass through); users list their scenarios."""
    users = pane_client.get("/dev/api/users").get_json()["users"]
    assert "no_office_apps_privilege" == next(u["scenario"] for u in users if u["upn"].startswith("bob@"))
    minted = pane_client.post("/dev/api/token", json={"user": "dave@contoso.example", "claims": {"amr": ["mfa"]}})
    claims = jwt.decode(minted.get_json()["access_token"], options={"verify_signature": False})
    assert ("dave@contoso.example", ["mfa"]) == (claims["preferred_username"], claims["amr"])
    assert 400 == pane_client.post("/dev/api/token", json={"user": "nobody@example.com"}).status_code


def test_the_harness_shows_what_the_user_sees_in_dataverse(pane_client: FlaskClient, devstack: Devstack) -> None:
    """The live view lists the seeded tracked email and appointment with their regarding names."""
    items = pane_client.get("/dev/api/activity?user=alice@contoso.example").get_json()["items"]
    assert {("email", "Fabrikam, Inc."), ("appointment", "Adventure Works Cycles")} <= {
        (i["type"], i["regarding"]) for i in items
    }
    assert [] == pane_client.get("/dev/api/activity?user=mallory@fabrikam-tenant.example").get_json()["items"]


def test_the_harness_injects_and_clears_dataverse_faults(pane_client: FlaskClient, devstack: Devstack) -> None:
    """Throttle and outage buttons add devstack faults; Clear removes them."""
    assert 200 == pane_client.post("/dev/api/faults", json={"status": 429, "retryAfter": 7}).status_code
    token = devstack.token("alice@contoso.example", audience="dataverse")
    throttled = devstack.http.get(f"{devstack.api}WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert (429, "7") == (throttled.status_code, throttled.headers.get("Retry-After"))
    pane_client.post("/dev/api/faults", json={"status": 503, "count": 5})
    assert 204 == pane_client.delete("/dev/api/faults").status_code
    answered = devstack.http.get(f"{devstack.api}WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert 200 == answered.status_code


def test_pane_config_gives_the_limits_and_every_text_the_pane_shows(devstack: Devstack) -> None:
    """config.json carries the configured attachment limit, the subject lengths and each of the pane's texts."""
    settings = make_settings(devstack, public_url="https://127.0.0.1:5000", max_attachment_bytes=1234)
    app = create_app(settings)
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    with app.test_client() as client:
        config = client.get("/taskpane/config.json").get_json()
    assert (1234, 800, 200) == (
        config["maxAttachmentBytes"],
        config["maxSubjectLength"],
        config["maxAppointmentSubjectLength"],
    )
    text_js = (taskpane.PANE_DIR / "js" / "text.js").read_text(encoding="utf-8")
    defaults = text_js.split("export const DEFAULT_TEXTS = Object.freeze({", 1)[1].split("});", 1)[0]
    names = set(re.findall(r"^\s{2}(\w+):", defaults, flags=re.MULTILINE))
    assert {"addInNotAllowed", "readOnly", "untrackConfirm"} <= names
    assert names == set(config["texts"])
    assert all(isinstance(v, str) and v.strip() for v in config["texts"].values())


def test_the_harness_polling_is_logged_at_debug_and_the_panes_calls_at_info(pane_client: FlaskClient) -> None:
    """The harness's own requests (its live view's poll) are DEBUG `request` events; the pane's API calls stay INFO."""
    with capture_logs() as stream:
        assert 200 == pane_client.get("/dev/api/users").status_code
        assert 200 == pane_client.get("/dev/api/activity?user=alice%40contoso.example").status_code
        assert 401 == pane_client.get("/api/v1/me").status_code
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    levels = {(e["path"], e["level"]) for e in found if e["event"] == "request"}
    assert {("/dev/api/users", "debug"), ("/dev/api/activity", "debug"), ("/api/v1/me", "info")} == levels
