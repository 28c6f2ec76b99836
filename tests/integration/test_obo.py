"""On-behalf-of exchange with real MSAL against the devstack's token endpoint, and the OBO token cache.

Groups: T5 OBO outcomes, T6 the OBO token cache. The exchange and its error answers:
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
from conftest import Devstack, ManualClock, make_session, make_settings, wait_for_delayed

from addin_api.auth.cache import InMemoryTokenCache
from addin_api.auth.obo import OboProvider
from addin_api.auth.tokens import Principal, TokenValidator
from addin_api.dataverse.limits import SqliteThrottleWindows
from addin_api.errors import (
    ApiError,
    ClaimsChallenge,
    ConfigurationError,
    ConsentRequired,
    IdentityUnavailable,
    TenantNotAllowed,
    TokenExpired,
)

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
DAVE = "dave@contoso.example"
ERIN = "erin@contoso.example"
TOKEN_PATH = "/oauth2/v2.0/token"


def token_calls(devstack: Devstack) -> list[dict[str, Any]]:
    """The token-endpoint requests the devstack served."""
    return [e for e in devstack.requests_log("identity") if e["path"].endswith(TOKEN_PATH)]


def claims_of(token: str) -> dict[str, Any]:
    """Read a token's claims (the devstack signed it; here we only look)."""
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


class Stack:
    """A validator and an OBO provider wired like the app, against the devstack."""

    def __init__(self, devstack: Devstack, clock: ManualClock | None = None, **settings: Any) -> None:
        self.devstack = devstack
        self.settings = make_settings(devstack, **settings)
        self.session = make_session(devstack)
        self.validator = TokenValidator(self.settings, self.session)
        self.obo = OboProvider(self.settings, self.session, clock=clock or time.monotonic)
        self.environment = str(devstack.config["environmentUrl"])

    def principal(self, upn: str = ALICE, **claims: Any) -> Principal:
        """Validate a freshly minted bootstrap token for `upn`, as the API would."""
        return self.validator.validate("Bearer " + self.devstack.token(upn, **claims))

    def dataverse_token(self, principal: Principal, **kwargs: Any) -> str:
        """Exchange on-behalf-of `principal` for the tenant's environment."""
        return self.obo.dataverse_token(principal, self.environment, **kwargs)

    def user_oid(self, upn: str) -> str:
        return next(str(u["oid"]) for u in self.devstack.config["users"] if u["upn"] == upn)


@pytest.fixture()
def stack(devstack: Devstack) -> Iterator[Stack]:
    """A fresh validator + OBO provider (cold MSAL apps, empty token cache)."""
    built = Stack(devstack)
    yield built
    built.session.close()


def expect(call: Any, error: type[ApiError]) -> ApiError:
    """Run `call` and return the error raised, checking it is exactly `error`."""
    with pytest.raises(ApiError) as caught:
        call()
    assert error is type(caught.value)
    assert "AADSTS" not in caught.value.detail  # Entra's text never reaches our errors
    return caught.value


# ---------------------------------------------------------------------------------------------------------------
# T5 — OBO outcomes


def test_t5_obo_returns_a_dataverse_token_for_the_user(stack: Stack) -> None:
    """OBO yields a v1 Dataverse token for the same user, audience the environment, scope user_impersonation."""
    principal = stack.principal()

    token = stack.dataverse_token(principal)

    claims = claims_of(token)
    assert (principal.tenant_id, principal.object_id) == (claims["tid"], claims["oid"])
    assert stack.environment == claims["aud"]
    assert "user_impersonation" == claims["scp"]
    assert [f"/{principal.tenant_id}{TOKEN_PATH}"] == [e["path"] for e in token_calls(stack.devstack)]


def test_t5_cold_and_warm_identity_calls(stack: Stack) -> None:
    """Cold: JWKS + tenant discovery + one OBO call; warm: no identity call at all."""
    principal = stack.principal()
    stack.dataverse_token(principal)
    cold = [e["path"] for e in stack.devstack.requests_log("identity")]
    stack.devstack.clear_log()

    stack.dataverse_token(stack.principal())

    tid = principal.tenant_id
    expected_cold = [
        "/common/discovery/v2.0/keys",
        f"/{tid}/v2.0/.well-known/openid-configuration",
        f"/{tid}{TOKEN_PATH}",
    ]
    assert expected_cold == cold
    assert [] == stack.devstack.requests_log("identity")


