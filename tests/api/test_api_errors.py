"""Every status and code of docs/api.md, provoked for real against the devstack, and the problem+json shape."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from conftest import ALICE, Api
from cryptography.hazmat.primitives.asymmetric import rsa

from addin_api.devstack import seed

BOB, CAROL, DAVE, ERIN, MALLORY = (
    "bob@contoso.example",
    "carol@contoso.example",
    "dave@contoso.example",
    "erin@contoso.example",
    "mallory@fabrikam-tenant.example",
)


def email(message_id: str = "<errors-1@example.org>", **overrides: Any) -> dict[str, Any]:
    """A minimal valid track request."""
    body: dict[str, Any] = {
        "internetMessageId": message_id,
        "subject": "Hello",
        "from": {"address": seed.DANA_EMAIL},
        "to": [{"address": ALICE}],
        "sentAt": "2026-11-20T09:30:00Z",
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with this status and code, carrying the request id."""
    body: dict[str, Any] = response.get_json()
    assert (status, code) == (response.status_code, body["code"]), body
    assert "application/problem+json" == response.mimetype
    assert response.headers["X-Request-ID"] == body["requestId"]
    assert {"type", "title", "status", "detail", "code", "requestId"} <= body.keys()
    return body


def forged_token(api: Api) -> str:
    """A token with every right claim, signed by a key the identity provider never published."""
    claims = jwt.decode(api.devstack.token(ALICE), options={"verify_signature": False})
    kid = jwt.get_unverified_header(api.devstack.token(ALICE))["kid"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_missing_token_is_401_with_www_authenticate(api: Api) -> None:
    """No Authorization header: 401 invalid_token and a Bearer challenge."""
    response = api.get("/api/v1/me", user=None)
    assert_problem(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_forged_token_is_401_and_reaches_nothing(api: Api) -> None:
    """A forged signature is refused before any identity or Dataverse call."""
    api.get("/api/v1/me").get_json()
    api.devstack.clear_log()
    assert_problem(api.get("/api/v1/me", user=None, token=forged_token(api)), 401, "invalid_token")
    assert [] == api.devstack.requests_log()


def test_expired_token_is_token_expired(api: Api) -> None:
    """A token expired beyond the 60 s leeway answers token_expired."""
    now = int(time.time())
    token = api.devstack.token(ALICE, exp=now - 120, iat=now - 3720, nbf=now - 3720)
    assert_problem(api.get("/api/v1/me", user=None, token=token), 401, "token_expired")


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"scp": "Files.Read"}, "insufficient_scope"),
        ({"azp": "11111111-2222-4333-8444-555555555555"}, "client_app_not_allowed"),
    ],
)
def test_valid_token_with_wrong_scope_or_app_is_403(api: Api, claims: dict[str, str], code: str) -> None:
    """A genuine token for the wrong scope or from an unknown client app is 403."""
    token = api.devstack.token(ALICE, **claims)
    assert_problem(api.get("/api/v1/me", user=None, token=token), 403, code)


def test_tenant_not_allowed(api: Api) -> None:
    """A user of a tenant that is not onboarded gets tenant_not_allowed."""
    assert_problem(api.get("/api/v1/me", MALLORY), 403, "tenant_not_allowed")


def test_mfa_user_gets_claims_challenge(api: Api) -> None:
    """Entra's step-up requirement reaches the client as 401 claims_challenge with the claims to pass on."""
    response = api.get("/api/v1/me", DAVE)
    body = assert_problem(response, 401, "claims_challenge")
    assert body["claims"]
    assert 'error="insufficient_claims"' in response.headers["WWW-Authenticate"]


def test_mfa_user_with_satisfied_challenge_gets_through(api: Api) -> None:
    """After the client signs in again with MFA, the same user is served."""
    token = api.devstack.token(DAVE, amr=["pwd", "mfa"])
    assert 200 == api.get("/api/v1/me", user=None, token=token).status_code


def test_user_without_consent(api: Api) -> None:
    """No consent for Dataverse access: 403 consent_required."""
    assert_problem(api.get("/api/v1/me", ERIN), 403, "consent_required")


def test_user_without_office_apps_privilege_can_read_but_not_write(api: Api) -> None:
    """Without prvUseOfficeApps, `me` says so and every write is add_in_not_allowed."""
    me = api.get("/api/v1/me", BOB).get_json()
    assert (False, False) == (me["canUseAddIn"], me["features"]["track"])
    assert_problem(api.post("/api/v1/emails", email(), BOB), 403, "add_in_not_allowed")
    assert_problem(
        api.post("/api/v1/records", {"table": "account", "fields": {"name": "X"}}, BOB), 403, "add_in_not_allowed"
    )
    status = api.get("/api/v1/emails", BOB, query_string={"internetMessageId": seed.TRACKED_EMAIL_MESSAGE_ID})
    assert 200 == status.status_code


def test_a_malformed_write_is_422_before_the_add_in_check(api: Api) -> None:
    """The add-in privilege is looked up only for a well-formed request: Bob's bad id, body or field is a 422."""
    bad_field = {"table": "account", "fields": {"name": "X", "secret": 1}}

    assert_problem(api.post("/api/v1/emails", email(subject=None), BOB), 422, "validation_failed")
    assert_problem(api.post("/api/v1/records", bad_field, BOB), 422, "validation_failed")
    assert_problem(api.put("/api/v1/emails/not-a-guid/regarding", {}, BOB), 422, "validation_failed")
    assert_problem(api.delete("/api/v1/emails/not-a-guid", BOB), 422, "validation_failed")


