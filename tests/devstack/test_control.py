"""The devstack control surface over HTTPS: config, token minting, request log, faults and latency, reset."""

from __future__ import annotations

import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import requests

from addin_api.devstack.request_log import RequestLog

if TYPE_CHECKING:
    from conftest import Devstack

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def discovery_url(devstack: Devstack) -> str:
    """The demo tenant's v2 discovery document (an identity request with no side effects)."""
    return f"{devstack.url}/{devstack.config['tenantId']}/v2.0/.well-known/openid-configuration"


def token_url(devstack: Devstack) -> str:
    """The demo tenant's v2 token endpoint."""
    return f"{devstack.url}/{devstack.config['tenantId']}/oauth2/v2.0/token"


def mint(devstack: Devstack, body: dict[str, Any]) -> requests.Response:
    """POST to the token-minting control endpoint."""
    return devstack.http.post(f"{devstack.url}/_devstack/token", json=body, timeout=10)


def verify(devstack: Devstack, token: str, audience: str, issuer: str) -> dict[str, Any]:
    """Verify a minted token against the devstack's published JWKS."""
    context = ssl.create_default_context(cafile=devstack.ca_file)
    client = jwt.PyJWKClient(f"{devstack.url}/{devstack.config['tenantId']}/discovery/v2.0/keys", ssl_context=context)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)
    return claims


def obo(devstack: Devstack, user: str) -> requests.Response:
    """Run an OBO exchange for a user straight against the token endpoint."""
    config = devstack.config
    form = {
        "grant_type": JWT_BEARER,
        "requested_token_use": "on_behalf_of",
        "assertion": devstack.token(user),
        "scope": f"{config['environmentUrl']}/user_impersonation",
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
    }
    return devstack.http.post(token_url(devstack), data=form, timeout=10)


def timed_get(devstack: Devstack, url: str) -> tuple[int, float]:
    """GET a URL on a fresh session (safe across threads); return (status, seconds elapsed)."""
    with requests.Session() as session:
        session.verify = devstack.ca_file
        session.trust_env = False
        started = time.monotonic()
        status = session.get(url, timeout=10).status_code
        return status, time.monotonic() - started


def test_config_describes_app_environment_ca_and_users(devstack: Devstack) -> None:
    """Describe the demo app, the MSAL authority, the environment, the CA file and the scenario users."""
    config = devstack.http.get(f"{devstack.url}/_devstack/config", timeout=10).json()

    assert {"tenantId", "clientId", "clientSecret", "authority", "environmentUrl", "caFile", "users"} <= set(config)
    assert (f"{devstack.url}/{config['tenantId']}", devstack.url, True) == (
        config["authority"],
        config["environmentUrl"],
        Path(config["caFile"]).is_file(),
    )
    assert {
        "full_rights",
        "no_office_apps_privilege",
        "read_only",
        "mfa_claims_challenge",
        "no_consent",
        "tenant_not_allowed",
        "mailbox_admin",
    } == {u["scenario"] for u in config["users"]}
    assert all({"upn", "oid", "tenantId", "scenario"} <= set(u) for u in config["users"])


def test_minted_bootstrap_token_applies_claim_overrides_and_null_removes(devstack: Devstack) -> None:
    """Mint a signed bootstrap token where `claims` override or add claims and a null removes one."""
    config = devstack.config

    response = mint(devstack, {"user": ALICE, "claims": {"scp": "Other.Scope", "azp": None, "xtra": "1"}})

    body = response.json()
    claims = verify(devstack, body["access_token"], config["clientId"], f"{devstack.url}/{config['tenantId']}/v2.0")
    assert (200, "Bearer", True) == (response.status_code, body["token_type"], 3500 < body["expires_in"] <= 3600)
    assert ("Other.Scope", False, "1", ALICE) == (
        claims["scp"],
        "azp" in claims,
        claims["xtra"],
        claims["preferred_username"],
    )


def test_minted_dataverse_token_has_the_environment_audience(devstack: Devstack) -> None:
    """Mint a v1 Dataverse token when asked for audience "dataverse"."""
    config = devstack.config

    response = mint(devstack, {"user": ALICE, "audience": "dataverse"})

    claims = verify(
        devstack,
        response.json()["access_token"],
        config["environmentUrl"],
        f"https://sts.windows.net/{config['tenantId']}/",
    )
    assert ("user_impersonation", "1.0", ALICE) == (claims["scp"], claims["ver"], claims["upn"])


