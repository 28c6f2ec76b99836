"""The OpenAPI 3 document at `/api/v1/openapi.json`, built from the marshmallow schemas, and a docs page at
`/api/v1/docs` (Swagger UI from the `swagger-ui-bundle` package, served by us: no CDN).

Each route is described once in `OPERATIONS`; a test keeps that table and `app.url_map` in step.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import Schema

from addin_api import schemas
from addin_api.errors import NotFound
from addin_api.schemas import responses
from addin_api.schemas.mailbox import MailboxSchema

EXTENSION = "addin_api.openapi"
API_VERSION = "1.0.0"
JSON = "application/json"
PROBLEM = "application/problem+json"
# Every response carries the request id; errors that ask the client to wait say how long.
REQUEST_ID_HEADER = {
    "X-Request-ID": {"description": "Echoed when sent (1–128 of A-Z a-z 0-9 . _ : -), else generated", "schema": {}}
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}
# The errors any authenticated, Dataverse-backed call can answer.
AUTHENTICATED = (400, 401, 403, 405, 413, 422, 429, 500, 502, 503)
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
ACTIVITY_ID = {
    "name": "activityId",
    "in": "path",
    "required": True,
    "description": "The activity's id (a GUID)",
    "schema": {"type": "string", "format": "uuid"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The `etag` of the tracked view: the change is refused with 409 if the activity changed since",
    "schema": {"type": "string"},
}


@dataclass(frozen=True)
class Operation:
    """One documented route and method."""

    summary: str
    status: int
    response: type[Schema] | None
    errors: tuple[int, ...] = AUTHENTICATED
    tag: str = "tracking"
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    secured: bool = True
    also: tuple[int, ...] = ()  # other success statuses with the same body
    parameters: tuple[dict[str, Any], ...] = ()
    description: str = ""
    other: dict[int, type[Schema]] = field(default_factory=dict)  # non-problem answers besides success


_ACTIVITY = ("emails", "email", "internetMessageId", schemas.EmailStatusArgs, schemas.TrackEmailSchema)
_APPOINTMENT = (
    "appointments",
    "appointment",
    "globalObjectId",
    schemas.AppointmentStatusArgs,
    schemas.TrackAppointmentSchema,
)


def _activity_operations() -> dict[tuple[str, str], Operation]:
    found: dict[tuple[str, str], Operation] = {}
    for plural, singular, key, status_args, track_schema in (_ACTIVITY, _APPOINTMENT):
        base = f"/api/v1/{plural}"
        found[(base, "get")] = Operation(
            f"Tracking status of one {singular} (by {key})", 200, responses.TrackingStatusSchema, query=status_args
        )
        found[(base, "post")] = Operation(
            f"Track an {singular}" if singular[0] in "aeiou" else f"Track a {singular}",
            201,
            responses.TrackedSchema,
            body=track_schema,
            also=(200,),
            errors=(*AUTHENTICATED, 404, 409),
            description="Idempotent: 201 when created, 200 when it was already tracked (by us or server-side sync).",
        )
        found[(f"{base}/{{activityId}}/regarding", "put")] = Operation(
            "Set or change the regarding record",
            200,
            responses.RegardingChangedSchema,
            body=schemas.RegardingSchema,
            errors=(*AUTHENTICATED, 404, 409),
            parameters=(ACTIVITY_ID, IF_MATCH),
        )
        found[(f"{base}/{{activityId}}/regarding", "delete")] = Operation(
            "Clear the regarding record",
            200,
            responses.RegardingChangedSchema,
            errors=(*AUTHENTICATED, 404, 409),
            parameters=(ACTIVITY_ID,),
        )
        found[(f"{base}/{{activityId}}", "delete")] = Operation(
            f"Untrack: delete the {singular} activity in Dataverse",
            204,
            None,
            errors=(*AUTHENTICATED, 404, 409),
            parameters=(ACTIVITY_ID,),
        )
    return found


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/healthz", "get"): Operation(
        "Liveness", 200, responses.HealthSchema, errors=(405, 500), tag="operations", secured=False
    ),
    ("/readyz", "get"): Operation(
        "Readiness: settings valid, signing keys and identity metadata loadable",
        200,
        responses.ReadinessSchema,
        errors=(405, 500),
        tag="operations",
        secured=False,
        other={503: responses.ReadinessSchema},
    ),
    ("/api/v1/me", "get"): Operation(
        "The caller in Dataverse and whether they may use the add-in", 200, responses.MeSchema, tag="people"
    ),
    ("/api/v1/mailbox", "get"): Operation(
        "The caller's mailbox synchronization and why tracking is impossible (one Dataverse round trip)",
        200,
        MailboxSchema,
        tag="people",
    ),
    **_activity_operations(),
    ("/api/v1/regarding", "get"): Operation(
        "Regarding candidates across tables, or an account's open opportunities and cases (one $batch)",
        200,
        responses.SearchResultsSchema,
        query=schemas.SearchArgs,
        errors=(*AUTHENTICATED, 404),
        tag="records",
    ),
    ("/api/v1/records", "post"): Operation(
        "Create a contact, lead, account, opportunity or case as the caller",
        201,
        responses.CreatedRecordSchema,
        body=schemas.CreateRecordSchema,
        errors=(*AUTHENTICATED, 404, 409),
        tag="records",
    ),
    ("/api/v1/people", "get"): Operation(
        "The sender card: records with this address and recent activities",
        200,
        responses.PeopleSchema,
        query=schemas.PeopleArgs,
        tag="people",
    ),
    ("/api/v1/openapi.json", "get"): Operation(
        "This document", 200, None, errors=(405, 500), tag="documentation", secured=False
    ),
    ("/api/v1/docs", "get"): Operation(
        "The API documentation page", 200, None, errors=(405, 500), tag="documentation", secured=False
    ),
    ("/api/v1/docs/assets/{asset}", "get"): Operation(
        "The documentation page's scripts, styles and icons",
        200,
        None,
        errors=(404, 405, 500),
        tag="documentation",
        secured=False,
        parameters=({"name": "asset", "in": "path", "required": True, "schema": {"type": "string"}},),
    ),
}
_RAW_CONTENT = {
    "/api/v1/openapi.json": {JSON: {"schema": {"type": "object"}}},
    "/api/v1/docs": {"text/html": {"schema": {"type": "string"}}},
    "/api/v1/docs/assets/{asset}": {
        kind: {"schema": {"type": "string"}}
        for kind in ("text/css", "text/javascript", "application/javascript", "image/png")
    },
}


def _problem_schema_name(status: int) -> str:
    return f"Problem{status}"


def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route in `OPERATIONS`."""
    spec = APISpec(
        title="addin-api",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "The backend of an Outlook add-in that tracks emails and appointments into Microsoft Dataverse as "
                "the signed-in user. Errors are application/problem+json with a stable `code`."
            )
        },
    )
    spec.components.security_scheme(
        "bearer",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The Office SSO / NAA token for this add-in (audience: its client id, scope access_as_user)",
        },
    )
    spec.components.schema("Problem", schema=responses.ProblemSchema)
    for status, codes in responses.CODES_BY_STATUS.items():
        spec.components.schema(
            _problem_schema_name(status),
            {
                "allOf": [
                    {"$ref": "#/components/schemas/Problem"},
                    {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
                ]
            },
        )
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation in OPERATIONS.items():
        # Schema classes are resolved (and registered as components) by the marshmallow plugin.
        success_content: dict[str, Any] | None
        if operation.response is not None:
            success_content = {JSON: {"schema": operation.response}}
        else:
            success_content = _RAW_CONTENT.get(path)
        success: dict[str, Any] = {"description": "Success", "headers": REQUEST_ID_HEADER}
        if success_content is not None:
            success["content"] = success_content
        documented: dict[str, Any] = {str(operation.status): success}
        for status in operation.also:
            documented[str(status)] = {**success, "description": "Success (already done)"}
        for status, schema in operation.other.items():
            documented[str(status)] = {
                "description": "Not ready",
                "content": {JSON: {"schema": schema}},
                "headers": {**REQUEST_ID_HEADER, **RETRY_AFTER_HEADER},
            }
        for status in sorted({*operation.errors, *((401,) if operation.secured else ())}):
            headers = dict(REQUEST_ID_HEADER)
            if status in (429, 503):
                headers.update(RETRY_AFTER_HEADER)
            if status == 401:
                headers["WWW-Authenticate"] = {"description": "Bearer error=…", "schema": {"type": "string"}}
            codes = responses.CODES_BY_STATUS[status]
            documented[str(status)] = {
                "description": "Error: " + ", ".join(f"`{c}`" for c in codes),
                "headers": headers,
                "content": {PROBLEM: {"schema": {"$ref": f"#/components/schemas/{_problem_schema_name(status)}"}}},
            }
        document: dict[str, Any] = {
            "summary": operation.summary,
            "operationId": _operation_id(path, method),
            "tags": [operation.tag],
            "responses": documented,
        }
        if operation.description:
            document["description"] = operation.description
        parameters: list[dict[str, Any]] = list(operation.parameters)
        if operation.query is not None:
            parameters.append({"in": "query", "schema": operation.query})
        if parameters:
            document["parameters"] = parameters
        if operation.body is not None:
            document["requestBody"] = {"required": True, "content": {JSON: {"schema": operation.body}}}
        document["security"] = [{"bearer": []}] if operation.secured else []
        paths.setdefault(path, {})[method] = document
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    spec.tag({"name": "tracking", "description": "Track, set regarding, untrack emails and appointments"})
    spec.tag({"name": "records", "description": "Search and create Dataverse records"})
    spec.tag({"name": "people", "description": "The caller and the sender card"})
    spec.tag({"name": "operations", "description": "Health and readiness"})
    spec.tag({"name": "documentation", "description": "This document and its page"})
    built: dict[str, Any] = spec.to_dict()
    return built


def _operation_id(path: str, method: str) -> str:
    words = [w.strip("{}") for w in path.removeprefix("/api/v1").split("/") if w]
    return method + "".join(w[:1].upper() + w[1:].replace(".", "_").replace("-", "_") for w in words)


bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document (built once per app)."""
    document = current_app.extensions.get(EXTENSION)
    if document is None:
        document = build_spec()
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
def docs() -> Response:
    """The documentation page."""
    response = Response(DOCS_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/assets/<path:asset>")
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
