"""Settings.from_env: every missing or invalid variable is named at once; valid input parses into typed values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from addin_api.settings import OFFICE_CLIENT_APPS, Settings, SettingsError

TENANT = "7a3c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e"
CLIENT = "4d7e2b9a-6c1f-4e3d-a8b5-9f0e1d2c3b4a"
VALID = {
    "ADDIN_API_CLIENT_ID": CLIENT,
    "ADDIN_API_CLIENT_SECRET": "s3cret",
    "ADDIN_API_TENANTS": TENANT,
    "ADDIN_API_DATAVERSE_URLS": f"{TENANT}=https://contoso.crm.dynamics.com/",
    "ADDIN_API_PUBLIC_URL": "https://addin.contoso.example/",
}


def test_valid_environment_parses_with_defaults() -> None:
    """A minimal valid environment gives typed settings with the documented defaults."""
    settings = Settings.from_env(VALID)
    assert (CLIENT, (TENANT,)) == (settings.client_id, settings.tenants)
    assert {TENANT: "https://contoso.crm.dynamics.com"} == dict(settings.dataverse_urls)
    assert "https://login.microsoftonline.com" == settings.authority_host
    assert (*OFFICE_CLIENT_APPS, CLIENT) == settings.allowed_client_apps, "the pane's own id, for NAA tokens"
    assert CLIENT == settings.nested_app_client_id
    assert 5 * 1024 * 1024 == settings.max_attachment_bytes
    assert f"https://login.microsoftonline.com/{TENANT}/v2.0" == settings.issuer(TENANT)


def test_naa_client_id_is_accepted_as_azp() -> None:
    """A separate SPA registration for nested app authentication: the pane uses it and its tokens are accepted."""
    spa = "0b6f3a2e-9c4d-4e8f-b1a7-2d5c8e9f0a1b"
    settings = Settings.from_env({**VALID, "ADDIN_API_NAA_CLIENT_ID": spa.upper()})
    assert (spa, spa) == (settings.naa_client_id, settings.nested_app_client_id)
    assert (*OFFICE_CLIENT_APPS, spa) == settings.allowed_client_apps


def test_secret_is_not_in_repr() -> None:
    """The client secret never shows up when settings are printed or logged."""
    assert "s3cret" not in repr(Settings.from_env(VALID))


def test_every_problem_is_named_at_once() -> None:
    """An empty environment names the id, the credential, the tenants and the public URL in one error."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({})
    text = "\n".join(raised.value.problems)
    for name in ("ADDIN_API_CLIENT_ID", "ADDIN_API_CLIENT_SECRET", "ADDIN_API_TENANTS", "ADDIN_API_PUBLIC_URL"):
        assert name in text
    assert 4 == len(raised.value.problems)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"ADDIN_API_CLIENT_ID": "not-a-guid"}, "ADDIN_API_CLIENT_ID"),
        ({"ADDIN_API_TENANTS": "nope"}, "ADDIN_API_TENANTS"),
        ({"ADDIN_API_TENANTS": "9188040d-6c67-4c5b-b112-36a304b66dad"}, "personal-accounts"),
        ({"ADDIN_API_DATAVERSE_URLS": f"{TENANT}=http://contoso.crm.dynamics.com"}, "ADDIN_API_DATAVERSE_URLS"),
        ({"ADDIN_API_DATAVERSE_URLS": ""}, "no environment for tenant"),
        ({"ADDIN_API_AUTHORITY_HOST": "http://login.example"}, "ADDIN_API_AUTHORITY_HOST"),
        ({"ADDIN_API_ALLOWED_CLIENT_APPS": "office"}, "ADDIN_API_ALLOWED_CLIENT_APPS"),
        ({"ADDIN_API_NAA_CLIENT_ID": "spa"}, "ADDIN_API_NAA_CLIENT_ID"),
        ({"ADDIN_API_MAX_ATTACHMENT_BYTES": "lots"}, "ADDIN_API_MAX_ATTACHMENT_BYTES"),
        ({"ADDIN_API_MAX_ATTACHMENT_BYTES": str(200 * 1024 * 1024)}, "128 MB"),
        ({"ADDIN_API_CA_BUNDLE": "/nonexistent/ca.pem"}, "ADDIN_API_CA_BUNDLE"),
        ({"ADDIN_API_SHARED_STATE_DIR": "/nonexistent/state"}, "ADDIN_API_SHARED_STATE_DIR"),
        ({"ADDIN_API_CLIENT_SECRET": "", "ADDIN_API_CLIENT_CERT_PATH": "/nonexistent.pem"}, "CLIENT_CERT"),
        ({"ADDIN_API_PUBLIC_URL": ""}, "ADDIN_API_PUBLIC_URL is required"),
        ({"ADDIN_API_PUBLIC_URL": "addin.contoso.example"}, "ADDIN_API_PUBLIC_URL"),
        ({"ADDIN_API_PUBLIC_URL": "https://addin.contoso.example/?x=1"}, "ADDIN_API_PUBLIC_URL"),
    ],
)
def test_invalid_values_are_named(override: dict[str, str], named: str) -> None:
    """Each invalid variable is reported by name."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**VALID, **override})
    assert any(named in p for p in raised.value.problems), raised.value.problems


def test_check_config_prints_the_same_problems(tmp_path: Path) -> None:
    """`addin-api check-config` exits 1 and lists every problem; with a valid environment it exits 0."""
    script = [sys.executable, "-m", "addin_api.cli", "check-config"]
    failed = subprocess.run(script, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert 1 == failed.returncode
    assert "ADDIN_API_CLIENT_ID" in failed.stderr and "ADDIN_API_TENANTS" in failed.stderr
    passed = subprocess.run(script, env={"PATH": "/usr/bin:/bin", **VALID}, capture_output=True, text=True, timeout=60)
    assert (0, "configuration OK") == (passed.returncode, passed.stdout[:16])