@pytest.mark.parametrize(
    "body",
    [
        {"user": "nobody@contoso.example"},
        {"user": ALICE, "audience": "sharepoint"},
        {"user": ALICE, "claims": ["not", "an", "object"]},
    ],
)
def test_minting_rejects_unknown_users_and_bad_requests(devstack: Devstack, body: dict[str, Any]) -> None:
    """Answer 400 for an unknown user, an unknown audience or non-object claims."""
    response = mint(devstack, body)

    assert 400 == response.status_code


def test_request_log_lists_identity_requests_with_the_user_and_clears(devstack: Devstack) -> None:
    """Log identity requests in order with who they were for, leave control calls out, and clear on DELETE."""
    devstack.http.get(discovery_url(devstack), timeout=10)
    obo(devstack, ALICE)

    logged = [(e["kind"], e["method"], e["path"], e["status"], e["user"]) for e in devstack.requests_log()]
    devstack.clear_log()

    tenant = devstack.config["tenantId"]
    assert [
        ("identity", "GET", f"/{tenant}/v2.0/.well-known/openid-configuration", 200, None),
        ("identity", "POST", f"/{tenant}/oauth2/v2.0/token", 200, ALICE),
    ] == logged
    assert [] == devstack.requests_log()


def test_identity_429_fault_answers_an_entra_error_with_retry_after(devstack: Devstack) -> None:
    """Answer a matching identity request with the injected 429, an Entra error body and Retry-After."""
    devstack.fault(target="identity", path="/oauth2/v2.0/token$", status=429, retryAfter=7)

    response = obo(devstack, ALICE)

    body = response.json()
    assert (429, "7") == (response.status_code, response.headers["Retry-After"])
    assert {"error", "error_description", "error_codes", "trace_id", "correlation_id"} <= set(body)
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
    assert [(429, "POST")] == [(e["status"], e["method"]) for e in devstack.requests_log("identity")]


def test_fault_count_limits_how_often_it_applies(devstack: Devstack) -> None:
    """Apply a counted fault to that many matching requests, then serve normally."""
    devstack.fault(target="identity", path="openid-configuration", status=503, count=2)

    statuses = [devstack.http.get(discovery_url(devstack), timeout=10).status_code for _ in range(3)]

    assert [503, 503, 200] == statuses


def test_fault_method_restricts_which_requests_it_hits(devstack: Devstack) -> None:
    """Leave requests with another method alone when a fault names a method."""
    devstack.fault(target="identity", method="POST", path=".*", status=500)

    assert (200, 500) == (
        devstack.http.get(discovery_url(devstack), timeout=10).status_code,
        obo(devstack, ALICE).status_code,
    )


def test_delay_adds_latency(devstack: Devstack) -> None:
    """Delay a matching request by at least delayMs and still serve it."""
    devstack.fault(target="identity", path="openid-configuration", delayMs=300)

    status, elapsed = timed_get(devstack, discovery_url(devstack))

    assert (200, True) == (status, elapsed >= 0.3)


def test_concurrent_delayed_requests_overlap(devstack: Devstack) -> None:
    """Serve delayed requests in parallel: five 300 ms delays finish well under 5 x 300 ms."""
    devstack.fault(target="identity", path="openid-configuration", delayMs=300)
    url = discovery_url(devstack)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: timed_get(devstack, url), range(5)))
    elapsed = time.monotonic() - started

    assert [200] * 5 == [status for status, _ in results]
    assert all(seconds >= 0.3 for _, seconds in results)
    assert elapsed < 1.0, elapsed


def test_dataverse_fault_answers_a_dataverse_throttling_error(devstack: Devstack) -> None:
    """Answer a matching Web API request with Dataverse's 429 body (0x80072322) and Retry-After, before routing."""
    devstack.fault(target="dataverse", path="/api/data/v9.2/", status=429, retryAfter=3)

    response = devstack.http.get(f"{devstack.api}no_such_table?$top=1", timeout=10)

    body = response.json()
    assert (429, "3", "0x80072322") == (response.status_code, response.headers["Retry-After"], body["error"]["code"])
    assert "message" in body["error"]
    assert [("dataverse", 429)] == [(e["kind"], e["status"]) for e in devstack.requests_log()]