def test_t5_mfa_required_is_a_claims_challenge(stack: Stack) -> None:
    """Dave's conditional-access policy needs MFA: the claims Entra sent are relayed for getAccessToken."""
    error = expect(lambda: stack.dataverse_token(stack.principal(DAVE)), ClaimsChallenge)

    assert isinstance(error, ClaimsChallenge)
    assert 401 == error.status
    assert "capolids" in error.claims
    assert error.headers()["WWW-Authenticate"].startswith('Bearer error="insufficient_claims", claims="')


def test_t5_mfa_satisfied_succeeds(stack: Stack) -> None:
    """With a bootstrap token that satisfied MFA, Dave's exchange succeeds."""
    principal = stack.principal(DAVE, amr=["pwd", "mfa"])

    assert principal.object_id == claims_of(stack.dataverse_token(principal))["oid"]


def test_t5_missing_consent_is_consent_required(stack: Stack) -> None:
    """Erin's tenant never consented to Dataverse access: 403 consent_required."""
    error = expect(lambda: stack.dataverse_token(stack.principal(ERIN)), ConsentRequired)

    assert 403 == error.status


def test_t5_expired_assertion_is_token_expired(stack: Stack) -> None:
    """An assertion that expired between validation and OBO (Entra's 500133) is a 401 token_expired."""
    fresh = stack.principal()
    expired = stack.devstack.token(ALICE, exp=int(time.time()) - 600)
    principal = Principal(
        tenant_id=fresh.tenant_id,
        object_id=fresh.object_id,
        client_app=fresh.client_app,
        name=fresh.name,
        username=fresh.username,
        assertion=expired,
        expires_at=int(time.time()) - 600,
    )

    error = expect(lambda: stack.dataverse_token(principal), TokenExpired)

    assert 401 == error.status


def test_t5_wrong_client_secret_is_configuration_error(devstack: Devstack) -> None:
    """A wrong or expired client secret (invalid_client 7000215) is 503 configuration_error, not the user's fault."""
    stack = Stack(devstack, client_secret="not-the-secret")

    error = expect(lambda: stack.dataverse_token(stack.principal()), ConfigurationError)

    assert 503 == error.status


def test_t5_unknown_tenant_at_the_idp_is_configuration_error(devstack: Devstack) -> None:
    """An onboarded tenant the IdP does not know (discovery answers 400) is a configuration error."""
    ghost = str(uuid.uuid4())
    stack = Stack(devstack, tenants=(devstack.config["tenantId"], ghost))

    expect(lambda: stack.obo.warm(ghost), ConfigurationError)


def test_t5_tenant_not_onboarded_is_refused_before_any_call(stack: Stack) -> None:
    """The provider never builds an MSAL app for a tenant that is not onboarded."""
    expect(lambda: stack.obo.warm(str(uuid.uuid4())), TenantNotAllowed)

    assert [] == stack.devstack.requests_log("identity")


def test_t5_other_environment_is_refused(stack: Stack) -> None:
    """A user's token is only exchanged for the environment configured for their tenant."""
    principal = stack.principal()

    expect(lambda: stack.obo.dataverse_token(principal, "https://evil.example"), ConfigurationError)
    assert [] == token_calls(stack.devstack)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(503, 7, 7), (500, None, 5), (502, 2, 2), (429, 3, 3), (429, None, 5)],
    ids=["503 retry-after 7", "500", "502 retry-after 2", "429 retry-after 3", "429 without retry-after"],
)
def test_t5_token_endpoint_failure_is_identity_unavailable(
    stack: Stack, status: int, retry_after: int | None, expected: int
) -> None:
    """429 and 5xx from the token endpoint become 503 identity_unavailable carrying Entra's Retry-After."""
    principal = stack.principal()
    stack.obo.warm(principal.tenant_id)
    stack.devstack.fault(target="identity", path=TOKEN_PATH, status=status, retryAfter=retry_after, count=1)

    error = expect(lambda: stack.dataverse_token(principal), IdentityUnavailable)

    assert 503 == error.status
    assert expected == error.retry_after
    assert {"Retry-After": str(expected)} == error.headers()


