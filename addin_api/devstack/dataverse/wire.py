"""The Web API's request and response values, free of Flask, and the helpers that shape an answer."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from addin_api.devstack.dataverse.errors import DataverseError, payload_error
from addin_api.devstack.dataverse.schema import Table

JSON_TYPE = "application/json; odata.metadata=minimal"
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass
class ApiRequest:
    """A Web API request relative to the service root (`path` has no leading slash)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


@dataclass
class ApiResponse:
    """What the Web API answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def entity_id(self) -> str | None:
        """The `OData-EntityId` header, if any."""
        return self.headers.get("OData-EntityId")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    """A JSON answer with the OData headers Dataverse sends."""
    out = {"Content-Type": JSON_TYPE, "OData-Version": "4.0"}
    out.update(headers or {})
    return ApiResponse(status, out, json.dumps(body).encode())


def error_response(error: DataverseError) -> ApiResponse:
    """The `{"error": {"code", "message"}}` answer of a failed request."""
    return json_response(error.status, {"error": {"code": error.code, "message": error.message}})


def no_resource(url: str) -> DataverseError:
    """The 404 of a URL (or method) that matches no Web API resource, worded as ASP.NET Web API words it."""
    return DataverseError(404, "", f"No HTTP resource was found that matches the request URI '{url}'.")


def parse_prefer(value: str | None) -> dict[str, str]:
    """Split a Prefer header into preferences (commas inside quotes kept)."""
    if not value:
        return {}
    return dict(_prefer(value))


@functools.lru_cache(maxsize=256)
def _prefer(value: str) -> tuple[tuple[str, str], ...]:
    # Clients send the same few Prefer headers on every request; splitting one is a loop over its characters.
    prefs: dict[str, str] = {}
    current: list[str] = []
    quoted = False
    items: list[str] = []
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    for item in items:
        name, _, val = item.strip().partition("=")
        if name:
            prefs[name.strip().lower()] = val.strip()
    return tuple(prefs.items())


def entity_path(table: Table, record_id: str) -> str:
    """`accounts(<id>)`."""
    return f"{table.entity_set}({record_id})"


def request_body(table: Table, req: ApiRequest) -> Any:
    """The JSON a request sends (null when empty); bad JSON is Dataverse's payload error."""
    try:
        return json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise payload_error(table, f"Invalid JSON. {exc}") from exc


def method_not_allowed(method: str) -> DataverseError:
    """The 405 of a method a resource does not take."""
    return DataverseError(405, "0x80060888", f"The HTTP method '{method}' is not allowed here.")
