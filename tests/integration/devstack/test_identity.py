"""The dev identity provider, driven by real MSAL and PyJWT over HTTPS against a running devstack."""

from __future__ import annotations

import base64
import json
import ssl
import time
from typing import TYPE_CHECKING, Any

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from addin_api.devstack.config import OTHER_TENANT_ID

if TYPE_CHECKING:
    from conftest import Devstack

ALICE = "alice@contoso.example"
DAVE = "dave@contoso.example"
ERIN = "erin@contoso.example"
MALLORY = "mallory@fabrikam-tenant.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def msal_app(devstack: Devstack, secret: str | None = None) -> msal.ConfidentialClientApplication:
    """Build the MSAL confidential client the service uses, pointed at the devstack and trusting its CA."""
    config = devstack.config
    # MSAL's own `verify=` sets Session.verify, which requests overrides with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE
    # when trust_env is on (psf/requests#3829); hand MSAL a session that ignores the environment instead.
    session = requests.Session()
    session.verify = config["caFile"]
    session.trust_env = False
    return msal.ConfidentialClientApplication(
        config["clientId"],
        client_credential=secret or config["clientSecret"],
        authority=config["authority"],
        instance_discovery=False,
        http_client=session,
    )


def dataverse_scope(devstack: Devstack) -> str:
    """The delegated Dataverse scope the service requests."""
    return f"{devstack.config['environmentUrl']}/user_impersonation"


def jwks_client(devstack: Devstack, tenant: str | None = None) -> jwt.PyJWKClient:
    """A PyJWT JWKS client for the devstack's v2 keys, trusting its CA."""
    context = ssl.create_default_context(cafile=devstack.ca_file)
    uri = f"{devstack.url}/{tenant or devstack.config['tenantId']}/discovery/v2.0/keys"
    return jwt.PyJWKClient(uri, ssl_context=context)


def verify(devstack: Devstack, token: str, audience: str, issuer: str) -> dict[str, Any]:
    """Verify a token's signature against the published JWKS and its audience and issuer."""
    key = jwks_client(devstack).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)
    return claims


def token_endpoint(devstack: Devstack, tenant: str | None = None) -> str:
    """The v2 token endpoint of a tenant."""
    return f"{devstack.url}/{tenant or devstack.config['tenantId']}/oauth2/v2.0/token"


def obo_form(devstack: Devstack, assertion: str, scope: str | None = None, **extra: str) -> dict[str, str]:
    """An OBO request body as MSAL sends it."""
    form = {
        "grant_type": JWT_BEARER,
        "requested_token_use": "on_behalf_of",
        "assertion": assertion,
        "scope": scope or f"{dataverse_scope(devstack)} openid profile offline_access",
        "client_id": devstack.config["clientId"],
        "client_secret": devstack.config["clientSecret"],
        "client_info": "1",
    }
    form.update(extra)
    return form


def post_token(devstack: Devstack, form: dict[str, str], tenant: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST a form to the token endpoint; return (status, JSON body)."""
    response = devstack.http.post(token_endpoint(devstack, tenant), data=form, timeout=10)
    return response.status_code, response.json()


def error_of(body: dict[str, Any]) -> tuple[str, int]:
    """The (error, AADSTS code) pair of an Entra error body."""
    return body["error"], body["error_codes"][0]


def unverified(token: str) -> dict[str, Any]:
    """Decode a token's claims without verifying it (to look at what was issued)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_msal_obo_returns_a_dataverse_token_that_verifies_against_the_jwks(devstack: Devstack) -> None:
    """Complete MSAL's OBO for alice and verify both tokens with PyJWT and the published keys."""
    config = devstack.config
    tenant = config["tenantId"]
    assertion = devstack.token(ALICE)

    result = msal_app(devstack).acquire_token_on_behalf_of(assertion, scopes=[dataverse_scope(devstack)])

    assert "access_token" in result, result
    bootstrap = verify(devstack, assertion, config["clientId"], f"{devstack.url}/{tenant}/v2.0")
    dataverse = verify(devstack, result["access_token"], config["environmentUrl"], f"https://sts.windows.net/{tenant}/")
    alice = next(u for u in config["users"] if u["upn"] == ALICE)
    assert ("2.0", "access_as_user") == (bootstrap["ver"], bootstrap["scp"])
    assert (alice["oid"], tenant, "user_impersonation", config["clientId"], "1.0") == (
        dataverse["oid"],
        dataverse["tid"],
        dataverse["scp"],
        dataverse["appid"],
        dataverse["ver"],
    )
    assert ("Bearer", dataverse_scope(devstack)) == (result["token_type"], result["scope"])


def test_obo_success_body_has_entra_fields_and_client_info(devstack: Devstack) -> None:
    """Answer OBO with token_type, scope, expiries, tokens, an id_token for the client and client_info."""
    config = devstack.config
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE)))

    alice = next(u for u in config["users"] if u["upn"] == ALICE)
    padded = body["client_info"] + "=" * (-len(body["client_info"]) % 4)
    id_token = verify(devstack, body["id_token"], config["clientId"], f"{devstack.url}/{config['tenantId']}/v2.0")
    assert 200 == status
    assert {"token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token",
            "client_info"} == set(body)  # fmt: skip
    assert {"uid": alice["oid"], "utid": config["tenantId"]} == json.loads(base64.urlsafe_b64decode(padded))
    assert (ALICE, alice["oid"], config["tenantId"], "Alice Wong") == (
        id_token["preferred_username"],
        id_token["oid"],
        id_token["tid"],
        id_token["name"],
    )