def test_t5_token_endpoint_timeout_is_identity_unavailable(devstack: Devstack) -> None:
    """A token endpoint slower than the read timeout is a prompt 503, not a hung worker."""
    stack = Stack(devstack, read_timeout=0.3)
    principal = stack.principal()
    stack.obo.warm(principal.tenant_id)
    devstack.fault(target="identity", path=TOKEN_PATH, delayMs=1500, count=1)

    started = time.monotonic()
    error = expect(lambda: stack.dataverse_token(principal), IdentityUnavailable)

    assert time.monotonic() - started < 1.4
    assert 5 == error.retry_after
    wait_for_delayed(devstack, TOKEN_PATH, count=1)


def test_t5_discovery_down_is_identity_unavailable(devstack: Devstack) -> None:
    """If the tenant's OpenID configuration cannot be fetched, the exchange is a 503; it is fetched again only once
    Entra's Retry-After has passed, then the exchange succeeds."""
    clock = ManualClock()
    stack = Stack(devstack, clock=clock)
    principal = stack.principal()
    devstack.fault(target="identity", path="openid-configuration", status=503, retryAfter=4, count=1)

    first = expect(lambda: stack.dataverse_token(principal), IdentityUnavailable)
    clock.advance(1)
    held_back = expect(lambda: stack.dataverse_token(principal), IdentityUnavailable)
    fetched_meanwhile = [e for e in devstack.requests_log("identity") if "openid-configuration" in e["path"]]
    clock.advance(3)

    assert (4, 3, 1) == (first.retry_after, held_back.retry_after, len(fetched_meanwhile))
    assert principal.object_id == claims_of(stack.dataverse_token(principal))["oid"]


def test_t5_idp_unreachable_is_identity_unavailable(devstack: Devstack) -> None:
    """A refused connection to the authority is a 503 identity_unavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stack = Stack(devstack, authority_host=f"https://127.0.0.1:{port}")

    expect(lambda: stack.obo.warm(devstack.config["tenantId"]), IdentityUnavailable)


# ---------------------------------------------------------------------------------------------------------------
# T6 — the OBO token cache


def test_t6_fifty_calls_make_one_obo_request(stack: Stack) -> None:
    """50 Dataverse-token requests for one user (new bootstrap tokens each time) cost exactly one OBO call."""
    principals = [stack.principal() for _ in range(50)]

    tokens = {stack.dataverse_token(p) for p in principals}

    assert 1 == len(tokens)
    assert 1 == len(token_calls(stack.devstack))


def test_t6_concurrent_cold_requests_of_one_user_make_one_obo_request(stack: Stack) -> None:
    """Eight requests of a cold user at once wait for one exchange; another user's exchange does not wait for it."""
    alice = [stack.principal(ALICE) for _ in range(8)]
    bob = stack.principal(BOB)
    stack.dataverse_token(stack.principal("carol@contoso.example"))  # the tenant's MSAL application is built
    stack.devstack.clear_log()
    stack.devstack.fault(target="identity", path=TOKEN_PATH, user=ALICE, delayMs=2000, count=1)
    finished: list[str] = []

    def exchange(who: str, principal: Principal) -> str:
        token = stack.dataverse_token(principal)
        finished.append(who)
        return token

    with ThreadPoolExecutor(9) as pool:
        alices = [pool.submit(exchange, "alice", p) for p in alice]
        time.sleep(0.3)  # Alice's exchange is on its way to the token endpoint, held there for 2 s
        bobs = pool.submit(exchange, "bob", bob)
        tokens = {f.result(timeout=30) for f in alices}

    assert 1 == len(tokens)
    assert stack.user_oid(BOB) == claims_of(bobs.result(timeout=30))["oid"]
    assert "bob" == finished[0]  # served while Alice's exchange was still held at the token endpoint
    assert 2 == len(token_calls(stack.devstack))


