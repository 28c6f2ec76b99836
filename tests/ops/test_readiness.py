"""`/readyz`: not ready while settings are invalid or signing keys cannot be loaded; ready again once they can."""

from __future__ import annotations

import os
import time

import pytest
from conftest import ALICE, Devstack

from addin_api import create_app
from addin_api.cli import dev_environment
from addin_api.devstack.control import config_document
from addin_api.settings import Settings


def identity_fetches(devstack: Devstack) -> tuple[int, int]:
    """How many signing-key and OpenID-configuration requests the devstack's identity provider served."""
    paths = [e["path"] for e in devstack.requests_log("identity")]
    return (
        sum(p.endswith("/discovery/v2.0/keys") for p in paths),
        sum(p.endswith("/.well-known/openid-configuration") for p in paths),
    )


def test_readyz_while_the_idp_fails_fetches_within_the_backoff_and_recovers(
    service_settings: Settings, devstack: Devstack
) -> None:
    """Ten probes of a cold app with the IdP failing (Retry-After 3) are 503 and cost one key fetch and one metadata
    fetch, which an API request in the same window shares; once the IdP is back and its Retry-After has passed, the
    probe is 200."""
    app = create_app(service_settings)
    client = app.test_client()
    devstack.fault(target="identity", path=r".", status=503, retryAfter=3)

    failing = [client.get("/readyz") for _ in range(10)]
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {devstack.token(ALICE)}"})

    assert [(503, "unavailable", "unavailable")] * 10 == [
        (r.status_code, r.get_json()["checks"]["signingKeys"], r.get_json()["checks"]["identityMetadata"])
        for r in failing
    ]
    assert "3" == failing[0].headers["Retry-After"]
    assert all(1 <= int(r.headers["Retry-After"]) <= 3 for r in failing)
    assert (503, "identity_unavailable") == (api.status_code, api.get_json()["code"])
    assert (1, 1) == identity_fetches(devstack)
    devstack.http.delete(f"{devstack.url}/_devstack/faults", timeout=10).raise_for_status()
    time.sleep(3.1)  # the IdP's Retry-After
    recovered = client.get("/readyz")
    assert (200, {"settings": "ok", "signingKeys": "ok", "identityMetadata": "ok"}) == (
        recovered.status_code,
        recovered.get_json()["checks"],
    )


def test_readyz_once_ready_reads_cached_state_while_the_idp_is_down(
    service_settings: Settings, devstack: Devstack
) -> None:
    """A ready app stays ready with the IdP down (last-known-good keys, built MSAL apps) and asks the IdP nothing."""
    client = create_app(service_settings).test_client()
    assert 200 == client.get("/readyz").status_code
    devstack.clear_log()
    devstack.fault(target="identity", path=r".", status=503, retryAfter=1)

    probes = [client.get("/readyz").status_code for _ in range(10)]

    assert ([200] * 10, []) == (probes, devstack.requests_log("identity"))


def test_readyz_fails_on_invalid_settings_and_recovers_when_the_environment_is_fixed(
    monkeypatch: pytest.MonkeyPatch, devstack: Devstack
) -> None:
    """An app built from a bad environment names the problems; once the environment is fixed it re-reads it."""
    for name in [n for n in os.environ if n.startswith("ADDIN_API_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADDIN_API_REDIS_URL", "http://not-redis")
    client = create_app().test_client()

    failing = client.get("/readyz")
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {devstack.token(ALICE)}"})

    assert 503 == failing.status_code
    problems = failing.get_json()["problems"]
    assert any("ADDIN_API_CLIENT_ID" in p for p in problems) and any("ADDIN_API_REDIS_URL" in p for p in problems)
    assert (503, "configuration_error") == (refused.status_code, refused.get_json()["code"])

    monkeypatch.delenv("ADDIN_API_REDIS_URL")
    for name, value in dev_environment(config_document(devstack.server.state), "https://127.0.0.1:5000").items():
        monkeypatch.setenv(name, value)
    ready = client.get("/readyz")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {devstack.token(ALICE)}"})

    assert (200, 200, True) == (ready.status_code, me.status_code, me.get_json()["canUseAddIn"])
