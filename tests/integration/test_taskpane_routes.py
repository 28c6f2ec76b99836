"""The pane's routes (CSP, assets) and the dev harness's routes, which reach the devstack over HTTP."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from conftest import Devstack
from flask import Flask
from flask.testing import FlaskClient

from addin_api.api import devharness, taskpane
from addin_api.api.devharness import OFFICE_JS_URL, STANDIN_URL


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
    assert 404 == fetch(pane_client, "/taskpane/dev/office-standin.js")[0]
    assert 404 == fetch(pane_client, "/taskpane/../manifest.py")[0]
    status, body, _ = fetch(pane_client, "/assets/icon-80.png")
    assert (200, b"\x89PNG") == (status, body[:4])


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
