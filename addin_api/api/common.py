"""What every v1 view shares: parsing with a schema, the caller's Dataverse client and their `me` info."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from addin_api.auth.decorators import current_principal
from addin_api.dataverse.client import DataverseClient
from addin_api.errors import ValidationFailed
from addin_api.services.me import MeInfo, current_me
from addin_api.wiring import collaborators


def parse(schema: Schema, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Load `data` with `schema` or raise 422 naming each field."""
    if data is None:
        raise ValidationFailed({"body": ["must be a JSON object"]})
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        raise ValidationFailed(messages) from exc
    return loaded


def json_body() -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not a JSON object."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def query_args() -> dict[str, str]:
    """The query string as a plain dict (a repeated parameter is an error)."""
    args: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) != 1:
            raise ValidationFailed({key: ["must be given once"]})
        args[key] = values[0]
    return args


def dataverse() -> tuple[DataverseClient, str]:
    """A Dataverse client acting as the caller, and their environment URL."""
    principal = current_principal()
    wired = collaborators()
    return wired.dataverse(principal), wired.environment_url(principal)


def me(dv: DataverseClient) -> MeInfo:
    """The caller's Dataverse identity and add-in privilege (cached per user)."""
    principal = current_principal()
    wired = collaborators()
    key = (principal.tenant_id, principal.object_id, wired.environment_url(principal))
    return current_me(dv, wired.me_cache, key)