def test_obo_without_openid_or_offline_access_omits_id_and_refresh_tokens(devstack: Devstack) -> None:
    """Leave out id_token and refresh_token when the scope does not ask for them, as Entra does."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), scope=dataverse_scope(devstack)))

    assert 200 == status
    assert ("id_token" in body, "refresh_token" in body) == (False, False)


def test_obo_accepts_dot_default_and_http_basic_client_auth(devstack: Devstack) -> None:
    """Accept `<env>/.default` and client credentials sent with HTTP Basic instead of in the body."""
    form = obo_form(devstack, devstack.token(ALICE), scope=f"{devstack.config['environmentUrl']}/.default")
    client_id, secret = form.pop("client_id"), form.pop("client_secret")

    response = devstack.http.post(token_endpoint(devstack), data=form, auth=(client_id, secret), timeout=10)

    granted = f"{dataverse_scope(devstack)} {devstack.config['environmentUrl']}/.default"
    assert (200, granted) == (response.status_code, response.json()["scope"])


def test_msal_serves_silent_requests_from_its_cache_without_calling_the_token_endpoint(devstack: Devstack) -> None:
    """Let MSAL cache an account from the OBO answer and serve acquire_token_silent with no identity call."""
    app = msal_app(devstack)
    scopes = [dataverse_scope(devstack)]
    first = app.acquire_token_on_behalf_of(devstack.token(ALICE), scopes=scopes)
    accounts = app.get_accounts()
    devstack.clear_log()

    cached = app.acquire_token_silent(scopes, account=accounts[0])

    assert [ALICE] == [a["username"] for a in accounts]
    assert first["access_token"] == cached["access_token"]
    assert [] == devstack.requests_log("identity")


def test_msal_force_refresh_redeems_the_refresh_token(devstack: Devstack) -> None:
    """Refresh through the refresh_token grant when MSAL is told to bypass its access-token cache."""
    app = msal_app(devstack)
    scopes = [dataverse_scope(devstack)]
    first = app.acquire_token_on_behalf_of(devstack.token(ALICE), scopes=scopes)
    devstack.clear_log()

    refreshed = app.acquire_token_silent(scopes, account=app.get_accounts()[0], force_refresh=True)

    log = devstack.requests_log("identity")
    assert "access_token" in refreshed, refreshed
    assert first["access_token"] != refreshed["access_token"]
    assert [("POST", token_endpoint(devstack).removeprefix(devstack.url), 200, ALICE)] == [
        (e["method"], e["path"], e["status"], e["user"]) for e in log
    ]


def test_refresh_tokens_stay_valid_after_use_and_unknown_ones_are_rejected(devstack: Devstack) -> None:
    """Redeem one refresh token twice (Entra does not revoke it on use); reject one never issued (9002313)."""
    _, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE)))
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "scope": f"{dataverse_scope(devstack)} openid profile offline_access",
        "client_id": devstack.config["clientId"],
        "client_secret": devstack.config["clientSecret"],
    }

    first_status, first = post_token(devstack, refresh)
    reused_status, reused = post_token(devstack, refresh)
    unknown_status, unknown = post_token(devstack, dict(refresh, refresh_token="1.AdevRT.never-issued"))

    assert (200, 200) == (first_status, reused_status)
    assert len({body["refresh_token"], first["refresh_token"], reused["refresh_token"]}) == 3
    assert ALICE == unverified(reused["access_token"])["upn"]
    assert (400, ("invalid_grant", 9002313)) == (unknown_status, error_of(unknown))


def test_refresh_with_an_invalid_scope_keeps_the_refresh_token_usable(devstack: Devstack) -> None:
    """Refuse a refresh for a scope never consented (70011) without using up the refresh token."""
    _, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE)))
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "scope": "https://graph.microsoft.com/Files.Read.All offline_access",
        "client_id": devstack.config["clientId"],
        "client_secret": devstack.config["clientSecret"],
    }

    bad_status, bad = post_token(devstack, refresh)
    good_status, _ = post_token(devstack, dict(refresh, scope=f"{dataverse_scope(devstack)} offline_access"))

    assert ((400, ("invalid_scope", 70011)), 200) == ((bad_status, error_of(bad)), good_status)


def test_wrong_client_secret_is_invalid_client_with_401(devstack: Devstack) -> None:
    """Answer a wrong client secret with HTTP 401 invalid_client AADSTS7000215."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), client_secret="wrong"))
    result = msal_app(devstack, secret="wrong").acquire_token_on_behalf_of(
        devstack.token(ALICE), scopes=[dataverse_scope(devstack)]
    )

    assert (401, ("invalid_client", 7000215)) == (status, error_of(body))
    assert ("invalid_client", [7000215]) == (result["error"], result["error_codes"])


