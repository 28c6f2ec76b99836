"""`@declare` checks a request in the declared order, hands the view what the schemas loaded, enforces the route's
body limit with the bounded reader, and keeps its contract on the view for the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient
from marshmallow import fields, post_load

from addin_api import create_app
from addin_api.api.activities import ACTIVITY_ID, IF_MATCH
from addin_api.api.declare import Auth, Param, declaration_of, declare
from addin_api.errors import ValidationFailed
from addin_api.schemas import Strict

GUID = "6f1c1a52-3b8e-4d0b-9f43-2a7c5e9d1b20"
LIMIT = 64


class NoteSchema(Strict):
    """A tiny body that loads into a tuple, as the real schemas load into commands."""

    text = fields.String(required=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> tuple[str, str]:
        return ("note", data["text"])


def refuse_secret(body: tuple[str, str]) -> None:
    """A body check like the records allowlist: a 422 after the schema loaded."""
    if body[1] == "secret":
        raise ValidationFailed({"text": ["is not allowed"]})


@pytest.fixture()
def declared_client() -> FlaskClient:
    """The real app with one declared public route taking a path id, If-Match and a small body."""
    app = create_app()

    @declare(
        "Change a note",
        Auth.NONE,
        params=(ACTIVITY_ID, IF_MATCH),
        body=NoteSchema(),
        body_limit=LIMIT,
        body_check=refuse_secret,
    )
    def change(record_id: str, condition: str, body: tuple[str, str]) -> Response:
        return jsonify({"id": record_id, "ifMatch": condition, "body": list(body)})

    app.add_url_rule("/api/v1/test-notes/<activityId>", view_func=change, methods=["PUT"])
    return app.test_client()


def errors_of(response: Any) -> tuple[int, str, list[str]]:
    """Status, code and the names of the fields in error."""
    body = response.get_json()
    return response.status_code, body["code"], sorted(body.get("errors", {}))


def test_the_view_gets_the_parsed_parameters_and_the_loaded_command(declared_client: FlaskClient) -> None:
    """The path id is normalised, If-Match defaults to *, and the body arrives as what post_load returned."""
    response = declared_client.put(f"/api/v1/test-notes/{GUID.upper()}", json={"text": "hi"})

    assert {"id": GUID, "ifMatch": "*", "body": ["note", "hi"]} == response.get_json()


def test_checks_run_in_the_declared_order(declared_client: FlaskClient) -> None:
    """A request wrong everywhere is refused for its path id, then its If-Match, then its body, then the body check."""
    bad_if_match = {"If-Match": "no-quotes"}

    everything = declared_client.put("/api/v1/test-notes/nope", json={"x": 1}, headers=bad_if_match)
    header_and_body = declared_client.put(f"/api/v1/test-notes/{GUID}", json={"x": 1}, headers=bad_if_match)
    body = declared_client.put(f"/api/v1/test-notes/{GUID}", json={"x": 1})
    check = declared_client.put(f"/api/v1/test-notes/{GUID}", json={"text": "secret"})

    assert (422, "validation_failed", ["activityId"]) == errors_of(everything)
    assert (422, "validation_failed", ["If-Match"]) == errors_of(header_and_body)
    assert (422, "validation_failed", ["text", "x"]) == errors_of(body)
    assert (422, "validation_failed", ["text"]) == errors_of(check)


def test_the_route_body_limit_is_enforced_by_the_bounded_reader(declared_client: FlaskClient) -> None:
    """A body over the route's limit is 413 payload_too_large problem+json; not JSON at all is a 422 for the body."""
    large = declared_client.put(f"/api/v1/test-notes/{GUID}", json={"text": "x" * LIMIT})
    not_json = declared_client.put(f"/api/v1/test-notes/{GUID}", data="text", content_type="text/plain")
    too_deep = declared_client.put(
        f"/api/v1/test-notes/{GUID}", data="[" * 20 + "]" * 20, content_type="application/json"
    )

    assert (413, "payload_too_large", "application/problem+json") == (
        large.status_code,
        large.get_json()["code"],
        large.mimetype,
    )
    assert (422, "validation_failed", ["body"]) == errors_of(not_json)
    assert (422, "validation_failed", ["body"]) == errors_of(too_deep)


def test_every_v1_route_of_the_app_declares_its_auth() -> None:
    """Each view under /api/v1 carries a declaration; the writes need the add-in privilege, the reads a user."""
    app: Flask = create_app()
    auth = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            declaration = declaration_of(app.view_functions[rule.endpoint])
            assert declaration is not None, rule.rule
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                auth[(rule.rule, method)] = declaration.auth

    assert Auth.ADD_IN == auth[("/api/v1/emails", "POST")] == auth[("/api/v1/records", "POST")]
    assert Auth.ADD_IN == auth[("/api/v1/appointments/<activityId>/regarding", "PUT")]
    assert Auth.ADD_IN == auth[("/api/v1/emails/<activityId>", "DELETE")]
    assert Auth.USER == auth[("/api/v1/me", "GET")] == auth[("/api/v1/regarding", "GET")]
    assert Auth.NONE == auth[("/api/v1/openapi.json", "GET")]


def test_the_result_is_dumped_with_the_declared_schema_and_status() -> None:
    """A view returns its result: the response schema dumps it (dropping what it does not declare) under the declared
    status, `(result, status)` picks another declared success status, and None answers the status without a body."""
    app = create_app()
    kind = Param("kind", "path", "kind", lambda raw: raw)

    @declare("Make a note", Auth.NONE, status=201, also=(200,), response=NoteSchema(), params=(kind,))
    def make(kind: str) -> Any:
        result = {"text": "hi", "internal": "not for the client"}
        return {"created": result, "again": (result, 200), "empty": None}[kind]

    app.add_url_rule("/api/v1/test-make/<kind>", view_func=make)
    client = app.test_client()

    created, again, empty = (client.get(f"/api/v1/test-make/{k}") for k in ("created", "again", "empty"))

    assert (201, {"text": "hi"}) == (created.status_code, created.get_json())
    assert (200, {"text": "hi"}) == (again.status_code, again.get_json())
    assert (201, b"") == (empty.status_code, empty.get_data())
