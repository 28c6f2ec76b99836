"""`declare`: what a route takes and answers, stated once on the view; the OpenAPI document is built from it.

Our own decorator rather than flask-smorest's `arguments`/`response`: smorest parses bodies with webargs, whose
error handling answers 422 in its own shape, while every error here is problem+json with a stable `code` and the
body is read by our bounded reader (`api.common.json_body`: size, item count, depth and Unicode checked before a
schema runs). apispec and its MarshmallowPlugin turn these declarations into the document (`addin_api.openapi`).

Checks run in one order for every route: the bearer token, then the path and header parameters in the order
declared, the query or body (422), the add-in privilege (a Dataverse round trip, so only for a well-formed request),
and only then the view.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Response, jsonify, request
from marshmallow import Schema

from addin_api.api.common import dataverse, json_body, me, parse, query_args
from addin_api.api.principal import require_user

DECLARATION = "declaration"  # the attribute of a declared view that holds its Declaration
# The errors any authenticated, Dataverse-backed call can answer.
AUTHENTICATED = (400, 401, 403, 405, 413, 422, 429, 500, 502, 503)
# The errors of a public route that reads no body and calls nothing.
PUBLIC = (405, 500)
# What a write can answer besides: the record is gone (404) or changed since (409).
WRITE = (*AUTHENTICATED, 404, 409)


class Auth(enum.Enum):
    """Who may call a route."""

    NONE = "none"  # public: health, documentation
    USER = "user"  # a valid add-in token
    ADD_IN = "add_in"  # a valid token and the add-in privilege (prvUseOfficeApps) in Dataverse


@dataclass(frozen=True)
class Param:
    """A path or header parameter: its OpenAPI description and the parser that turns the raw text into the value
    the view receives as `arg` (a parser raises ValidationFailed for a 422)."""

    name: str
    location: str  # "path" or "header"
    arg: str
    parse: Callable[[str | None], Any]
    description: str = ""
    required: bool = True
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})

    def document(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        found = {"name": self.name, "in": self.location, "required": self.required, "schema": dict(self.schema)}
        if self.description:
            found["description"] = self.description
        return found


@dataclass(frozen=True)
class Declaration:
    """One route's contract: auth, parameters, query or body, success answers and the errors it can answer."""

    summary: str
    auth: Auth
    status: int = 200
    response: Schema | None = None
    body: Schema | None = None
    body_limit: int | None = None  # bytes, below the app-wide MAX_CONTENT_LENGTH; None keeps that limit
    body_check: Callable[[Any], None] | None = None  # a service's check of the loaded body that answers 422
    query: Schema | None = None
    params: tuple[Param, ...] = ()
    also: tuple[int, ...] = ()  # other success statuses with the same body (200 when already tracked)
    errors: tuple[int, ...] = AUTHENTICATED
    tag: str = "tracking"
    description: str = ""
    other: Mapping[int, Schema] = field(default_factory=dict)  # non-problem answers besides success (a 503 readiness)
    content: Mapping[str, Any] | None = None  # the success content of a route that answers no schema (HTML, assets)

    @property
    def secured(self) -> bool:
        """True when the route needs a bearer token."""
        return self.auth is not Auth.NONE

    def error_statuses(self) -> list[int]:
        """Every error status the route can answer, 401 included when it needs a token."""
        return sorted({*self.errors, *((401,) if self.secured else ())})


View = Callable[..., Any]


def declare(summary: str, auth: Auth, **contract: Any) -> Callable[[View], View]:
    """Declare a view's contract (see Declaration), enforce it before the view runs and dump what the view returns.

    The view receives each Param's value under its `arg`, the loaded query as `args` and the loaded body as `body`.
    It returns its result (dumped with `response`, answered with `status`), `(result, status)` for a status of
    `also`, None for a route without a body (`status` alone, e.g. 204), or a finished Response.
    """
    declaration = Declaration(summary, auth, **contract)

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(**path: Any) -> Response:
            return _answer(declaration, view(**_inputs(declaration, path)))

        wrapper = checked if auth is Auth.NONE else require_user(checked)
        setattr(wrapper, DECLARATION, declaration)
        return wrapper

    return decorate


def _inputs(declaration: Declaration, path: Mapping[str, Any]) -> dict[str, Any]:
    """The view's arguments, checked in the declared order; the add-in privilege last."""
    values: dict[str, Any] = {}
    for param in declaration.params:
        raw = path.get(param.name) if param.location == "path" else request.headers.get(param.name)
        values[param.arg] = param.parse(raw)
    if declaration.query is not None:
        values["args"] = parse(declaration.query, query_args())
    if declaration.body is not None:
        values["body"] = parse(declaration.body, json_body(declaration.body_limit))
        if declaration.body_check is not None:
            declaration.body_check(values["body"])
    if declaration.auth is Auth.ADD_IN:
        dv, _ = dataverse()
        me(dv).require_add_in()
    return values


def _answer(declaration: Declaration, returned: Any) -> Response:
    """The view's result as the declared answer."""
    if isinstance(returned, Response):
        return returned
    result, status = returned if isinstance(returned, tuple) else (returned, declaration.status)
    assert status in (declaration.status, *declaration.also), f"{status} is not declared"
    if result is None:
        return Response(status=status)
    assert declaration.response is not None, "a view that returns a result declares its response schema"
    response = jsonify(declaration.response.dump(result))
    response.status_code = status
    return response


def declaration_of(view: Callable[..., Any]) -> Declaration | None:
    """The Declaration of a view, or None for a route that is not part of the documented API."""
    found = getattr(view, DECLARATION, None)
    return found if isinstance(found, Declaration) else None
