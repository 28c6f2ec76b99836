"""The token checks that need no key (auth/claims.py) and the issued-to rule of an OBO answer (auth/issued_to.py).

https://learn.microsoft.com/en-us/entra/identity-platform/claims-validation
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from addin_api.auth.claims import MAX_TOKEN_BYTES, authorized_caller, bearer, check_numeric_dates
from addin_api.auth.issued_to import not_issued_to
from addin_api.auth.tokens import Principal
from addin_api.errors import ApiError, ClientAppNotAllowed, InsufficientScope, InvalidToken, TenantNotAllowed

TID = "11111111-1111-1111-1111-111111111111"
OID = "22222222-2222-2222-2222-222222222222"
OTHER = "44444444-4444-4444-4444-444444444444"
AZP = "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e"
SHAPED = "aaa.bbb.ccc"


def segment(claims: dict[str, Any]) -> str:
    """A base64url JSON segment without padding."""
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


def user_claims(**overrides: Any) -> dict[str, Any]:
    """Verified claims of a delegated v2.0 token for the add-in, with overrides (None removes a claim)."""
    claims = {"ver": "2.0", "tid": TID, "oid": OID, "sub": "pairwise-sub", "scp": "access_as_user", "azp": AZP}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic abc", "Bearer", "Bearer not-a-jwt", "Bearer  aaa.bbb.ccc", "Bearer a.b"]
)
def test_only_a_bearer_jwt_is_taken(authorization: str | None) -> None:
    """A missing header, another scheme or a value not shaped like a signed JWT is a 401."""
    with pytest.raises(InvalidToken):
        bearer(authorization)


def test_the_scheme_is_case_insensitive_and_size_is_bounded() -> None:
    """`bearer x.y.z` is read (RFC 7235 §2.1); a token over 16 KiB is refused before anything else."""
    assert SHAPED == bearer(f"bearer {SHAPED}")
    with pytest.raises(InvalidToken):
        bearer("Bearer " + "a" * MAX_TOKEN_BYTES + ".b.c")


@pytest.mark.parametrize("claims", [{"exp": "1700000000"}, {"nbf": True}, {"iat": None}, {"exp": float("nan")}])
def test_numeric_dates_must_be_finite_json_numbers(claims: dict[str, Any]) -> None:
    """RFC 7519 §2: a NumericDate is a JSON number; PyJWT would coerce a string or a boolean."""
    with pytest.raises(InvalidToken):
        check_numeric_dates(claims, TID)
    check_numeric_dates({"exp": 1700000000.5, "nbf": 1, "iat": 2}, TID)


def test_a_delegated_token_names_its_caller() -> None:
    """The verified claims give the caller's object id and the client app in lower case."""
    caller = authorized_caller(user_claims(azp=AZP.upper()), TID, tenants={TID}, client_apps={AZP})

    assert (OID, AZP) == caller


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ver": "1.0"}, InvalidToken),
        ({"oid": "not-a-guid"}, InvalidToken),
        ({"tid": OTHER}, TenantNotAllowed),
        ({"idtyp": "app"}, InsufficientScope),
        ({"scp": None, "roles": ["Data.Read"]}, InsufficientScope),
        ({"sub": OID}, InsufficientScope),
        ({"scp": "User.Read"}, InsufficientScope),
        ({"azp": OTHER}, ClientAppNotAllowed),
    ],
)
def test_each_authorization_rule_refuses_with_its_own_error(
    overrides: dict[str, Any], expected: type[ApiError]
) -> None:
    """Checks 6-10 of tokens.py's docstring, each with the status it answers."""
    with pytest.raises(expected):
        authorized_caller(user_claims(**overrides), TID, tenants={TID}, client_apps={AZP})


def test_a_tenant_not_onboarded_is_refused() -> None:
    """A valid token from a tenant we do not serve is 403 tenant_not_allowed."""
    with pytest.raises(TenantNotAllowed):
        authorized_caller(user_claims(), TID, tenants={OTHER}, client_apps={AZP})


CALLER = Principal(TID, OID, AZP, None, None, assertion="bootstrap")


@pytest.mark.parametrize(
    ("token", "result", "expected"),
    [
        ("opaque", {"client_info": segment({"uid": OID, "utid": TID})}, None),
        ("opaque", {"id_token_claims": {"tid": TID, "oid": OID}}, None),
        (f"h.{segment({'tid': TID, 'oid': OID})}.s", {}, None),
        ("opaque", {}, "nothing"),
        ("opaque", {"client_info": segment({"uid": OTHER, "utid": TID})}, "client_info"),
        ("opaque", {"id_token_claims": {"tid": TID, "oid": OTHER}}, "id_token"),
        (
            f"h.{segment({'tid': TID, 'oid': OTHER})}.s",
            {"client_info": segment({"uid": OID, "utid": TID})},
            "access_token",
        ),
        ("opaque", {"client_info": "%%% not base64 %%%"}, "nothing"),
    ],
)
def test_an_answer_must_name_the_caller_and_nobody_else(
    token: str, result: dict[str, Any], expected: str | None
) -> None:
    """At least one of id token, client_info and readable access token names the caller; none names anyone else."""
    assert expected == not_issued_to(CALLER, token, result)
