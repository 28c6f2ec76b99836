"""The OpenAPI 3 document at `/api/v1/openapi.json`, built from the routes' declarations, and a docs page at
`/api/v1/docs` (Swagger UI from the `swagger-ui-bundle` package, served by us: no CDN).

There is no table of routes here: the document walks `app.url_map` and reads each view's `@declare` contract
(addin_api/api/declare.py); apispec's MarshmallowPlugin turns its schemas into components. apispec's FlaskPlugin
(apispec-webframeworks) reads YAML from docstrings instead, so the rule-to-path conversion is ours (`openapi_path`).
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from werkzeug.routing import Rule

from addin_api.api.declare import PUBLIC, Auth, Declaration, Param, declaration_of, declare
from addin_api.errors import NotFound
from addin_api.schemas import responses

EXTENSION = "addin_api.openapi"
API_VERSION = "1.0.0"
JSON = "application/json"
PROBLEM = "application/problem+json"
DESCRIPTION = (
    "The backend of an Outlook add-in that tracks emails and appointments into Microsoft Dataverse as "
    "the signed-in user. Errors are application/problem+json with a stable `code`."
)
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The Office SSO / NAA token for this add-in (audience: its client id, scope access_as_user)",
}
TAGS = (
    ("tracking", "Track, set regarding, untrack emails and appointments"),
    ("records", "Search and create Dataverse records"),
    ("people", "The caller and the sender card"),
    ("operations", "Health and readiness"),
    ("documentation", "This document and its page"),
)
# Every response carries the request id; errors that ask the client to wait say how long.
REQUEST_ID_HEADER = {
    "X-Request-ID": {"description": "Echoed when sent (1–128 of A-Z a-z 0-9 . _ : -), else generated", "schema": {}}
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}
WWW_AUTHENTICATE_HEADER = {"WWW-Authenticate": {"description": "Bearer error=…", "schema": {"type": "string"}}}
# A Flask rule variable (`<activityId>`, `<path:asset>`) and its OpenAPI template (`{activityId}`, `{asset}`).
RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path template."""
    return RULE_VARIABLE.sub(r"{\1}", rule)


def documented_methods(rule: Rule) -> list[str]:
    """The methods a rule documents: Flask adds HEAD and OPTIONS to every rule by itself."""
    return sorted(m.lower() for m in (rule.methods or set()) - {"HEAD", "OPTIONS"})


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every declared route of `app`."""
    spec = APISpec(
        title="addin-api",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    spec.components.security_scheme("bearer", BEARER)
    spec.components.schema("Problem", schema=responses.ProblemSchema)
    for status, codes in responses.CODES_BY_STATUS.items():
        spec.components.schema(_problem_schema_name(status), _problem_schema(codes))
    for path, operations in _paths(app).items():
        spec.path(path=path, operations=operations)
    for name, description in TAGS:
        spec.tag({"name": name, "description": description})
    built: dict[str, Any] = spec.to_dict()
    return built


def _paths(app: Flask) -> dict[str, dict[str, Any]]:
    """Each declared rule's OpenAPI path and its operations, in the order the rules were registered."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        declaration = declaration_of(app.view_functions[rule.endpoint])
        if declaration is None:
            continue
        path = openapi_path(rule.rule)
        for method in documented_methods(rule):
            paths.setdefault(path, {})[method] = _operation(path, method, declaration)
    return paths


def _operation(path: str, method: str, declaration: Declaration) -> dict[str, Any]:
    """One operation object; the marshmallow plugin resolves (and registers) its schemas."""
    document: dict[str, Any] = {
        "summary": declaration.summary,
        "operationId": _operation_id(path, method),
        "tags": [declaration.tag],
        "responses": {**_successes(declaration), **_errors(declaration)},
    }
    if declaration.description:
        document["description"] = declaration.description
    parameters: list[dict[str, Any]] = [param.document() for param in declaration.params]
    if declaration.query is not None:
        parameters.append({"in": "query", "schema": declaration.query})
    if parameters:
        document["parameters"] = parameters
    if declaration.body is not None:
        document["requestBody"] = {"required": True, "content": {JSON: {"schema": declaration.body}}}
    document["security"] = [{"bearer": []}] if declaration.secured else []
    return document


