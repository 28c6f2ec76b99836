"""Bearer-token validation against the devstack's identity provider: real keys, real signatures, real HTTPS.

Groups: T1 forged and malformed tokens, T2 valid but not allowed, T3 boundaries that must be accepted, T4 JWKS chaos.
The rules are Microsoft's: https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens and, for T4,
https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from conftest import Devstack, ManualClock, make_session, make_settings, wait_for_delayed
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from addin_api.auth.tokens import Principal, TokenValidator
from addin_api.devstack.config import DEFAULT_AZP, OTHER_TENANT_ID
from addin_api.errors import (
    ApiError,
    ClientAppNotAllowed,
    IdentityUnavailable,
    InsufficientScope,
    InvalidToken,
    TenantNotAllowed,
    TokenExpired,
)
from addin_api.settings import CONSUMERS_TENANT, Settings

ALICE = "alice@contoso.example"
MALLORY = "mallory@fabrikam-tenant.example"
KEYS_PATH = "/discovery/v2.0/keys"
TOKEN_PATH = "/oauth2/v2.0/token"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@dataclass
class Kit:
    """Everything a test case needs to build a token: the devstack, its real key, and an attacker's key."""

    devstack: Devstack
    settings: Settings
    attacker: rsa.RSAPrivateKey

    @property
    def tid(self) -> str:
        return str(self.devstack.config["tenantId"])

    @property
    def real_key(self) -> rsa.RSAPrivateKey:
        return self.devstack.server.state.keys.active.private_key

    @property
    def real_kid(self) -> str:
        return self.devstack.server.state.keys.active.kid

    def token(self, user: str = ALICE, **claims: Any) -> str:
        """A token minted by the devstack (as Office would get it), with claim overrides (None removes)."""
        return self.devstack.token(user, **claims)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims of a good bootstrap token for Alice."""
        claims = jwt.decode(self.token(), options={"verify_signature": False})
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any] | None = None, key: rsa.RSAPrivateKey | None = None, **header: Any) -> str:
        """Sign claims with `key` (default: the attacker's) under the given header fields."""
        headers = {"kid": self.real_kid, **header}
        return jwt.encode(claims or self.claims(), key or self.attacker, algorithm="RS256", headers=headers)

    def raw(self, header: dict[str, Any], claims: dict[str, Any] | None = None, signature: bytes = b"sig") -> str:
        """Assemble a JWT by hand (for algorithms PyJWT refuses to produce)."""
        return ".".join(
            [_b64(json.dumps(header).encode()), _b64(json.dumps(claims or self.claims()).encode()), _b64(signature)]
        )

    def hs256_with(self, secret: bytes) -> str:
        """An HS256 token whose HMAC secret is our public key material (key-confusion attack)."""
        header = _b64(json.dumps({"alg": "HS256", "kid": self.real_kid, "typ": "JWT"}).encode())
        payload = _b64(json.dumps(self.claims()).encode())
        mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(mac)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def key_fetches(devstack: Devstack) -> list[dict[str, Any]]:
    """The JWKS requests the devstack served."""
    return [e for e in devstack.requests_log("identity") if e["path"].endswith(KEYS_PATH)]


def token_calls(devstack: Devstack) -> list[dict[str, Any]]:
    """The token-endpoint (OBO) requests the devstack served."""
    return [e for e in devstack.requests_log("identity") if e["path"].endswith(TOKEN_PATH)]


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key nobody published."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture()
def kit(devstack: Devstack, attacker_key: rsa.RSAPrivateKey) -> Kit:
    """A token kit on a freshly reset devstack."""
    return Kit(devstack, make_settings(devstack), attacker_key)


@pytest.fixture()
def clock() -> ManualClock:
    """A hand-driven clock for the key cache."""
    return ManualClock()


@pytest.fixture()
def validator(kit: Kit, clock: ManualClock) -> Iterator[TokenValidator]:
    """A cold validator (no keys yet) on its own session."""
    session = make_session(kit.devstack)
    yield TokenValidator(kit.settings, session, clock=clock)
    session.close()


def expect(validator: TokenValidator, header: str | None, error: type[ApiError]) -> ApiError:
    """Validate and return the error raised, checking it is exactly `error`."""
    with pytest.raises(ApiError) as caught:
        validator.validate(header)
    assert error is type(caught.value)
    return caught.value


# ---------------------------------------------------------------------------------------------------------------
# The happy path


def test_valid_token_gives_the_principal(kit: Kit, validator: TokenValidator) -> None:
    """A token as Office mints it yields (tid, oid), the calling app, display fields and the raw assertion."""
    token = kit.token()
    claims = jwt.decode(token, options={"verify_signature": False})

    principal = validator.validate(bearer(token))

    expected = Principal(
        tenant_id=kit.tid,
        object_id=claims["oid"],
        client_app=DEFAULT_AZP,
        name="Alice Wong",
        username=ALICE,
        assertion=token,
        expires_at=claims["exp"],
    )
    assert expected == principal
    assert (kit.tid, claims["oid"]) == principal.key
    assert token not in repr(principal)


def test_warm_validation_makes_no_identity_calls(kit: Kit, validator: TokenValidator) -> None:
    """Once keys are loaded, validating more tokens costs no request to the identity provider."""
    validator.validate(bearer(kit.token()))
    kit.devstack.clear_log()

    for _ in range(20):
        validator.validate(bearer(kit.token()))

    assert [] == kit.devstack.requests_log("identity")


@pytest.fixture()
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Tokens whose signature PyJWT verified (`jwt.decode` with a key), in order."""
    verified: list[str] = []
    real = jwt.decode

    def counting(token: str, key: Any = None, *args: Any, **kwargs: Any) -> Any:
        if key is not None:
            verified.append(token)
        return real(token, key, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return verified


def test_a_validated_token_is_remembered(kit: Kit, validator: TokenValidator, decodes: list[str]) -> None:
    """The same token again skips decoding and signature verification and gives the same principal."""
    token = kit.token()
    first = validator.validate(bearer(token))

    again = [validator.validate(bearer(token)) for _ in range(3)]

    assert [first] * 3 == again
    assert [token] == decodes
    assert 1 == validator.remembered_tokens
    validator.validate(bearer(kit.token()))  # another token of the same user is checked in full
    assert 2 == len(decodes)


def test_failed_tokens_are_not_remembered(kit: Kit, validator: TokenValidator, decodes: list[str]) -> None:
    """A refused token is checked in full, and refused, every time."""
    token = kit.token(aud="api://someone-else")
    for _ in range(2):
        expect(validator, bearer(token), InvalidToken)

    assert 2 == len(decodes)
    assert 0 == validator.remembered_tokens


def test_a_remembered_token_expires_as_token_expired(kit: Kit) -> None:
    """Past `exp` plus the leeway, a remembered token is refused with token_expired, without a new check."""
    wall = ManualClock()
    wall.now = time.time()
    validator = TokenValidator(kit.settings, make_session(kit.devstack), clock=ManualClock(), wall_clock=wall)
    token = kit.token(exp=int(wall.now) + 120)
    validator.validate(bearer(token))

    wall.advance(120 + 59)
    assert validator.validate(bearer(token)).assertion == token  # within the leeway, as PyJWT has it
    wall.advance(2)
    error = expect(validator, bearer(token), TokenExpired)

    assert "token_expired" == error.code
    assert 0 == validator.remembered_tokens


def test_remembered_tokens_are_bounded(kit: Kit, clock: ManualClock, decodes: list[str]) -> None:
    """The least recently used token is forgotten first."""
    validator = TokenValidator(kit.settings, make_session(kit.devstack), clock=clock, cache_size=2)
    first, second, third = kit.token(), kit.token(), kit.token()
    for token in (first, second, first, third):  # `second` is now the least recently used
        validator.validate(bearer(token))
    assert 2 == validator.remembered_tokens
    validator.validate(bearer(first))
    validator.validate(bearer(second))

    assert [first, second, third, second] == decodes


# ---------------------------------------------------------------------------------------------------------------
# T1 — forged and malformed tokens: 401 invalid_token (token_expired for exp), never an OBO call


T1_CASES: list[tuple[str, Callable[[Kit], str | None]]] = [
    ("no header", lambda k: None),
    ("empty header", lambda k: ""),
    ("basic scheme", lambda k: "Basic YWxpY2U6c2VjcmV0"),
    ("empty bearer", lambda k: "Bearer "),
    ("bearer without space", lambda k: "Bearer" + k.token()),
    ("two spaces", lambda k: "Bearer  " + k.token()),
    ("trailing space", lambda k: bearer(k.token()) + " "),
    ("token without scheme", lambda k: k.token()),
    ("two segments", lambda k: bearer(".".join(k.token().split(".")[:2]))),
    ("four segments", lambda k: bearer(k.token() + ".AAAA")),
    ("bad base64", lambda k: bearer("!!!." + k.token().split(".", 1)[1])),
    ("header not json", lambda k: bearer(_b64(b"not json") + "." + k.token().split(".", 1)[1])),
    ("header is a list", lambda k: bearer(_b64(b"[1,2]") + "." + k.token().split(".", 1)[1])),
    ("payload not json", lambda k: bearer(k.token().split(".")[0] + "." + _b64(b"{oops") + ".AAAA")),
    ("alg none, empty signature", lambda k: bearer(jwt.encode(k.claims(), None, algorithm="none"))),
    ("alg none", lambda k: bearer(k.raw({"alg": "none", "kid": k.real_kid}))),
    ("alg None", lambda k: bearer(k.raw({"alg": "None", "kid": k.real_kid}))),
    ("alg NONE", lambda k: bearer(k.raw({"alg": "NONE", "kid": k.real_kid}))),
    ("alg missing", lambda k: bearer(k.raw({"kid": k.real_kid}))),
    ("alg RS512", lambda k: bearer(k.raw({"alg": "RS512", "kid": k.real_kid}))),
    ("HS256 keyed with the public PEM", lambda k: bearer(k.hs256_with(_public_pem(k.real_key)))),
    (
        "HS256 keyed with the JWK n",
        lambda k: bearer(k.hs256_with(k.devstack.server.state.keys.active.jwk()["n"].encode())),
    ),
    ("unknown key reusing a known kid", lambda k: bearer(k.sign())),
    ("signature stripped", lambda k: bearer(k.token().rsplit(".", 1)[0] + ".AAAA")),
    ("payload swapped", lambda k: bearer(_swap_payload(k))),
    ("kid path traversal", lambda k: bearer(k.sign(kid="../../etc/passwd"))),
    ("kid sql injection", lambda k: bearer(k.sign(kid="' OR 1=1 --"))),
    ("kid not a string", lambda k: bearer(k.raw({"alg": "RS256", "kid": 42}))),
    ("kid empty", lambda k: bearer(k.raw({"alg": "RS256", "kid": ""}))),
    ("kid missing", lambda k: bearer(jwt.encode(k.claims(), k.attacker, algorithm="RS256"))),
    ("jku to attacker", lambda k: bearer(k.sign(jku="https://attacker.example/keys"))),
    ("x5u to attacker", lambda k: bearer(k.sign(x5u="https://attacker.example/cert.pem"))),
    (
        "embedded jwk",
        lambda k: bearer(k.sign(jwk=json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.attacker.public_key())))),
    ),
    ("unknown crit, real key", lambda k: bearer(k.sign(key=k.real_key, crit=["urn:x-evil"], **{"urn:x-evil": 1}))),
    # One second past the 60 s leeway, plus one for the time between minting and validating.
    ("nbf +61 s", lambda k: bearer(k.token(nbf=int(time.time()) + 62))),
    ("iat +61 s", lambda k: bearer(k.token(iat=int(time.time()) + 62))),
    ("missing exp", lambda k: bearer(k.token(exp=None))),
    ("missing nbf", lambda k: bearer(k.token(nbf=None))),
    ("missing iat", lambda k: bearer(k.token(iat=None))),
    ("missing oid", lambda k: bearer(k.token(oid=None))),
    ("missing azp", lambda k: bearer(k.token(azp=None))),
    ("missing ver", lambda k: bearer(k.token(ver=None))),
    ("missing aud", lambda k: bearer(k.token(aud=None))),
    ("aud api:// URI", lambda k: bearer(k.token(aud=f"api://localhost/{k.settings.client_id}"))),
    ("aud Graph", lambda k: bearer(k.token(aud=GRAPH_APP_ID))),
    ("aud list with ours", lambda k: bearer(k.token(aud=[k.settings.client_id, GRAPH_APP_ID]))),
    ("aud list of ours only", lambda k: bearer(k.token(aud=[k.settings.client_id]))),
    ("aud upper-case", lambda k: bearer(k.token(aud=k.settings.client_id.upper()))),
    ("iss v1", lambda k: bearer(k.token(iss=f"https://sts.windows.net/{k.tid}/"))),
    ("iss public cloud", lambda k: bearer(k.token(iss=f"https://login.microsoftonline.com/{k.tid}/v2.0"))),
    ("iss tid differs from tid", lambda k: bearer(k.token(iss=k.settings.issuer(OTHER_TENANT_ID)))),
    ("iss literal {tenantid}", lambda k: bearer(k.token(iss=k.settings.issuer("{tenantid}")))),
    ("iss with trailing slash", lambda k: bearer(k.token(iss=k.settings.issuer(k.tid) + "/"))),
    ("tid not a GUID", lambda k: bearer(k.token(tid="contoso.example"))),
    ("tid upper-case", lambda k: bearer(k.token(tid=k.tid.upper()))),
    ("tid missing", lambda k: bearer(k.token(tid=None))),
    ("tid not a string", lambda k: bearer(k.token(tid=7))),
    ("tid differs from iss", lambda k: bearer(k.token(tid=OTHER_TENANT_ID))),
    ("oid not a GUID", lambda k: bearer(k.token(oid="alice"))),
    ("ver 1.0", lambda k: bearer(k.token(ver="1.0"))),
    ("20 KB token, real signature", lambda k: bearer(k.token(padding="x" * 20_000))),
]


def _swap_payload(kit: Kit) -> str:
    """Keep a real signature but replace the payload with Bob's claims."""
    header, _, signature = kit.token().split(".")
    other = kit.claims(oid="b0b00000-0000-4000-8000-000000000002")
    return f"{header}.{_b64(json.dumps(other).encode())}.{signature}"


@pytest.mark.parametrize("make_header", [case[1] for case in T1_CASES], ids=[case[0] for case in T1_CASES])
def test_t1_forged_or_malformed_token_is_401(
    kit: Kit, validator: TokenValidator, make_header: Callable[[Kit], str | None], caplog: pytest.LogCaptureFixture
) -> None:
    """Every forged or malformed token is a 401 invalid_token, makes no OBO call and is never logged."""
    header = make_header(kit)
    caplog.set_level(logging.DEBUG)

    error = expect(validator, header, InvalidToken)

    assert 401 == error.status
    assert 'Bearer error="invalid_token"' == error.headers()["WWW-Authenticate"]
    assert [] == token_calls(kit.devstack)
    secret = (header or "").split(" ")[-1]
    if len(secret) > 16:
        assert secret not in caplog.text


@pytest.mark.parametrize("seconds", [61, 600])
def test_t1_expired_token_is_token_expired(kit: Kit, validator: TokenValidator, seconds: int) -> None:
    """A token expired beyond the 60 s leeway is a 401 token_expired."""
    error = expect(validator, bearer(kit.token(exp=int(time.time()) - seconds)), TokenExpired)

    assert 401 == error.status
    assert "token_expired" == error.code
    assert [] == token_calls(kit.devstack)


def test_t1_forged_tokens_do_not_trigger_key_fetches_beyond_one(kit: Kit, validator: TokenValidator) -> None:
    """The whole forged matrix on one warm validator costs at most one extra JWKS fetch (the first unknown kid)."""
    validator.validate(bearer(kit.token()))
    kit.devstack.clear_log()  # minting through the control surface is not logged

    for _, make in T1_CASES:
        with pytest.raises(InvalidToken):
            validator.validate(make(kit))

    assert len(key_fetches(kit.devstack)) <= 1


# ---------------------------------------------------------------------------------------------------------------
# T2 — valid signature, but not allowed: 403 with the right code


T2_CASES: list[tuple[str, Callable[[Kit], str], type[ApiError]]] = [
    ("scp missing", lambda k: k.token(scp=None), InsufficientScope),
    ("scp access_as_user2", lambda k: k.token(scp="access_as_user2"), InsufficientScope),
    ("scp substring", lambda k: k.token(scp="xaccess_as_user"), InsufficientScope),
    ("scp other scope", lambda k: k.token(scp="Mail.Read"), InsufficientScope),
    ("scp not a string", lambda k: k.token(scp=["access_as_user"]), InsufficientScope),
    ("azp not allowlisted", lambda k: k.token(azp=str(uuid.uuid4())), ClientAppNotAllowed),
    ("app-only idtyp app", lambda k: k.token(idtyp="app"), InsufficientScope),
    ("app-only roles", lambda k: k.token(scp=None, roles=["Data.ReadWrite"]), InsufficientScope),
    ("app-only oid == sub", lambda k: k.token(sub=k.claims()["oid"]), InsufficientScope),
    ("tenant not onboarded", lambda k: k.token(MALLORY), TenantNotAllowed),
    (
        "consumers tenant",
        lambda k: k.token(tid=CONSUMERS_TENANT, iss=k.settings.issuer(CONSUMERS_TENANT)),
        TenantNotAllowed,
    ),
]


@pytest.mark.parametrize(("make_token", "error"), [case[1:] for case in T2_CASES], ids=[case[0] for case in T2_CASES])
def test_t2_valid_but_unauthorized_is_403(
    kit: Kit, validator: TokenValidator, make_token: Callable[[Kit], str], error: type[ApiError]
) -> None:
    """A genuine token that lacks the scope, comes from another app, tenant or is app-only is a 403."""
    raised = expect(validator, bearer(make_token(kit)), error)

    assert 403 == raised.status
    assert [] == token_calls(kit.devstack)


def test_t2_unsigned_token_for_foreign_tenant_is_401_not_403(kit: Kit, validator: TokenValidator) -> None:
    """Forged tokens naming a foreign tenant are 401, so callers cannot probe which tenants are onboarded."""
    forged = kit.sign(kit.claims(tid=OTHER_TENANT_ID, iss=kit.settings.issuer(OTHER_TENANT_ID)))

    expect(validator, bearer(forged), InvalidToken)


# ---------------------------------------------------------------------------------------------------------------
# T3 — boundaries that must be accepted


T3_CASES: list[tuple[str, Callable[[Kit], str]]] = [
    ("exp -30 s", lambda k: k.token(exp=int(time.time()) - 30)),
    ("nbf +30 s", lambda k: k.token(nbf=int(time.time()) + 30)),
    ("iat +30 s", lambda k: k.token(iat=int(time.time()) + 30)),
    ("scp with openid", lambda k: k.token(scp="openid access_as_user")),
    ("scp last of several", lambda k: k.token(scp="User.Read profile access_as_user")),
    ("extra unknown claims", lambda k: k.token(xms_cc=["cp1"], acct=0)),
]


@pytest.mark.parametrize("make_token", [case[1] for case in T3_CASES], ids=[case[0] for case in T3_CASES])
def test_t3_boundary_tokens_are_accepted(kit: Kit, validator: TokenValidator, make_token: Callable[[Kit], str]) -> None:
    """Tokens inside the leeway or with extra scopes and claims are accepted."""
    principal = validator.validate(bearer(make_token(kit)))

    assert kit.tid == principal.tenant_id


def test_t3_second_onboarded_tenant_is_accepted(kit: Kit, clock: ManualClock) -> None:
    """A user of a second onboarded tenant is accepted with the same (common) key set."""
    settings = make_settings(kit.devstack, tenants=(kit.tid, OTHER_TENANT_ID))
    validator = TokenValidator(settings, make_session(kit.devstack), clock=clock)

    principal = validator.validate(bearer(kit.token(MALLORY)))

    assert (OTHER_TENANT_ID, "3a110000-0000-4000-8000-000000000006") == principal.key


def test_t3_allowed_client_apps_are_case_insensitive(kit: Kit, clock: ManualClock) -> None:
    """An allowlisted azp matches whatever the case of the configured value."""
    settings = make_settings(kit.devstack, allowed_client_apps=(DEFAULT_AZP.upper(),))
    validator = TokenValidator(settings, make_session(kit.devstack), clock=clock)

    assert DEFAULT_AZP == validator.validate(bearer(kit.token())).client_app


def test_t3_key_rotation_costs_one_fetch(kit: Kit, validator: TokenValidator) -> None:
    """After the IdP rolls its key, the first token with the new kid triggers exactly one JWKS fetch."""
    validator.validate(bearer(kit.token()))
    kit.devstack.http.post(f"{kit.devstack.url}/_devstack/keys/rotate", timeout=10).raise_for_status()
    kit.devstack.clear_log()

    for _ in range(5):
        validator.validate(bearer(kit.token()))

    assert 1 == len(key_fetches(kit.devstack))


# ---------------------------------------------------------------------------------------------------------------
# T4 — JWKS chaos


def test_t4_cold_cache_loads_keys_once(kit: Kit, validator: TokenValidator) -> None:
    """A cold validator fetches the common key set once, then serves from memory."""
    assert not validator.has_keys

    for _ in range(3):
        validator.validate(bearer(kit.token()))

    assert validator.has_keys
    assert [f"/common{KEYS_PATH}"] == [e["path"] for e in key_fetches(kit.devstack)]


@pytest.mark.parametrize("status", [500, 503])
def test_t4_warm_cache_survives_idp_errors(
    kit: Kit, validator: TokenValidator, clock: ManualClock, status: int
) -> None:
    """With keys loaded, a failing scheduled refresh keeps the last-known-good keys and tokens still validate."""
    validator.validate(bearer(kit.token()))
    kit.devstack.fault(target="identity", path=KEYS_PATH, status=status)
    clock.advance(13 * 3600)  # keys are now due for their scheduled refresh
    kit.devstack.clear_log()

    principal = validator.validate(bearer(kit.token()))
    validator.validate(bearer(kit.token()))

    assert kit.tid == principal.tenant_id
    assert [status] == [e["status"] for e in key_fetches(kit.devstack)]  # tried once, then rate-limited
    assert validator.has_keys


def test_t4_warm_cache_survives_idp_timeout(kit: Kit, clock: ManualClock) -> None:
    """A key fetch slower than the read timeout leaves the last-known-good keys in use."""
    settings = make_settings(kit.devstack, read_timeout=0.3)
    validator = TokenValidator(settings, make_session(kit.devstack), clock=clock)
    validator.validate(bearer(kit.token()))
    kit.devstack.fault(target="identity", path=KEYS_PATH, delayMs=1500)
    clock.advance(13 * 3600)

    started = time.monotonic()
    principal = validator.validate(bearer(kit.token()))

    assert kit.tid == principal.tenant_id
    assert time.monotonic() - started < 1.4
    wait_for_delayed(kit.devstack, KEYS_PATH, count=2)


def test_t4_refresh_keys_failure_keeps_keys(kit: Kit, validator: TokenValidator) -> None:
    """An explicit refresh that fails raises 503 but keeps the loaded keys for validation."""
    validator.refresh_keys()
    kit.devstack.fault(target="identity", path=KEYS_PATH, status=503, retryAfter=9)

    with pytest.raises(IdentityUnavailable) as caught:
        validator.refresh_keys()

    assert 9 == caught.value.retry_after
    assert validator.has_keys
    assert kit.tid == validator.validate(bearer(kit.token())).tenant_id


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        ({"status": 503, "retryAfter": 7}, 7),
        ({"status": 500}, 5),
        ({"status": 404}, 5),
        ({"delayMs": 1500}, 5),
    ],
    ids=["503 retry-after", "500", "404", "timeout"],
)
def test_t4_cold_cache_and_idp_down_is_503(
    kit: Kit, clock: ManualClock, fault: dict[str, Any], retry_after: int
) -> None:
    """With no keys and the IdP failing, the answer is 503 identity_unavailable with Retry-After, never 401."""
    settings = make_settings(kit.devstack, read_timeout=0.3)
    validator = TokenValidator(settings, make_session(kit.devstack), clock=clock)
    kit.devstack.fault(target="identity", path=KEYS_PATH, **fault)
    token = kit.token()

    error = expect(validator, bearer(token), IdentityUnavailable)

    assert 503 == error.status
    assert retry_after == error.retry_after
    assert {"Retry-After": str(retry_after)} == error.headers()
    assert not validator.has_keys
    wait_for_delayed(kit.devstack, KEYS_PATH)


