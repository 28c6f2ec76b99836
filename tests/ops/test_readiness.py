"""`/readyz`: not ready while settings are invalid or signing keys cannot be loaded; ready again once they can."""

from __future__ import annotations

import os

import pytest
from conftest import ALICE, Devstack

from addin_api import create_app
from addin_api.cli import dev_environment
from addin_api.devstack.control import config_document
from addin_api.settings import Settings


def test_readyz_fails_while_signing_keys_are_unloadable_and_recovers(
    service_settings: Settings, devstack: Devstack
) -> None:
    """With the IdP's key endpoint failing /readyz is 503 (`signingKeys: unavailable`); once it is back, 200."""
    client = create_app(service_settings).test_client()
    devstack.fault(target="identity", path=r"/discovery/", status=500)

    failing = client.get("/readyz")

    assert (503, "unavailable", "5") == (
        failing.status_code,
        failing.get_json()["checks"]["signingKeys"],
        failing.headers["Retry-After"],
    )
    devstack.http.delete(f"{devstack.url}/_devstack/faults", timeout=10).raise_for_status()
    recovered = client.get("/readyz")
    assert (200, {"settings": "ok", "signingKeys": "ok", "identityMetadata": "ok"}) == (
        recovered.status_code,
        recovered.get_json()["checks"],
    )


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