def test_t6_users_never_share_tokens(stack: Stack) -> None:
    """Two users interleaved each get a token for themselves, and one OBO call each."""
    alice, bob = stack.principal(ALICE), stack.principal(BOB)

    oids = [claims_of(stack.dataverse_token(p))["oid"] for p in [alice, bob] * 25]

    assert [stack.user_oid(ALICE), stack.user_oid(BOB)] * 25 == oids
    assert 2 == len(token_calls(stack.devstack))


def test_t6_forget_fetches_again(stack: Stack) -> None:
    """After `forget` (Dataverse refused the token) the next call exchanges again."""
    principal = stack.principal()
    stack.dataverse_token(principal)

    stack.obo.forget(principal, stack.environment + "/")
    stack.dataverse_token(principal)
    stack.dataverse_token(principal)

    assert 2 == len(token_calls(stack.devstack))


def test_t6_force_refresh_fetches_again(stack: Stack) -> None:
    """`force_refresh=True` bypasses the cache and stores the new token."""
    principal = stack.principal()
    first = stack.dataverse_token(principal)

    second = stack.dataverse_token(principal, force_refresh=True)

    assert first != second
    assert second == stack.dataverse_token(principal)
    assert 2 == len(token_calls(stack.devstack))


def test_t6_failures_are_not_cached(stack: Stack) -> None:
    """A transient failure is not remembered: the next call exchanges again and succeeds."""
    principal = stack.principal()
    stack.obo.warm(principal.tenant_id)
    stack.devstack.fault(target="identity", path=TOKEN_PATH, status=503, retryAfter=1, count=1)
    expect(lambda: stack.dataverse_token(principal), IdentityUnavailable)
    time.sleep(1.1)  # MSAL itself holds back identical requests for Retry-After seconds

    assert principal.object_id == claims_of(stack.dataverse_token(principal))["oid"]


def test_t6_provider_uses_an_injected_cache(devstack: Devstack) -> None:
    """A cache passed in (the Redis adapter later) is where tokens go, keyed per tenant, user and environment."""
    settings = make_settings(devstack)
    session = make_session(devstack)
    cache = InMemoryTokenCache()
    obo = OboProvider(settings, session, cache)
    principal = TokenValidator(settings, session).validate("Bearer " + devstack.token(ALICE))

    obo.dataverse_token(principal, devstack.config["environmentUrl"])

    assert 1 == len(cache)


# ---------------------------------------------------------------------------------------------------------------
# No identity-provider answer reaches another user


