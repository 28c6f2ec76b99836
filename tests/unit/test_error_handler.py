"""Every HTTP error werkzeug can raise answers problem+json with its own status and a stable `code`: no HTML page,
no traceback, nothing from the request."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException, default_exceptions

from addin_api import create_app
from addin_api.api import HTTP_CODES
from addin_api.schemas.responses import CODES_BY_STATUS

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "requestId"}
SECRET = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-token"


def raising_app() -> Flask:
    """The real app with one extra route that raises the werkzeug error for the status in its path."""
    app = create_app()

    def fail(status: int) -> None:
        raise default_exceptions[status]()

    app.add_url_rule("/api/v1/test-raise/<int:status>", view_func=fail, methods=["GET", "POST"])
    return app


@pytest.mark.parametrize("status", sorted(default_exceptions), ids=str)
def test_every_werkzeug_error_is_problem_json_with_a_stable_code(status: int) -> None:
    """The answer carries the error's status, the code we document for it, and only the problem fields."""
    error: type[HTTPException] = default_exceptions[status]
    client = raising_app().test_client()

    response = client.post(
        f"/api/v1/test-raise/{status}?q=private@contoso.example",
        headers={"Authorization": SECRET, "Accept": "text/html"},
        json={"note": "private@contoso.example"},
    )
    body = response.get_json()
    text = response.get_data(as_text=True)

    assert (status, "application/problem+json") == (response.status_code, response.mimetype)
    assert PROBLEM_FIELDS == set(body)
    assert (status, error().name, HTTP_CODES.get(status, "http_error")) == (body["status"], body["title"], body["code"])
    assert body["code"] == body["type"].rsplit("/", 1)[1]
    assert response.headers["X-Request-ID"] == body["requestId"]
    assert "<" not in text and "Traceback" not in text, text
    assert "secret-token" not in text and "contoso" not in text, text


def test_codes_werkzeug_raises_itself_are_documented() -> None:
    """Each code the handler gives a werkzeug error is among the codes the OpenAPI document lists for its status."""
    for status, code in HTTP_CODES.items():
        assert code in CODES_BY_STATUS[status], status


def test_an_unexpected_exception_is_a_500_problem_without_its_message() -> None:
    """A bug in a view answers 500 internal_error; the exception's text stays in the log."""
    app = create_app()

    def broken() -> None:
        raise RuntimeError("password=hunter2")

    app.add_url_rule("/api/v1/test-broken", view_func=broken)
    response = app.test_client().get("/api/v1/test-broken")

    assert (500, "internal_error", "application/problem+json") == (
        response.status_code,
        response.get_json()["code"],
        response.mimetype,
    )
    assert "hunter2" not in response.get_data(as_text=True)
