"""What every v1 view shares: parsing with a schema, the caller's Dataverse client and their `me` info."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from addin_api.auth.decorators import current_principal
from addin_api.dataverse.client import DataverseClient
from addin_api.errors import ValidationFailed
from addin_api.services.me import MeInfo, current_me
from addin_api.wiring import collaborators

READ_SLICE = 256 * 1024


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
    """The request's JSON object, or None when the body is not a JSON object.

    Parsed without keeping the raw bytes or their decoded text alive next to the result (`get_json` caches the
    bytes for the whole request): a tracked email with a 25 MB attachment holds its base64 text once, not thrice.
    """
    if not request.is_json:
        return None
    raw = _read_body()
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        return None
    del raw
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _read_body() -> bytes | bytearray:
    """The request body, read in slices into one buffer of its declared length (no joined copy)."""
    stream = request.stream  # raises 413 before we allocate when the declared length is over the limit
    length = request.content_length
    if length is None:
        return request.get_data(cache=False)
    body = bytearray(length)
    with memoryview(body) as view:
        filled = 0
        while filled < length:
            got = stream.readinto(view[filled : filled + READ_SLICE])  # type: ignore[attr-defined]
            if not got:
                break
            filled += got
    del body[filled:]
    return body


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