def _successes(declaration: Declaration) -> dict[str, Any]:
    """The success answers: the declared status, the others with the same body, and non-problem answers."""
    success: dict[str, Any] = {"description": "Success", "headers": REQUEST_ID_HEADER}
    if declaration.response is not None:
        success["content"] = {JSON: {"schema": declaration.response}}
    elif declaration.content is not None:
        success["content"] = dict(declaration.content)
    found: dict[str, Any] = {str(declaration.status): success}
    for status in declaration.also:
        found[str(status)] = {**success, "description": "Success (already done)"}
    for status, schema in declaration.other.items():
        found[str(status)] = {
            "description": "Not ready",
            "content": {JSON: {"schema": schema}},
            "headers": {**REQUEST_ID_HEADER, **RETRY_AFTER_HEADER},
        }
    return found


def _errors(declaration: Declaration) -> dict[str, Any]:
    """The problem+json answers, each listing the stable codes of its status."""
    found: dict[str, Any] = {}
    for status in declaration.error_statuses():
        headers = dict(REQUEST_ID_HEADER)
        if status in (429, 503):
            headers.update(RETRY_AFTER_HEADER)
        if status == 401:
            headers.update(WWW_AUTHENTICATE_HEADER)
        codes = responses.CODES_BY_STATUS[status]
        found[str(status)] = {
            "description": "Error: " + ", ".join(f"`{c}`" for c in codes),
            "headers": headers,
            "content": {PROBLEM: {"schema": {"$ref": f"#/components/schemas/{_problem_schema_name(status)}"}}},
        }
    return found


def _problem_schema_name(status: int) -> str:
    return f"Problem{status}"


def _problem_schema(codes: list[str]) -> dict[str, Any]:
    """A problem whose `code` is one of `codes`."""
    return {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
        ]
    }


def _operation_id(path: str, method: str) -> str:
    words = [w.strip("{}") for w in path.removeprefix("/api/v1").split("/") if w]
    return method + "".join(w[:1].upper() + w[1:].replace(".", "_").replace("-", "_") for w in words)


bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


def _asset_name(raw: str | None) -> str:
    """The `{asset}` path segment as given (unknown names answer 404)."""
    return raw or ""


ASSET = Param("asset", "path", "asset", _asset_name)


@bp.get("/openapi.json")
@declare("This document", Auth.NONE, errors=PUBLIC, tag="documentation", content={JSON: {"schema": {"type": "object"}}})
def openapi_json() -> Response:
    """The OpenAPI document (built once per app)."""
    document = current_app.extensions.get(EXTENSION)
    if document is None:
        document = build_spec(current_app)
        current_app.extensions[EXTENSION] = document
    response = jsonify(document)
    response.headers["Cache-Control"] = "no-cache"
    return response


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>addin-api — API documentation</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="docs/assets/docs.js"></script>
</body>
</html>
"""
# Our initializer (the bundle's points at the petstore): the document next to the page, no external validator.
DOCS_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", window.location.href).toString(),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
});
"""


@bp.get("/docs")
@declare(
    "The API documentation page",
    Auth.NONE,
    errors=PUBLIC,
    tag="documentation",
    content={"text/html": {"schema": {"type": "string"}}},
)
def docs() -> Response:
    """The documentation page."""
    response = Response(DOCS_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/assets/<path:asset>")
@declare(
    "The documentation page's scripts, styles and icons",
    Auth.NONE,
    params=(ASSET,),
    errors=(404, *PUBLIC),
    tag="documentation",
    content={
        kind: {"schema": {"type": "string"}}
        for kind in ("text/css", "text/javascript", "application/javascript", "image/png")
    },
)
def docs_asset(asset: str) -> Response:
    """Swagger UI's files from the installed package, and our initializer."""
    if asset == "docs.js":
        response = Response(DOCS_SCRIPT, mimetype="text/javascript")
    elif asset in DOCS_ASSETS:
        from swagger_ui_bundle import swagger_ui_path

        # Read whole (a few files, at most ~1 MB, fetched once per browser): no open file outlives the request.
        content = (Path(swagger_ui_path) / asset).read_bytes()
        kind = "text/javascript" if asset.endswith(".js") else mimetypes.guess_type(asset)[0]
        response = Response(content, mimetype=kind or "application/octet-stream")
    else:
        raise NotFound()
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def init_app(app: Flask) -> None:
    """Serve the document and the docs page."""
    app.register_blueprint(bp)
