"""OBO without a server: MSAL's error dicts, the token cache, and OboProvider against a fake Entra at its port.

The port is the `requests.Session` OboProvider is given (MSAL sends through it): `FakeEntra` answers the OpenID
configuration and the token endpoint as Entra would, and writes down what was asked.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from conftest import ManualClock
from requests.structures import CaseInsensitiveDict

from addin_api.auth.cache import InMemoryTokenCache
from addin_api.auth.msal_errors import map_msal_error
from addin_api.auth.obo import OboProvider
from addin_api.auth.tokens import Principal
from addin_api.errors import (
    AccessBlockedByPolicy,
    ApiError,
    ClaimsChallenge,
    ConfigurationError,
    ConsentRequired,
    IdentityUnavailable,
    InvalidToken,
    TokenExpired,
)
from addin_api.settings import Settings

TID = "11111111-1111-1111-1111-111111111111"
ALICE = "22222222-2222-2222-2222-222222222222"
BOB = "44444444-4444-4444-4444-444444444444"
CLIENT_ID = "33333333-3333-3333-3333-333333333333"
HOST = "https://login.example.test"
ENVIRONMENT = "https://org.example.test"
TOKEN_URL = f"{HOST}/{TID}/oauth2/v2.0/token"


MSAL_ERRORS: list[tuple[str, dict[str, Any], dict[str, Any], type[ApiError]]] = [
    (
        "50076 with claims",
        {"error": "interaction_required", "error_codes": [50076], "claims": '{"access_token":{}}'},
        {},
        ClaimsChallenge,
    ),
    (
        "50079 with claims",
        {"error": "interaction_required", "error_codes": [50079], "claims": '{"access_token":{}}'},
        {},
        ClaimsChallenge,
    ),
    (
        "interaction_required without claims",
        {"error": "interaction_required", "error_codes": [50079]},
        {},
        ClaimsChallenge,
    ),
    ("53003 without claims", {"error": "interaction_required", "error_codes": [53003]}, {}, AccessBlockedByPolicy),
    ("53000 without claims", {"error": "invalid_grant", "error_codes": [53000]}, {}, AccessBlockedByPolicy),
    ("65001", {"error": "invalid_grant", "error_codes": [65001]}, {}, ConsentRequired),
    ("suberror consent_required", {"error": "invalid_grant", "suberror": "consent_required"}, {}, ConsentRequired),
    ("500133", {"error": "invalid_grant", "error_codes": [500133]}, {}, TokenExpired),
    ("50013", {"error": "invalid_grant", "error_codes": [50013]}, {}, InvalidToken),
    ("other invalid_grant", {"error": "invalid_grant", "error_codes": [50034]}, {}, InvalidToken),
    ("70011", {"error": "invalid_scope", "error_codes": [70011]}, {}, ConfigurationError),
    ("invalid_scope", {"error": "invalid_scope"}, {}, ConfigurationError),
    ("650057", {"error": "invalid_request", "error_codes": [650057]}, {}, ConfigurationError),
    ("65005", {"error": "invalid_grant", "error_codes": [65005]}, {}, ConfigurationError),
    ("70002", {"error": "invalid_client", "error_codes": [70002]}, {}, ConfigurationError),
    ("7000215", {"error": "invalid_client", "error_codes": [7000215]}, {}, ConfigurationError),
    ("700016", {"error": "unauthorized_client", "error_codes": [700016]}, {}, ConfigurationError),
    ("temporarily_unavailable", {"error": "temporarily_unavailable", "error_codes": [90024]}, {}, IdentityUnavailable),
    ("429", {"error": "invalid_request"}, {"status": 429, "retry_after": 9}, IdentityUnavailable),
    ("server_error", {"error": "server_error"}, {}, IdentityUnavailable),
    ("unknown", {"error": "something_new"}, {}, IdentityUnavailable),
    ("not even an error", {}, {}, IdentityUnavailable),
]


@pytest.mark.parametrize(
    ("result", "seen", "expected"), [case[1:] for case in MSAL_ERRORS], ids=[case[0] for case in MSAL_ERRORS]
)
def test_t5_msal_error_mapping(result: dict[str, Any], seen: dict[str, Any], expected: type[ApiError]) -> None:
    """Every MSAL error dict maps, on error / error_codes / suberror only, to one of our errors."""
    described = dict(result, error_description="AADSTS12345: secret text from Entra")

    error = map_msal_error(described, **seen)

    assert expected is type(error)
    assert "AADSTS" not in error.detail
    if isinstance(error, IdentityUnavailable):
        assert seen.get("retry_after", 5) == error.retry_after


def test_t5_claims_are_relayed_verbatim() -> None:
    """The claims value Entra sent is passed through unchanged."""
    claims = '{"access_token":{"capolids":{"essential":true,"values":["c0a1"]}}}'

    error = map_msal_error({"error": "interaction_required", "error_codes": [50076], "claims": claims})

    assert isinstance(error, ClaimsChallenge)
    assert claims == error.claims


def test_t6_cache_entries_expire() -> None:
    """A cached token is served until its time to live runs out, then forgotten."""
    clock = ManualClock(0.0)
    cache = InMemoryTokenCache(clock=clock)
    cache.set("k", "token", 3300)

    clock.now = 3299.0
    assert "token" == cache.get("k")
    clock.now = 3300.0
    assert cache.get("k") is None
    assert 0 == len(cache)


def test_t6_cache_does_not_store_short_lived_tokens() -> None:
    """A token that would expire within the margin is not stored at all."""
    cache = InMemoryTokenCache()

    cache.set("k", "token", 0)

    assert cache.get("k") is None


def test_t6_cache_is_bounded() -> None:
    """When full, expired entries go first, then those closest to expiry."""
    clock = ManualClock(0.0)
    cache = InMemoryTokenCache(max_entries=3, clock=clock)
    cache.set("expired", "a", 1)
    cache.set("soon", "b", 100)
    cache.set("late", "c", 1000)
    clock.now = 10.0

    cache.set("new", "d", 500)
    cache.set("newer", "e", 500)

    assert [None, None, "c", "d", "e"] == [cache.get(k) for k in ["expired", "soon", "late", "new", "newer"]]


# ---------------------------------------------------------------------------------------------------------------
# OboProvider against a fake Entra


def segment(claims: dict[str, Any]) -> str:
    """A base64url JSON segment (MSAL's client_info, a JWT payload)."""
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


def answer(url: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    """A JSON HTTP answer as requests would hand it to MSAL."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.url = url
    response.encoding = "utf-8"
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
    return response


def issued(oid: str, access_token: str = "opaque-dataverse-token") -> tuple[int, dict[str, Any], dict[str, str]]:
    """The token endpoint's success for user `oid` (an opaque access token; client_info names the user)."""
    body = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": access_token,
        "client_info": segment({"uid": oid, "utid": TID}),
    }
    return 200, body, {}


class FakeEntra(requests.Session):
    """Entra's OpenID configuration and token endpoint for one tenant; token answers are queued by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.token_requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any], dict[str, str]]] = []

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert f"{HOST}/{TID}/v2.0/.well-known/openid-configuration" == url
        return answer(
            url,
            200,
            {
                "issuer": f"{HOST}/{TID}/v2.0",
                "authorization_endpoint": f"{HOST}/{TID}/oauth2/v2.0/authorize",
                "token_endpoint": TOKEN_URL,
            },
        )

    def post(self, url: str | bytes, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert TOKEN_URL == url
        self.token_requests.append(dict(data or {}))
        status, body, headers = self.answers.pop(0)
        return answer(url, status, body, headers)


def principal(oid: str = ALICE) -> Principal:
    """A validated caller of the tenant whose bootstrap token is `assertion-<oid>`."""
    return Principal(TID, oid, CLIENT_ID, None, None, assertion=f"assertion-{oid}")


@pytest.fixture()
def entra() -> FakeEntra:
    """A fresh fake Entra."""
    return FakeEntra()


@pytest.fixture()
def clock() -> ManualClock:
    """The provider's monotonic clock."""
    return ManualClock()


@pytest.fixture()
def obo(entra: FakeEntra, clock: ManualClock) -> OboProvider:
    """An OBO provider for the tenant, sending to the fake Entra."""
    settings = Settings(
        client_id=CLIENT_ID,
        tenants=(TID,),
        dataverse_urls={TID: ENVIRONMENT},
        client_secret="not-a-real-secret",
        authority_host=HOST,
    )
    return OboProvider(settings, entra, clock=clock)


def test_a_cold_exchange_sends_the_callers_assertion_for_the_environment_and_a_warm_one_sends_nothing(
    obo: OboProvider, entra: FakeEntra
) -> None:
    """One token request on behalf of the caller for `<environment>/user_impersonation`; then the cache answers."""
    entra.answers.append(issued(ALICE))

    tokens = [obo.dataverse_token(principal(), ENVIRONMENT) for _ in range(3)]

    assert ["opaque-dataverse-token"] * 3 == tokens
    assert [("on_behalf_of", f"assertion-{ALICE}", f"{ENVIRONMENT}/user_impersonation openid profile")] == [
        (r["requested_token_use"], r["assertion"], r["scope"]) for r in entra.token_requests
    ]


def test_a_token_naming_another_user_is_refused_and_not_kept(obo: OboProvider, entra: FakeEntra) -> None:
    """An answer whose client_info names Bob is never handed to Alice, and the next call asks again."""
    entra.answers += [issued(BOB, "bobs-token"), issued(ALICE, "alices-token")]

    with pytest.raises(IdentityUnavailable):
        obo.dataverse_token(principal(ALICE), ENVIRONMENT)

    assert "alices-token" == obo.dataverse_token(principal(ALICE), ENVIRONMENT)
    assert 2 == len(entra.token_requests)


def test_a_throttled_user_is_held_back_for_the_retry_after_and_others_are_not(
    obo: OboProvider, entra: FakeEntra, clock: ManualClock
) -> None:
    """Entra's 429 with Retry-After: 30 is a 503 with 30 s; within it Alice sends nothing, and Bob goes at once."""
    entra.answers += [
        (429, {"error": "temporarily_unavailable", "error_codes": [50196]}, {"Retry-After": "30"}),
        issued(BOB, "bobs-token"),
    ]
    with pytest.raises(IdentityUnavailable) as throttled:
        obo.dataverse_token(principal(ALICE), ENVIRONMENT)
    clock.advance(10)

    with pytest.raises(IdentityUnavailable) as held_back:
        obo.dataverse_token(principal(ALICE), ENVIRONMENT)
    bobs = obo.dataverse_token(principal(BOB), ENVIRONMENT)

    assert (30, 20) == (throttled.value.retry_after, held_back.value.retry_after)
    assert "bobs-token" == bobs
    assert [ALICE, BOB] == [r["assertion"].removeprefix("assertion-") for r in entra.token_requests]


def test_an_expired_assertion_is_token_expired(obo: OboProvider, entra: FakeEntra) -> None:
    """Entra's AADSTS500133 (the bootstrap token expired) tells the pane to get a new one."""
    entra.answers.append((400, {"error": "invalid_grant", "error_codes": [500133]}, {}))

    with pytest.raises(TokenExpired):
        obo.dataverse_token(principal(), ENVIRONMENT)


def test_another_environment_is_refused_before_any_call(obo: OboProvider, entra: FakeEntra) -> None:
    """A token is only ever exchanged for the environment configured for the caller's tenant."""
    with pytest.raises(ConfigurationError):
        obo.dataverse_token(principal(), "https://elsewhere.example.test")

    assert [] == entra.token_requests
