"""The emulated Dataverse verifies a bearer token once and then remembers it until it expires."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from addin_api.devstack import identity
from addin_api.devstack.identity import TokenRejected, mint_access_token, verify_dataverse_token
from addin_api.devstack.keys import RETIRED_KEY_SECONDS
from addin_api.devstack.server import create_devstack_app
from addin_api.devstack.state import DevstackState

ALICE = "alice@contoso.example"


@pytest.fixture()
def state(tmp_path: Path) -> DevstackState:
    """A devstack state of its own (keys, config, an empty verified-token cache)."""
    app = create_devstack_app(tmp_path, "https://127.0.0.1:1")
    devstack: DevstackState = app.extensions["devstack"]
    return devstack


@pytest.fixture()
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count signature verifications (`jwt.decode` with a key) in the identity module."""
    calls: list[str] = []
    real = jwt.decode

    def counting(token: str, key: Any = None, *args: Any, **kwargs: Any) -> Any:
        if key is not None:
            calls.append(token)
        return real(token, key, *args, **kwargs)

    monkeypatch.setattr(identity.jwt, "decode", counting)
    return calls


def alice(state: DevstackState) -> Any:
    """Alice's configured user."""
    return next(u for u in state.config.users if u.upn == ALICE)


def test_a_token_is_verified_once(state: DevstackState, decodes: list[str]) -> None:
    """The second presentation of the same token skips signature verification; another token does not."""
    token, _ = mint_access_token(state, alice(state), "dataverse")
    assert ALICE == verify_dataverse_token(state, token).upn
    assert ALICE == verify_dataverse_token(state, token).upn
    assert 1 == len(decodes)
    other, _ = mint_access_token(state, alice(state), "dataverse")
    verify_dataverse_token(state, other)
    assert 2 == len(decodes)


def test_failures_are_not_remembered(state: DevstackState, decodes: list[str]) -> None:
    """A rejected token is checked again (and rejected again) each time."""
    token, _ = mint_access_token(state, alice(state), "dataverse", {"aud": "https://elsewhere.example"})
    for _ in range(2):
        with pytest.raises(TokenRejected):
            verify_dataverse_token(state, token)
    assert 2 == len(decodes)
    assert 0 == len(state.verified_tokens)


def test_a_remembered_token_expires(state: DevstackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once `exp` plus the five minutes of skew has passed, a remembered token is refused as expired."""
    token, expires_in = mint_access_token(state, alice(state), "dataverse")
    verify_dataverse_token(state, token)
    now = identity.time.time()
    monkeypatch.setattr(identity.time, "time", lambda: now + expires_in + identity.LEEWAY_SECONDS + 5)
    with pytest.raises(TokenRejected) as rejected:
        verify_dataverse_token(state, token)
    assert rejected.value.expired
    assert 0 == len(state.verified_tokens)


def test_a_remembered_token_needs_its_key(state: DevstackState) -> None:
    """When the signing key is no longer published, the token is verified afresh, and refused."""
    token, _ = mint_access_token(state, alice(state), "dataverse")
    verify_dataverse_token(state, token)
    retired_kid = state.keys.active.kid
    state.keys.rotate()
    retired = next(k for k in state.keys.published() if k.kid == retired_kid)
    retired.retired_at = time.time() - RETIRED_KEY_SECONDS - 1  # past the day Entra keeps a retired key
    with pytest.raises(TokenRejected, match="signing key not found"):
        verify_dataverse_token(state, token)


def test_the_cache_is_bounded() -> None:
    """The least recently used token goes first."""
    cache = identity.VerifiedTokens(size=2)
    key: Any = object()
    for n in range(3):
        cache.put((f"t{n}", "aud", "iss"), {"exp": 2**40}, key)
    assert 2 == len(cache)
