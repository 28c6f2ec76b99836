"""Whether the identity provider's answer names the caller, and nobody else (the rule of obo.py's docstring)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from addin_api.auth.tokens import Principal


def not_issued_to(principal: Principal, token: str, result: Mapping[str, Any]) -> str | None:
    """None when the answer names the caller (tenant and object id) and nobody else (module docstring); else which
    part of the answer names someone else ("id_token", "client_info", "access_token"), or "nothing"."""
    named: list[tuple[str, object, object]] = []
    id_claims = result.get("id_token_claims")
    if isinstance(id_claims, dict):
        named.append(("id_token", id_claims.get("tid"), id_claims.get("oid")))
    client_info = _json_segment(result.get("client_info"))
    if client_info is not None:
        named.append(("client_info", client_info.get("utid"), client_info.get("uid")))
    access = _json_segment(token.split(".")[1]) if token.count(".") == 2 else None  # a JWS; a JWE has five parts
    if access is not None and ("tid" in access or "oid" in access):
        named.append(("access_token", access.get("tid"), access.get("oid")))
    if not named:
        return "nothing"
    expected = (principal.tenant_id, principal.object_id)
    for source, tid, oid in named:
        if not (isinstance(tid, str) and isinstance(oid, str) and (tid.lower(), oid.lower()) == expected):
            return source
    return None


def _json_segment(segment: object) -> dict[str, Any] | None:
    """A base64url-encoded JSON object (a JWT payload, MSAL's client_info), or None when it is not one."""
    if not isinstance(segment, str) or not segment:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and JSONDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None