def test_entra_error_bodies_carry_trace_and_correlation_ids(devstack: Devstack) -> None:
    """Shape every token error like Entra: error, AADSTS description, codes, timestamp, trace and correlation."""
    _, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), client_secret="wrong"))

    assert {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"} <= set(
        body
    )
    assert body["error_description"].startswith("AADSTS7000215: ")


def test_unknown_client_is_unauthorized_client(devstack: Devstack) -> None:
    """Answer a client id the directory does not know with unauthorized_client AADSTS700016."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), client_id="not-an-app"))

    assert (400, ("unauthorized_client", 700016)) == (status, error_of(body))


def test_forged_assertion_fails_signature_validation(devstack: Devstack) -> None:
    """Reject an assertion signed by a key that is not ours, even when it names one of our kids."""
    genuine = devstack.token(ALICE)
    header = jwt.get_unverified_header(genuine)
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(unverified(genuine), attacker_key, algorithm="RS256", headers={"kid": header["kid"]})

    status, body = post_token(devstack, obo_form(devstack, forged))

    assert (400, ("invalid_grant", 50013)) == (status, error_of(body))
    assert "signature" in body["error_description"]


def test_expired_assertion_is_outside_its_valid_time_range(devstack: Devstack) -> None:
    """Answer an expired assertion with invalid_grant AADSTS500133."""
    now = int(time.time())
    assertion = devstack.token(ALICE, iat=now - 7200, nbf=now - 7200, exp=now - 3600)

    status, body = post_token(devstack, obo_form(devstack, assertion))

    assert (400, ("invalid_grant", 500133)) == (status, error_of(body))
    assert "Assertion is not within its valid time range" in body["error_description"]
    assert [(400, ALICE)] == [(e["status"], e["user"]) for e in devstack.requests_log("identity")]


def test_assertion_for_another_audience_is_rejected(devstack: Devstack) -> None:
    """Reject an assertion whose audience is not the app making the OBO request (AADSTS50013)."""
    assertion = devstack.token(ALICE, aud="api://some-other-app")

    status, body = post_token(devstack, obo_form(devstack, assertion))

    assert (400, ("invalid_grant", 50013)) == (status, error_of(body))
    assert "audience" in body["error_description"]


def test_assertion_from_another_tenant_than_the_endpoint_is_rejected(devstack: Devstack) -> None:
    """Reject an assertion whose tenant differs from the tenant in the token endpoint URL."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE)), tenant=OTHER_TENANT_ID)

    assert (400, ("invalid_grant", 50013)) == (status, error_of(body))


