"""Through the HTTP API: one user's identity-provider answer never reaches another user, and token lifetimes are
JSON numbers."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from conftest import ALICE, Api

BOB = "bob@contoso.example"
TOKEN_PATH = "/oauth2/v2.0/token"


def token_calls(api: Api) -> list[tuple[str | None, int]]:
    """(user, status) of each token-endpoint request the devstack served."""
    entries = api.devstack.requests_log("identity")
    return [(e["user"], e["status"]) for e in entries if e["path"].endswith(TOKEN_PATH)]


def problem(response: Any) -> tuple[int, str, str | None, str]:
    """Status, code, Retry-After and content type of an error answer."""
    return (
        response.status_code,
        response.get_json()["code"],
        response.headers.get("Retry-After"),
        response.mimetype,
    )


def test_one_users_429_at_the_token_endpoint_leaves_other_users_working(api: Api) -> None:
    """Alice is throttled by the identity provider (429, Retry-After 30): she gets 503 identity_unavailable with
    Retry-After 30 and is not sent again; Bob's request exchanges his own token and succeeds."""
    api.devstack.fault(target="identity", path=TOKEN_PATH, status=429, retryAfter=30, user=ALICE)

    alice = api.get("/api/v1/me")
    bob = api.get("/api/v1/me", user=BOB)
    alice_again = api.get("/api/v1/me")

    assert (503, "identity_unavailable", "30", "application/problem+json") == problem(alice)
    assert (200, BOB) == (bob.status_code, bob.get_json()["email"])
    assert problem(alice_again)[:2] == (503, "identity_unavailable")
    assert [(ALICE, 429), (BOB, 200)] == token_calls(api)


def test_a_token_issued_to_another_user_is_never_used(api: Api, scanned_logs: io.StringIO) -> None:
    """When the token endpoint answers Alice with Bob's Dataverse token, Alice gets 503 identity_unavailable and
    nothing reaches Dataverse with Bob's token; the refusal is logged (without the token); her next request works
    with her own."""
    bobs_token = api.devstack.token(BOB, audience="dataverse")
    answer = {"token_type": "Bearer", "expires_in": 3600, "access_token": bobs_token}
    api.devstack.fault(target="identity", path=TOKEN_PATH, status=200, body=answer, user=ALICE, count=1)

    refused = api.get("/api/v1/me")
    dataverse_users = {e["user"] for e in api.devstack.requests_log("dataverse")}
    again = api.get("/api/v1/me")

    assert (503, "identity_unavailable", "application/problem+json") == (
        refused.status_code,
        refused.get_json()["code"],
        refused.mimetype,
    )
    assert bobs_token not in refused.get_data(as_text=True)
    assert set() == dataverse_users
    assert (200, ALICE) == (again.status_code, again.get_json()["email"])
    events = [json.loads(line) for line in scanned_logs.getvalue().splitlines() if line.startswith("{")]
    refusals = [e for e in events if e.get("event") == "obo_token_for_another_principal"]
    assert [("access_token", api.devstack.config["tenantId"])] == [(e["named_by"], e["tid"]) for e in refusals]


def test_a_token_whose_exp_is_a_numeric_string_is_refused(api: Api) -> None:
    """A correctly signed bootstrap token whose `exp` is a string of digits is a 401 invalid_token."""
    token = api.devstack.token(ALICE, exp=str(int(time.time()) + 3000))

    response = api.get("/api/v1/me", token=token)

    assert (401, "invalid_token") == (response.status_code, response.get_json()["code"])
    assert [] == token_calls(api)