def test_read_only_user_gets_dataverse_forbidden(api: Api) -> None:
    """Dataverse refuses a read-only user's create: 403 dataverse_forbidden, nothing written."""
    assert_problem(api.post("/api/v1/emails", email(), CAROL), 403, "dataverse_forbidden")
    status = api.get("/api/v1/emails", CAROL, query_string={"internetMessageId": "<errors-1@example.org>"})
    assert {"tracked": False} == status.get_json()


def test_throttled_dataverse_is_429_with_retry_after(api: Api) -> None:
    """Service protection with a long Retry-After is passed through, and the user is not hammered."""
    api.get("/api/v1/me").get_json()
    api.devstack.fault(target="dataverse", path=r"\$batch", status=429, retryAfter=120, count=1)
    response = api.get("/api/v1/regarding", query_string={"search": "Fab"})
    assert_problem(response, 429, "throttled")
    assert "120" == response.headers["Retry-After"]
    api.devstack.clear_log()
    second = api.get("/api/v1/regarding", query_string={"search": "Fab"})
    assert 429 == second.status_code
    assert [] == api.dataverse_trips()


def test_dataverse_down_is_503(api: Api) -> None:
    """Dataverse answering 503 (after bounded retries) is dataverse_unavailable with Retry-After."""
    api.get("/api/v1/me").get_json()
    api.devstack.fault(target="dataverse", path=r"\$batch", status=503)
    response = api.get("/api/v1/regarding", query_string={"search": "Fab"})
    assert_problem(response, 503, "dataverse_unavailable")
    assert "Retry-After" in response.headers


def test_an_environment_that_keeps_failing_is_left_alone_for_a_while(api: Api) -> None:
    """After five 503s in a row the service stops calling that environment: 503 at once, Retry-After up to 30 s."""
    api.get("/api/v1/me").get_json()
    api.devstack.fault(target="dataverse", path=r"\$batch", status=503)
    api.devstack.clear_log()
    for _ in range(2):  # three tries each; the circuit opens on the fifth failure
        assert_problem(api.get("/api/v1/regarding", query_string={"search": "Fab"}), 503, "dataverse_unavailable")
    assert 5 == len(api.dataverse_trips())
    api.devstack.clear_log()
    response = api.get("/api/v1/regarding", query_string={"search": "Fab"}, user=CAROL)
    assert_problem(response, 503, "dataverse_unavailable")
    assert 25 <= int(response.headers["Retry-After"]) <= 30
    assert [] == api.dataverse_trips()


def test_identity_down_is_503(api: Api) -> None:
    """The token endpoint failing is identity_unavailable, never a 401."""
    api.devstack.fault(target="identity", path="oauth2/v2.0/token", status=503)
    assert_problem(api.get("/api/v1/me"), 503, "identity_unavailable")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "x"}, "internetMessageId"),
        (email(unexpected=1), "unexpected"),
        (email(**{"from": {"address": "not an address"}}), "from"),
        (email(regarding={"table": "systemuser", "id": seed.FABRIKAM_ACCOUNT_ID}), "regarding"),
        (email(regarding={"table": "account", "id": "not-a-guid"}), "regarding"),
        (email(internetMessageId="<a\r\nb@example.org>"), "internetMessageId"),
        (email(internetMessageId="<" + "x" * 400 + "@example.org>"), "internetMessageId"),
        (email(attachments=[{"name": "a.txt", "contentBase64": "not base64!"}]), "attachments"),
        (email(attachments=[{"name": "a.txt", "contentBase64": "QUJD="}]), "attachments"),
    ],
)
def test_invalid_track_requests_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    """Schema violations answer 422 validation_failed with the field named, before any Dataverse call."""
    api.devstack.clear_log()
    problem = assert_problem(api.post("/api/v1/emails", body), 422, "validation_failed")
    assert field in problem["errors"]
    assert [] == api.dataverse_trips()


def test_bad_activity_id_is_422(api: Api) -> None:
    """A path id that is not a GUID never reaches Dataverse."""
    assert_problem(api.delete("/api/v1/emails/1%20or%201"), 422, "validation_failed")


def test_unknown_route_and_method_are_problem_json(api: Api) -> None:
    """Routing errors use the same problem+json body."""
    assert_problem(api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(api.call("PATCH", "/api/v1/me"), 405, "method_not_allowed")


def test_request_id_is_echoed(api: Api) -> None:
    """A sane X-Request-ID is echoed; every response has one."""
    response = api.get("/api/v1/me", headers={"X-Request-ID": "pane-123"})
    assert "pane-123" == response.headers["X-Request-ID"]
    assert api.get("/healthz", user=None).headers["X-Request-ID"]


def test_errors_never_echo_tokens_or_addresses(api: Api) -> None:
    """Error bodies carry our own words: no token, no email address, no Dataverse text."""
    token = api.devstack.token(ALICE, scp="nope")
    body = api.get("/api/v1/me", user=None, token=token).get_data(as_text=True)
    assert token not in body
    failed = api.post(
        "/api/v1/emails", email(regarding={"table": "account", "id": "0" * 8 + "-0000-4000-8000-" + "0" * 12})
    )
    assert seed.DANA_EMAIL not in failed.get_data(as_text=True)