def test_user_of_another_known_tenant_gets_a_token_from_their_tenant(devstack: Devstack) -> None:
    """Issue OBO tokens for a user of another tenant at that tenant's endpoint (the service decides, not Entra)."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(MALLORY)), tenant=OTHER_TENANT_ID)

    assert (200, OTHER_TENANT_ID) == (status, unverified(body["access_token"])["tid"])


@pytest.mark.parametrize(
    "scope",
    [
        "https://graph.microsoft.com/Files.Read.All",
        "{env}/access_as_user",
        "{env}/user_impersonation {env}/.default",
        "openid profile offline_access",
    ],
)
def test_scope_other_than_dataverse_is_invalid_scope(devstack: Devstack, scope: str) -> None:
    """Answer a scope of neither the environment nor a consented Graph permission with AADSTS70011."""
    requested = scope.format(env=devstack.config["environmentUrl"])

    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), scope=requested))

    assert (400, ("invalid_scope", 70011)) == (status, error_of(body))


def test_mfa_user_gets_a_claims_challenge(devstack: Devstack) -> None:
    """Answer the MFA scenario user with interaction_required AADSTS50076 and a claims challenge, no suberror."""
    result = msal_app(devstack).acquire_token_on_behalf_of(devstack.token(DAVE), scopes=[dataverse_scope(devstack)])

    challenge = json.loads(result["claims"])
    assert ("interaction_required", [50076]) == (result["error"], result["error_codes"])
    assert "suberror" not in result
    assert (True, 1) == (
        challenge["access_token"]["capolids"]["essential"],
        len(challenge["access_token"]["capolids"]["values"]),
    )
    assert [("identity", 400, DAVE)] == [
        (e["kind"], e["status"], e["user"]) for e in devstack.requests_log() if e["method"] == "POST"
    ]


def test_mfa_user_whose_assertion_carries_mfa_gets_a_token(devstack: Devstack) -> None:
    """Issue the token once the bootstrap token's amr shows MFA (the client satisfied the challenge)."""
    assertion = devstack.token(DAVE, amr=["pwd", "mfa"])

    result = msal_app(devstack).acquire_token_on_behalf_of(assertion, scopes=[dataverse_scope(devstack)])

    assert "access_token" in result, result
    assert ["pwd", "mfa"] == unverified(result["access_token"])["amr"]


def test_user_without_consent_gets_consent_required(devstack: Devstack) -> None:
    """Answer the no-consent scenario user with invalid_grant AADSTS65001 and suberror consent_required."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ERIN)))

    assert (400, ("invalid_grant", 65001), "consent_required") == (status, error_of(body), body["suberror"])


def test_unsupported_grant_type(devstack: Devstack) -> None:
    """Answer an unknown grant type with unsupported_grant_type AADSTS70003."""
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE), grant_type="urn:example:magic"))

    assert (400, ("unsupported_grant_type", 70003)) == (status, error_of(body))


def test_unknown_tenant_is_invalid_tenant(devstack: Devstack) -> None:
    """Answer a tenant the directory does not know with invalid_tenant AADSTS90002, on discovery and tokens."""
    tenant = "00000000-0000-4000-8000-00000000dead"
    discovery = devstack.http.get(f"{devstack.url}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10)
    status, body = post_token(devstack, obo_form(devstack, devstack.token(ALICE)), tenant=tenant)

    assert (400, ("invalid_tenant", 90002)) == (discovery.status_code, error_of(discovery.json()))
    assert (400, ("invalid_tenant", 90002)) == (status, error_of(body))


def test_msal_client_credentials_gets_an_app_only_dataverse_token(devstack: Devstack) -> None:
    """Issue an app-only Dataverse token (idtyp app, roles, no scp) for the client_credentials grant."""
    config = devstack.config
    tenant = config["tenantId"]

    result = msal_app(devstack).acquire_token_for_client(scopes=[f"{config['environmentUrl']}/.default"])

    assert "access_token" in result, result
    claims = verify(devstack, result["access_token"], config["environmentUrl"], f"https://sts.windows.net/{tenant}/")
    assert ("app", config["clientId"], claims["sub"], False) == (
        claims["idtyp"],
        claims["appid"],
        claims["oid"],
        "scp" in claims,
    )
    assert isinstance(claims["roles"], list)
    assert "refresh_token" not in result


def test_client_credentials_requires_dot_default(devstack: Devstack) -> None:
    """Refuse a client_credentials request for a delegated scope (AADSTS1002012)."""
    form = {
        "grant_type": "client_credentials",
        "scope": dataverse_scope(devstack),
        "client_id": devstack.config["clientId"],
        "client_secret": devstack.config["clientSecret"],
    }

    status, body = post_token(devstack, form)

    assert (400, ("invalid_scope", 1002012)) == (status, error_of(body))


def test_v2_discovery_document_has_entra_shape(devstack: Devstack) -> None:
    """Serve the tenant's v2 discovery document with Entra's fields and the tenant's endpoints."""
    tenant = devstack.config["tenantId"]
    base = f"{devstack.url}/{tenant}"

    response = devstack.http.get(f"{base}/v2.0/.well-known/openid-configuration", timeout=10)

    document = response.json()
    assert (200, "max-age=86400, private") == (response.status_code, response.headers["Cache-Control"])
    assert {
        "issuer": f"{base}/v2.0",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "subject_types_supported": ["pairwise"],
    }.items() <= document.items()
    assert {
        "userinfo_endpoint",
        "response_types_supported",
        "scopes_supported",
        "claims_supported",
        "tenant_region_scope",
        "cloud_instance_name",
    } <= set(document)


