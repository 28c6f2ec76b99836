"""The service's outbound HTTP session, against the devstack's HTTPS listener."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from conftest import Devstack

from addin_api.settings import Settings
from addin_api.wiring import build_session


def test_session_trusts_public_cas_plus_the_configured_one(devstack: Devstack, service_settings: Settings) -> None:
    """The outbound session verifies TLS: the devstack's CA is trusted only when configured."""
    trusting = build_session(service_settings)
    assert 200 == trusting.get(f"{devstack.url}/_devstack/config", timeout=10).status_code
    assert 200 == trusting.get(f"{devstack.url}/_devstack/config", timeout=10).status_code
    strict = build_session(replace(service_settings, ca_bundle=None))
    with pytest.raises(requests.exceptions.SSLError):
        strict.get(f"{devstack.url}/_devstack/config", timeout=10)
    for session in (trusting, strict):
        session.close()