def token_response(access_token: str, **extra: Any) -> dict[str, Any]:
    """A token-endpoint success body carrying `access_token` (what a fault answers instead of the real one)."""
    return {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": access_token, **extra}


def calls_by_user(devstack: Devstack) -> list[tuple[str | None, int]]:
    """(user, status) of every token-endpoint request the devstack served."""
    return [(e["user"], e["status"]) for e in token_calls(devstack)]


def test_msal_alone_replays_one_users_429_to_another_user(stack: Stack) -> None:
    """The platform behaviour we guard against: MSAL's default http cache keys OBO without the assertion, so Bob
    gets Alice's 429 from memory and no request goes out for him."""
    alice, bob = stack.principal(ALICE), stack.principal(BOB)
    app = msal.ConfidentialClientApplication(
        stack.settings.client_id,
        client_credential=stack.settings.client_secret,
        authority=stack.settings.authority(alice.tenant_id),
        http_client=stack.session,
        instance_discovery=False,
    )
    stack.devstack.fault(target="identity", path=TOKEN_PATH, status=429, retryAfter=30, user=ALICE)
    scopes = [f"{stack.environment}/user_impersonation"]

    for_alice = app.acquire_token_on_behalf_of(alice.assertion, scopes=scopes)
    for_bob = app.acquire_token_on_behalf_of(bob.assertion, scopes=scopes)

    assert ("temporarily_unavailable", "temporarily_unavailable") == (for_alice.get("error"), for_bob.get("error"))
    assert [(ALICE, 429)] == calls_by_user(stack.devstack)


def test_one_users_throttling_does_not_stop_another_users_exchange(devstack: Devstack) -> None:
    """Alice is throttled (429, Retry-After 30): Bob's exchange still goes out and succeeds; Alice, 10 s into her
    window, gets 503 with the 20 s left and nothing is sent for her."""
    clock = ManualClock()
    stack = Stack(devstack, clock=clock)
    alice, bob = stack.principal(ALICE), stack.principal(BOB)
    stack.obo.warm(alice.tenant_id)
    devstack.fault(target="identity", path=TOKEN_PATH, status=429, retryAfter=30, user=ALICE)

    throttled = expect(lambda: stack.dataverse_token(alice), IdentityUnavailable)
    bobs = claims_of(stack.dataverse_token(bob))
    clock.advance(10)
    again = expect(lambda: stack.dataverse_token(alice), IdentityUnavailable)

    assert (30, stack.user_oid(BOB), 20) == (throttled.retry_after, bobs["oid"], again.retry_after)
    assert [(ALICE, 429), (BOB, 200)] == calls_by_user(devstack)


def test_a_users_window_holds_on_every_instance_sharing_the_store(devstack: Devstack, tmp_path: Path) -> None:
    """Two instances sharing the Retry-After store (as gunicorn workers do): Alice's 429 on one keeps the other from
    sending for her, while Bob's exchange on the other goes out."""
    shared = SqliteThrottleWindows(tmp_path / "windows.sqlite3")
    settings, session = make_settings(devstack), make_session(devstack)
    first, second = (OboProvider(settings, session, windows=shared) for _ in range(2))
    validator = TokenValidator(settings, session)
    alice, bob = (validator.validate("Bearer " + devstack.token(u)) for u in (ALICE, BOB))
    environment = str(devstack.config["environmentUrl"])
    second.warm(alice.tenant_id)
    devstack.fault(target="identity", path=TOKEN_PATH, status=429, retryAfter=30, user=ALICE)

    expect(lambda: first.dataverse_token(alice, environment), IdentityUnavailable)
    held_back = expect(lambda: second.dataverse_token(alice, environment), IdentityUnavailable)
    bobs = claims_of(second.dataverse_token(bob, environment))

    assert held_back.retry_after is not None and held_back.retry_after > 1
    assert bob_oid(devstack) == bobs["oid"]
    assert [(ALICE, 429), (BOB, 200)] == calls_by_user(devstack)


def bob_oid(devstack: Devstack) -> str:
    """Bob's object id in the devstack's directory."""
    return next(str(u["oid"]) for u in devstack.config["users"] if u["upn"] == BOB)


def test_a_throttled_user_is_sent_again_once_the_window_has_passed(stack: Stack) -> None:
    """After Retry-After seconds the user's own exchange goes out again and succeeds."""
    alice = stack.principal(ALICE)
    stack.obo.warm(alice.tenant_id)
    stack.devstack.fault(target="identity", path=TOKEN_PATH, status=429, retryAfter=1, user=ALICE, count=1)
    expect(lambda: stack.dataverse_token(alice), IdentityUnavailable)
    time.sleep(1.1)  # Alice's Retry-After

    assert alice.object_id == claims_of(stack.dataverse_token(alice))["oid"]
    assert [(ALICE, 429), (ALICE, 200)] == calls_by_user(stack.devstack)


def test_a_success_carrying_retry_after_is_not_replayed_to_another_user(stack: Stack) -> None:
    """Alice's token answer carries Retry-After (MSAL would keep it under a key Bob's request shares): Bob's
    exchange still goes out and he gets his own token."""
    alice, bob = stack.principal(ALICE), stack.principal(BOB)
    stack.obo.warm(alice.tenant_id)
    alices_token = stack.devstack.token(ALICE, audience="dataverse")
    stack.devstack.fault(
        target="identity", path=TOKEN_PATH, user=ALICE, status=200, retryAfter=30, body=token_response(alices_token)
    )

    assert alices_token == stack.dataverse_token(alice)
    assert stack.user_oid(BOB) == claims_of(stack.dataverse_token(bob))["oid"]
    assert [(ALICE, 200), (BOB, 200)] == calls_by_user(stack.devstack)


def foreign_answers(devstack: Devstack) -> dict[str, dict[str, Any]]:
    """Token-endpoint answers to Alice that do not name Alice (in her tenant) throughout."""
    bobs_token = devstack.token(BOB, audience="dataverse")
    alices_token = devstack.token(ALICE, audience="dataverse")
    return {
        "bob's access token": token_response(bobs_token),
        "bob's access token, alice's id token": token_response(bobs_token, id_token=devstack.token(ALICE)),
        "alice's access token, bob's id token": token_response(alices_token, id_token=devstack.token(BOB)),
        "alice's oid in another tenant": token_response(
            devstack.token(ALICE, audience="dataverse", tid=str(uuid.uuid4()))
        ),
        "an opaque token naming nobody": token_response("opaque-token-naming-nobody"),
        "an opaque token, bob's client info": token_response("opaque", client_info=client_info(devstack, BOB)),
        "alice's access token, bob's client info": token_response(alices_token, client_info=client_info(devstack, BOB)),
    }


def client_info(devstack: Devstack, upn: str) -> str:
    """The `client_info` Entra returns for a user: base64url JSON of uid (object id) and utid (tenant id)."""
    user = next(u for u in devstack.config["users"] if u["upn"] == upn)
    raw = json.dumps({"uid": user["oid"], "utid": user["tenantId"]}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "case",
    [
        "bob's access token",
        "bob's access token, alice's id token",
        "alice's access token, bob's id token",
        "alice's oid in another tenant",
        "an opaque token naming nobody",
        "an opaque token, bob's client info",
        "alice's access token, bob's client info",
    ],
)
def test_a_token_issued_to_another_principal_is_refused_and_not_kept(stack: Stack, case: str) -> None:
    """When the token endpoint answers Alice with a token that does not name her, she gets 503 identity_unavailable
    and the token is neither returned nor cached: her next exchange fetches her own."""
    alice = stack.principal(ALICE)
    stack.obo.warm(alice.tenant_id)
    answer = foreign_answers(stack.devstack)[case]
    stack.devstack.fault(target="identity", path=TOKEN_PATH, user=ALICE, status=200, body=answer, count=1)

    error = expect(lambda: stack.dataverse_token(alice), IdentityUnavailable)
    own = stack.dataverse_token(alice)

    assert (503, "identity_unavailable") == (error.status, error.code)
    assert answer["access_token"] != own
    assert (alice.tenant_id, alice.object_id) == (claims_of(own)["tid"], claims_of(own)["oid"])
    assert [(ALICE, 200), (ALICE, 200)] == calls_by_user(stack.devstack)


def test_the_callers_own_id_token_is_accepted(stack: Stack) -> None:
    """An answer whose access token and ID token both name the caller is used (the devstack's real answer has
    both)."""
    alice = stack.principal(ALICE)
    alices_token = stack.devstack.token(ALICE, audience="dataverse")
    stack.devstack.fault(
        target="identity",
        path=TOKEN_PATH,
        user=ALICE,
        status=200,
        body=token_response(alices_token, id_token=stack.devstack.token(ALICE)),
        count=1,
    )

    assert alices_token == stack.dataverse_token(alice)


def test_an_unreadable_access_token_is_accepted_when_the_client_info_names_the_caller(stack: Stack) -> None:
    """An access token the service cannot read (Microsoft may encrypt them) is used when client_info names the
    caller."""
    alice = stack.principal(ALICE)
    answer = token_response("opaque.access-token", client_info=client_info(stack.devstack, ALICE))
    stack.devstack.fault(target="identity", path=TOKEN_PATH, user=ALICE, status=200, body=answer, count=1)

    assert "opaque.access-token" == stack.dataverse_token(alice)