@pytest.mark.parametrize("tenant", ["common", "organizations"])
def test_multi_tenant_discovery_templates_the_issuer(devstack: Devstack, tenant: str) -> None:
    """Template the issuer with {tenantid} for the multi-tenant authorities, keeping their endpoints."""
    response = devstack.http.get(f"{devstack.url}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10)

    document = response.json()
    assert (f"{devstack.url}/{{tenantid}}/v2.0", f"{devstack.url}/{tenant}/discovery/v2.0/keys", None) == (
        document["issuer"],
        document["jwks_uri"],
        document["tenant_region_scope"],
    )


def test_v1_discovery_document_names_the_v1_issuer(devstack: Devstack) -> None:
    """Serve the v1 document whose issuer is the one Dataverse tokens carry."""
    tenant = devstack.config["tenantId"]

    document = devstack.http.get(f"{devstack.url}/{tenant}/.well-known/openid-configuration", timeout=10).json()

    assert (f"https://sts.windows.net/{tenant}/", f"{devstack.url}/{tenant}/oauth2/token") == (
        document["issuer"],
        document["token_endpoint"],
    )


def test_jwks_keys_name_their_issuer(devstack: Devstack) -> None:
    """Publish RSA signing keys, each naming the v2 issuer it signs for (templated on common)."""
    tenant = devstack.config["tenantId"]

    response = devstack.http.get(f"{devstack.url}/{tenant}/discovery/v2.0/keys", timeout=10)
    common = devstack.http.get(f"{devstack.url}/common/discovery/v2.0/keys", timeout=10).json()

    keys = response.json()["keys"]
    assert "max-age=86400, private" == response.headers["Cache-Control"]
    assert {("RSA", "sig", f"{devstack.url}/{tenant}/v2.0")} == {(k["kty"], k["use"], k["issuer"]) for k in keys}
    assert all({"kid", "n", "e"} <= set(k) for k in keys)
    assert {f"{devstack.url}/{{tenantid}}/v2.0"} == {k["issuer"] for k in common["keys"]}


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(devstack: Devstack) -> None:
    """Keep the retired key published after rotation, so earlier tokens verify, and sign new tokens with the new kid."""
    config = devstack.config
    issuer = f"{devstack.url}/{config['tenantId']}/v2.0"
    before = devstack.token(ALICE)
    old_kid = jwt.get_unverified_header(before)["kid"]

    rotated = devstack.http.post(f"{devstack.url}/_devstack/keys/rotate", timeout=10).json()["kid"]
    after = devstack.token(ALICE)

    published = {k.key_id for k in jwks_client(devstack).get_jwk_set().keys}
    assert ALICE == verify(devstack, before, config["clientId"], issuer)["preferred_username"]
    assert ALICE == verify(devstack, after, config["clientId"], issuer)["preferred_username"]
    assert (rotated, True) == (jwt.get_unverified_header(after)["kid"], rotated != old_kid)
    assert {old_kid, rotated} <= published
    result = msal_app(devstack).acquire_token_on_behalf_of(before, scopes=[dataverse_scope(devstack)])
    assert rotated == jwt.get_unverified_header(result["access_token"])["kid"]