def test_t4_cold_failure_backs_off_then_recovers(kit: Kit, validator: TokenValidator, clock: ManualClock) -> None:
    """After a failed cold load, requests get 503 without hammering the IdP, and recover once it is back."""
    kit.devstack.fault(target="identity", path=KEYS_PATH, status=503)
    token = kit.token()
    expect(validator, bearer(token), IdentityUnavailable)
    expect(validator, bearer(token), IdentityUnavailable)
    assert 1 == len(key_fetches(kit.devstack))

    kit.devstack.http.delete(f"{kit.devstack.url}/_devstack/faults", timeout=10).raise_for_status()
    clock.advance(6)

    assert kit.tid == validator.validate(bearer(token)).tenant_id
    assert 2 == len(key_fetches(kit.devstack))


def test_t4_random_kids_cost_at_most_one_fetch(kit: Kit, validator: TokenValidator) -> None:
    """200 tokens with random kids, sent from 10 threads, are all 401 and cost at most one JWKS fetch."""
    validator.validate(bearer(kit.token()))
    claims = kit.claims()
    forged = [bearer(kit.sign(claims, kid=uuid.uuid4().hex)) for _ in range(200)]
    kit.devstack.clear_log()

    def attempt(header: str) -> type[ApiError] | None:
        try:
            validator.validate(header)
        except ApiError as exc:
            return type(exc)
        return None

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, forged))

    assert [InvalidToken] * 200 == outcomes
    assert len(key_fetches(kit.devstack)) <= 1