def test_dataverse_faults_leave_identity_requests_alone(devstack: Devstack) -> None:
    """Scope a fault to its target: a Dataverse fault does not touch the identity provider."""
    devstack.fault(target="dataverse", path=".*", status=503)

    assert 200 == devstack.http.get(discovery_url(devstack), timeout=10).status_code


def test_identity_fault_for_one_user_leaves_other_users_alone(devstack: Devstack) -> None:
    """A fault naming a user hits only token requests whose assertion is that user's, and the log says whose."""
    devstack.fault(target="identity", path="/oauth2/v2.0/token$", status=429, retryAfter=7, user=ALICE.upper())

    statuses = [obo(devstack, user).status_code for user in (ALICE, BOB, ALICE)]

    assert [429, 200, 429] == statuses
    assert [(ALICE, 429), (BOB, 200), (ALICE, 429)] == [(e["user"], e["status"]) for e in devstack.requests_log()]


def test_dataverse_fault_for_one_user_leaves_other_users_alone(devstack: Devstack) -> None:
    """A Dataverse fault naming a user hits only requests carrying that user's token."""
    devstack.fault(target="dataverse", path="WhoAmI", status=503, user=ALICE)

    statuses = [
        devstack.http.get(
            f"{devstack.api}WhoAmI",
            headers={"Authorization": f"Bearer {devstack.token(user, audience='dataverse')}"},
            timeout=10,
        ).status_code
        for user in (ALICE, BOB)
    ]

    assert [503, 200] == statuses


def test_fault_body_answers_that_json_with_its_status(devstack: Devstack) -> None:
    """A fault with `body` answers it (200 unless `status` says otherwise), with Retry-After when given."""
    answer = {"token_type": "Bearer", "access_token": devstack.token(BOB, audience="dataverse"), "expires_in": 3600}
    devstack.fault(target="identity", path="/oauth2/v2.0/token$", body=answer, retryAfter=5, user=ALICE, count=1)

    injected, real = obo(devstack, ALICE), obo(devstack, ALICE)

    assert (200, answer, "5") == (injected.status_code, injected.json(), injected.headers["Retry-After"])
    assert ALICE == jwt.decode(real.json()["access_token"], options={"verify_signature": False})["upn"]


def test_invalid_fault_is_rejected(devstack: Devstack) -> None:
    """Answer 400 for a fault with an unknown target, an invalid path regex, a non-string user or a non-object body."""
    url = f"{devstack.url}/_devstack/faults"

    statuses = [
        devstack.http.post(url, json={"target": "mail", "status": 500}, timeout=10).status_code,
        devstack.http.post(url, json={"target": "identity", "path": "(", "status": 500}, timeout=10).status_code,
        devstack.http.post(url, json={"target": "identity", "user": 7, "status": 500}, timeout=10).status_code,
        devstack.http.post(url, json={"target": "identity", "body": [1]}, timeout=10).status_code,
    ]

    assert [400, 400, 400, 400] == statuses


def test_delete_faults_clears_them(devstack: Devstack) -> None:
    """Serve normally again once faults are deleted."""
    devstack.fault(target="identity", path=".*", status=500)
    before = devstack.http.get(discovery_url(devstack), timeout=10).status_code

    cleared = devstack.http.delete(f"{devstack.url}/_devstack/faults", timeout=10).status_code

    assert (500, 204, 200) == (before, cleared, devstack.http.get(discovery_url(devstack), timeout=10).status_code)


def test_reset_clears_the_log_and_the_faults(devstack: Devstack) -> None:
    """Forget logged requests and injected faults on reset."""
    devstack.fault(target="identity", path=".*", status=500)
    devstack.http.get(discovery_url(devstack), timeout=10)

    devstack.reset()

    assert [] == devstack.requests_log()
    assert 200 == devstack.http.get(discovery_url(devstack), timeout=10).status_code


def test_request_log_keeps_the_newest_entries_up_to_its_capacity() -> None:
    """A long-running devstack forgets its oldest requests instead of growing without bound; order is kept."""
    log = RequestLog(capacity=3)
    for n in range(5):
        log.append({"kind": "dataverse", "path": f"/{n}"})
    assert ["/2", "/3", "/4"] == [e["path"] for e in log.entries()]
    log.clear()
    assert [] == log.entries()
