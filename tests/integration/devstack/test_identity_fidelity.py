"""Where the dev identity provider answers as Entra does for clients never written for it: `.default` in `scope`,
refresh tokens that survive use, and the v1 token endpoint that v1 discovery advertises."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msal
from test_identity import ALICE, dataverse_scope, error_of, msal_app, obo_form, post_token, unverified, verify

if TYPE_CHECKING:
    from conftest import Devstack


def default_scope(devstack: Devstack) -> str:
    """`<environment>/.default`, what the Dataverse SDKs and most samples ask for."""
    return f"{devstack.config['environmentUrl']}/.default"


def v1_token_endpoint(devstack: Devstack) -> str:
    """The token endpoint the tenant's v1 discovery document names."""
    tenant = devstack.config["tenantId"]
    document = devstack.http.get(f"{devstack.url}/{tenant}/.well-known/openid-configuration", timeout=10).json()
    return str(document["token_endpoint"])


def test_msal_asking_for_dot_default_serves_the_next_request_from_its_cache(devstack: Devstack) -> None:
    """Answer `.default` with `.default` in `scope`, so MSAL's silent call for `.default` needs no identity call."""
    app = msal_app(devstack)
    scopes = [default_scope(devstack)]
    first = app.acquire_token_on_behalf_of(devstack.token(ALICE), scopes=scopes)
    devstack.clear_log()

    cached = app.acquire_token_silent(scopes, account=app.get_accounts()[0])

    assert set(first["scope"].split()) == {dataverse_scope(devstack), default_scope(devstack)}
    assert cached is not None and first["access_token"] == cached["access_token"]
    assert [] == devstack.requests_log("identity")


def test_a_refresh_token_shared_by_two_msal_caches_serves_both(devstack: Devstack) -> None:
    """Two MSAL apps holding one serialized cache both refresh with its refresh token, one after the other."""

    def app_with(cache: msal.SerializableTokenCache) -> msal.ConfidentialClientApplication:
        http_client = msal_app(devstack).http_client
        return msal.ConfidentialClientApplication(
            devstack.config["clientId"],
            client_credential=devstack.config["clientSecret"],
            authority=devstack.config["authority"],
            instance_discovery=False,
            http_client=http_client,
            token_cache=cache,
        )

    scopes = [dataverse_scope(devstack)]
    first_cache = msal.SerializableTokenCache()
    first_app = app_with(first_cache)
    first_app.acquire_token_on_behalf_of(devstack.token(ALICE), scopes=scopes)
    shared = msal.SerializableTokenCache()
    shared.deserialize(first_cache.serialize())
    second_app = app_with(shared)

    one = first_app.acquire_token_silent(scopes, account=first_app.get_accounts()[0], force_refresh=True)
    two = second_app.acquire_token_silent(scopes, account=second_app.get_accounts()[0], force_refresh=True)

    assert one is not None and "access_token" in one, one
    assert two is not None and "access_token" in two, two
    assert ALICE == unverified(two["access_token"])["upn"]


def test_v1_endpoint_client_credentials_with_resource_answers_in_v1_shape(devstack: Devstack) -> None:
    """Issue an app-only token at the v1 endpoint for `resource=`: string numbers, `expires_on`, `resource`."""
    config = devstack.config
    form = {
        "grant_type": "client_credentials",
        "resource": config["environmentUrl"] + "/",
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
    }

    response = devstack.http.post(v1_token_endpoint(devstack), data=form, timeout=10)

    body = response.json()
    assert 200 == response.status_code, body
    assert (config["environmentUrl"] + "/", "3600") == (body["resource"], body["expires_in"])
    assert abs(int(body["expires_on"]) - (time.time() + 3600)) < 60
    claims = verify(
        devstack, body["access_token"], config["environmentUrl"], f"https://sts.windows.net/{config['tenantId']}/"
    )
    assert ("app", config["clientId"]) == (claims["idtyp"], claims["appid"])


def test_v1_endpoint_obo_and_refresh_with_resource(devstack: Devstack) -> None:
    """OBO at the v1 endpoint grants `user_impersonation` with a refresh token, which redeems there too."""
    config = devstack.config
    form = obo_form(devstack, devstack.token(ALICE))
    form.pop("scope")
    form["resource"] = config["environmentUrl"]

    obo = devstack.http.post(v1_token_endpoint(devstack), data=form, timeout=10)
    refresh_form = {
        "grant_type": "refresh_token",
        "refresh_token": obo.json()["refresh_token"],
        "resource": config["environmentUrl"],
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
    }
    refreshed = devstack.http.post(v1_token_endpoint(devstack), data=refresh_form, timeout=10)

    assert (200, "user_impersonation") == (obo.status_code, obo.json()["scope"])
    assert (200, ALICE) == (refreshed.status_code, unverified(refreshed.json()["access_token"])["upn"])
    assert config["environmentUrl"] == unverified(refreshed.json()["access_token"])["aud"]


def test_v1_endpoint_refuses_another_resource_and_a_missing_one(devstack: Devstack) -> None:
    """Answer AADSTS500011 for a resource the tenant does not have, and 900144 when `resource` is missing."""
    config = devstack.config
    form = {
        "grant_type": "client_credentials",
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
    }

    other = devstack.http.post(
        v1_token_endpoint(devstack), data=dict(form, resource="https://graph.windows.net"), timeout=10
    )
    missing = devstack.http.post(v1_token_endpoint(devstack), data=form, timeout=10)

    assert (400, ("invalid_resource", 500011)) == (other.status_code, error_of(other.json()))
    assert (400, ("invalid_request", 900144)) == (missing.status_code, error_of(missing.json()))


def test_v2_client_credentials_refresh_is_unchanged_by_v1(devstack: Devstack) -> None:
    """Keep the v2 endpoint's numbers as numbers (v1's strings are for the v1 endpoint only)."""
    form = obo_form(devstack, devstack.token(ALICE))

    status, body = post_token(devstack, form)

    assert (200, int, False) == (status, type(body["expires_in"]), "resource" in body)
