"""The OpenAPI document describes exactly the routes the app serves, with schemas, errors and security; the docs
page and its assets are served locally."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from addin_api.openapi import OPERATIONS
from addin_api.schemas.responses import CODES_BY_STATUS

DOCUMENTED_PREFIXES = ("/api/v1/", "/healthz", "/readyz")
# Flask's `<raw_id>` is the API's `{activityId}`; other variables keep their names.
VARIABLE = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path template."""
    return VARIABLE.sub(lambda m: "{activityId}" if m.group(1) == "raw_id" else "{" + m.group(1) + "}", rule)


def served(app: Flask) -> set[tuple[str, str]]:
    """(path, method) for every rule of the app under the documented prefixes."""
    found: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED_PREFIXES):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                found.add((openapi_path(rule.rule), method.lower()))
    return found


def spec_of(client: FlaskClient) -> dict[str, Any]:
    """The served document."""
    response = client.get("/api/v1/openapi.json")
    assert (200, "application/json") == (response.status_code, response.mimetype)
    document: dict[str, Any] = response.get_json()
    return document


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask, client: FlaskClient) -> None:
    """The url_map under /api/v1 (plus health) and the document's paths and methods are the same set."""
    document = spec_of(client)
    in_spec = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert served(app) == in_spec
    assert set(OPERATIONS) == in_spec


def test_operations_declare_bearer_security_schemas_and_every_error_code(client: FlaskClient) -> None:
    """v1 operations need the bearer scheme; JSON bodies and answers are schema refs; errors list their codes."""
    document = spec_of(client)
    assert {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"} == {
        k: v for k, v in document["components"]["securitySchemes"]["bearer"].items() if k != "description"
    }
    public = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/{asset}", "/healthz", "/readyz"}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert ([] if path in public else [{"bearer": []}]) == operation["security"], where
            if path not in public:
                assert {"401", "403", "422", "429", "503"} <= set(operation["responses"]), where
                for status, answer in operation["responses"].items():
                    if status.startswith("2") and "content" in answer:
                        assert "$ref" in answer["content"]["application/json"]["schema"], where
            if "requestBody" in operation:
                assert "$ref" in operation["requestBody"]["content"]["application/json"]["schema"], where
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and "application/problem+json" in answer.get("content", {}):
                    assert all(f"`{code}`" in answer["description"] for code in CODES_BY_STATUS[int(status)])
    schemas = document["components"]["schemas"]
    assert ["throttled"] == schemas["Problem429"]["allOf"][1]["properties"]["code"]["enum"]
    assert {"Me", "Tracked", "TrackingStatus", "RegardingChanged", "SearchResults", "CreatedRecord", "People"} <= set(
        schemas
    )
    assert {"from", "internetMessageId", "sentAt", "subject"} <= set(schemas["TrackEmail"]["required"])
    assert False is schemas["TrackEmail"]["additionalProperties"]


def test_docs_page_and_its_assets_are_served_locally(client: FlaskClient) -> None:
    """The page loads Swagger UI from our own assets (no CDN), under a CSP that allows only this origin."""
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert (200, "text/html") == (page.status_code, page.mimetype)
    assert (
        "https:" not in page.headers["Content-Security-Policy"]
        and "script-src 'self'" in (page.headers["Content-Security-Policy"])
    )
    assert references and all(r.startswith("docs/assets/") for r in references)
    for reference in references:
        asset = client.get(f"/api/v1/{reference}")
        assert (200, True) == (asset.status_code, len(asset.get_data()) > 100), reference
    script = client.get("/api/v1/docs/assets/docs.js").get_data(as_text=True)
    assert "openapi.json" in script and "http" not in script
    missing = client.get("/api/v1/docs/assets/index.j2")
    assert (404, "not_found") == (missing.status_code, missing.get_json()["code"])