def test_t4_random_kids_on_cold_cache_load_keys_once(kit: Kit, validator: TokenValidator) -> None:
    """Concurrent first requests share one cold load (single flight); unknown kids then add at most one fetch."""
    claims = kit.claims()
    forged = [bearer(kit.sign(claims, kid=uuid.uuid4().hex)) for _ in range(50)]

    def attempt(header: str) -> None:
        with pytest.raises(InvalidToken):
            validator.validate(header)

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(attempt, forged))

    assert len(key_fetches(kit.devstack)) <= 2


def test_t4_unknown_kid_with_idp_down_is_401_when_warm(kit: Kit, validator: TokenValidator) -> None:
    """An unknown kid while the IdP is down is a plain 401: the keys we have cannot verify it."""
    validator.validate(bearer(kit.token()))
    kit.devstack.fault(target="identity", path=KEYS_PATH, status=503)

    expect(validator, bearer(kit.sign(kid="not-a-published-kid")), InvalidToken)


# ---------------------------------------------------------------------------------------------------------------
# NumericDate claims are JSON numbers


def _soon() -> int:
    return int(time.time()) + 3000


def _past() -> int:
    return int(time.time()) - 30


NOT_NUMBERS: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("exp as a numeric string", lambda: {"exp": str(_soon())}),
    ("exp as a decimal string", lambda: {"exp": f"{_soon()}.0"}),
    ("exp true", lambda: {"exp": True}),
    ("exp as a list", lambda: {"exp": [_soon()]}),
    ("nbf as a numeric string", lambda: {"nbf": str(_past())}),
    ("nbf false", lambda: {"nbf": False}),
    ("iat as a numeric string", lambda: {"iat": str(_past())}),
    ("iat true", lambda: {"iat": True}),
]


@pytest.mark.parametrize("overrides", [c[1] for c in NOT_NUMBERS], ids=[c[0] for c in NOT_NUMBERS])
def test_numeric_dates_that_are_not_json_numbers_are_401(
    kit: Kit, validator: TokenValidator, overrides: Callable[[], dict[str, Any]]
) -> None:
    """A correctly signed token whose exp, nbf or iat is a string, a boolean or a list is a 401 invalid_token."""
    error = expect(validator, bearer(kit.token(**overrides())), InvalidToken)

    assert ("invalid_token", 401) == (error.code, error.status)


def test_numeric_dates_may_be_fractional_json_numbers(kit: Kit, validator: TokenValidator) -> None:
    """RFC 7519 NumericDates may be non-integer JSON numbers: such a token is accepted."""
    token = kit.token(exp=_soon() + 0.5, nbf=_past() + 0.25, iat=_past() + 0.25)

    assert kit.tid == validator.validate(bearer(token)).tenant_id
