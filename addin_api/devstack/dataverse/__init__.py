"""Emulated Dataverse Web API v9.2 at `/api/data/v9.2/` (and v9.0, v9.1): bearer auth, service protection, records
and `$batch`.

Module map, from the leaves up:
- tables: `schema` (column and table shapes), `business_tables` and `activity_tables` and `mail_tables` (the tables),
  `metadata` (all of them, indexed);
- definitions: `definition_json` (EntityDefinitions JSON), `definition_query` (querying it), `csdl` (`$metadata`),
  `definitions` (the service document and the definition routes' answers);
- storage and rows: `store` (SQLite), `keys` (key segments, alternate keys), `rows` (system and computed columns),
  `values` (body values against column types), `throttle` (service-protection accounting), `errors`;
- queries: `filter_parser` and `filter_eval` ($filter), `functions` (query functions in $filter), `query` ($select,
  $orderby, $expand), `fetch_model`, `fetch_operators`, `fetchxml` and `fetch_run` (`?fetchXml=`);
- operations: `records` (create/update/delete rules), `mail_rows` (rows mailbox synchronization keeps in step),
  `mail_security`, `mail_messages` (`SendEmail`), `impersonation`, `actions` (bulk actions and functions);
- the Web API: `wire` (request and response values), `serialize` (JSON + annotations), `reads`, `writes`,
  `references` (`$ref`), `calls` (functions and actions), `api` (routing), `batch` (multipart); this module
  registers the routes.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from addin_api.devstack.config import DevUser
from addin_api.devstack.dataverse import mail_rows
from addin_api.devstack.dataverse.api import Api
from addin_api.devstack.dataverse.batch import execute_batch
from addin_api.devstack.dataverse.errors import DataverseError
from addin_api.devstack.dataverse.impersonation import CALLER_OBJECT_ID, MSCRM_CALLER_ID, Acting, resolve
from addin_api.devstack.dataverse.records import AfterWrite, Operations
from addin_api.devstack.dataverse.store import index_key
from addin_api.devstack.dataverse.wire import ApiRequest, ApiResponse, error_response, no_resource
from addin_api.devstack.errors import dataverse_error
from addin_api.devstack.identity import NotAMember, TokenRejected, verify_dataverse_token
from addin_api.devstack.seed_ids import BUSINESS_UNIT_ID, ORGANIZATION_ID
from addin_api.devstack.state import DevstackState, current_state

API_PREFIX = "/api/data/v9.2/"
# v9.0 and v9.1 are served alongside v9.2 and behave the same: "there have been no breaking changes added to v9.0,
# v9.1, or v9.2 releases": https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-versions
API_PREFIXES = ("/api/data/v9.2/", "/api/data/v9.1/", "/api/data/v9.0/")
bp = Blueprint("devstack_dataverse", __name__, url_prefix="/api/data/v9.2")
# What the platform does after each write besides the write itself (records.Operations.after_write).
PLATFORM_RULES: tuple[AfterWrite, ...] = (mail_rows.after_write,)


def _prefix() -> str | None:
    """The Web API root the request addresses (`/api/data/v9.x/`), or None."""
    return next((p for p in API_PREFIXES if request.path.startswith(p)), None)


def _unauthorized(state: DevstackState) -> Response:
    """401 with an empty body and the challenge Dataverse sends.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/authenticate-oauth#use-the-accesstoken-with-your-requests
    """
    response = Response(status=401)
    authority = state.authority(state.config.tenant_id)
    response.headers["WWW-Authenticate"] = (
        f"Bearer authorization_uri={authority}/oauth2/authorize, resource_id={state.environment_url}/"
    )
    return response


def _admit() -> Response | None:
    """Verify the bearer token and admit the request under the caller's service-protection limits.

    Runs before fault injection so injected latency counts as execution time and concurrency, as a slow server
    would; a missing or bad token is answered later (`_require_caller`), after injected faults.
    """
    if _prefix() is None:
        return None
    state = current_state()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        user = verify_dataverse_token(state, token.strip())
    except NotAMember:
        # An app-only token of an app with no application user in the environment.
        # https://learn.microsoft.com/en-us/power-platform/admin/manage-application-users
        g.dataverse_not_member = True
        return None
    except TokenRejected:
        return None
    g.devstack_user = user.upn
    systemusers = state.dataverse.find("systemuser", [("azureactivedirectoryobjectid", index_key(user.oid) or "")])
    if not any(r.get("azureactivedirectoryobjectid") == user.oid for r in systemusers):
        g.dataverse_not_member = True
        return None
    refused = state.dataverse.usage.begin(user.oid, state.limits)
    if refused is not None:
        return dataverse_error(429, refused.code, refused.message, refused.retry_after)
    g.dataverse_user = user
    g.dataverse_started = time.monotonic()
    return None


def _require_caller() -> Response | None:
    """Refuse Web API requests without a valid bearer token (401) or from someone who is no systemuser (403).

    An admitted caller may impersonate another user (`impersonation.resolve`), refused with Dataverse's error.
    """
    if _prefix() is None:
        return None
    caller: DevUser | None = g.get("dataverse_user")
    if caller is not None:
        try:
            g.dataverse_acting = resolve(current_state().config, caller, _impersonation_headers())
        except DataverseError as error:
            return dataverse_error(error.status, error.code, error.message)
        return None
    if g.get("dataverse_not_member"):
        return dataverse_error(403, "0x80072560", "The user is not a member of the organization.")
    return _unauthorized(current_state())


def _impersonation_headers() -> dict[str, str]:
    """The request's impersonation headers, by lower-case name (header names are case-insensitive)."""
    return {name: value for name in (CALLER_OBJECT_ID, MSCRM_CALLER_ID) if (value := request.headers.get(name))}


def _release(_exc: BaseException | None) -> None:
    user: DevUser | None = g.get("dataverse_user")
    started: float | None = g.get("dataverse_started")
    if user is not None and started is not None:
        current_state().dataverse.usage.end(user.oid, (time.monotonic() - started) * 1000)


def _api() -> Api:
    state = current_state()
    acting: Acting = g.dataverse_acting
    ops = Operations(
        state.dataverse,
        acting.user,
        f"{state.environment_url}{_prefix() or API_PREFIX}",
        delegate=acting.delegate,
        after_write=PLATFORM_RULES,
    )
    return Api(ops, BUSINESS_UNIT_ID, ORGANIZATION_ID)


def _to_flask(response: ApiResponse) -> Response:
    out = Response(response.body, status=response.status)
    for name, value in response.headers.items():
        out.headers[name] = value
    return out


@bp.post("/$batch")
def batch() -> Response:
    """Run a multipart `$batch`; it is one entry in the request log with its parts listed."""
    try:
        result = execute_batch(
            _api(), request.headers.get("Content-Type", ""), request.get_data(), request.headers.get("Prefer")
        )
    except DataverseError as error:
        return _to_flask(error_response(error))
    g.devstack_parts = result.log
    response = Response(result.body, status=result.status)
    response.headers["Content-Type"] = result.content_type
    response.headers["OData-Version"] = "4.0"
    return response


@bp.route("/", defaults={"path": ""}, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
@bp.route("/<path:path>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def web_api(path: str) -> Response:
    """Answer any other Web API request."""
    req = ApiRequest(
        method=request.method,
        path=path,
        query={k: v for k, v in request.args.items()},
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(),
    )
    return _to_flask(_api().dispatch(req))


def _not_found(error: NotFound) -> Response | NotFound:
    """Under `/api/`, a 404 of the router is Dataverse's JSON error, never an HTML page.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#parse-errors-from-the-response
    """
    if not request.path.startswith("/api/"):
        return error
    segment = request.path.rstrip("/").rsplit("/", 1)[-1]
    return dataverse_error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def _unmatched(error: HTTPException) -> Response | HTTPException:
    """Answer a Web API URL or method no route matches with Dataverse's JSON error, never an HTML page."""
    if _prefix() is None:
        return error
    return _to_flask(error_response(no_resource(request.base_url)))


def init_app(app: Flask) -> None:
    """Register the Web API routes under /api/data/v9.2/.

    Service protection runs before the control surface's fault injection (latency counts as execution time and
    concurrency); the 401 for a missing token comes after it, so injected faults answer first.
    """
    app.before_request_funcs.setdefault(None, []).insert(0, _admit)
    app.before_request(_require_caller)
    app.teardown_request(_release)
    app.register_blueprint(bp)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _unmatched)
    for prefix in API_PREFIXES[1:]:
        version = prefix.rstrip("/").rsplit("/", 1)[-1].replace(".", "")
        app.register_blueprint(bp, url_prefix=prefix.rstrip("/"), name=f"devstack_dataverse_{version}")
