"""The operations settings: Redis URL, trusted proxies and log level, validated with every problem named."""

from __future__ import annotations

import pytest

from addin_api.settings import Settings, SettingsError

BASE = {
    "ADDIN_API_CLIENT_ID": "6f1c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e",
    "ADDIN_API_CLIENT_SECRET": "a-secret-value",
    "ADDIN_API_TENANTS": "7a3c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e",
    "ADDIN_API_DATAVERSE_URLS": "7a3c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e=https://org.crm.dynamics.com",
    "ADDIN_API_PUBLIC_URL": "https://addin.contoso.example",
}


def test_defaults_keep_state_in_process_trust_loopback_and_log_info() -> None:
    """Without the new variables: no Redis, loopback proxies only, INFO."""
    settings = Settings.from_env(BASE)
    assert (None, "127.0.0.1,::1", "INFO") == (settings.redis_url, settings.forwarded_allow_ips, settings.log_level)


def test_valid_values_are_normalized() -> None:
    """A rediss URL is kept, proxy lists lose their spaces, the level is case-insensitive."""
    settings = Settings.from_env(
        {
            **BASE,
            "ADDIN_API_REDIS_URL": "rediss://:pw@cache.internal:6380/1",
            "ADDIN_API_FORWARDED_ALLOW_IPS": "10.0.0.0/8, fd00::/8 ,192.168.1.4",
            "ADDIN_API_LOG_LEVEL": "debug",
        }
    )
    assert ("rediss://:pw@cache.internal:6380/1", "10.0.0.0/8,fd00::/8,192.168.1.4", "DEBUG") == (
        settings.redis_url,
        settings.forwarded_allow_ips,
        settings.log_level,
    )
    assert "pw@" not in repr(settings)


def test_every_bad_operations_value_is_named_at_once() -> None:
    """A non-Redis URL, a host name among proxies and an unknown level: three problems, each naming its variable."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {
                **BASE,
                "ADDIN_API_REDIS_URL": "http://cache:6379",
                "ADDIN_API_FORWARDED_ALLOW_IPS": "lb.internal",
                "ADDIN_API_LOG_LEVEL": "chatty",
            }
        )
    assert [
        "ADDIN_API_REDIS_URL must be a redis://, rediss:// or unix:// URL",
        "ADDIN_API_FORWARDED_ALLOW_IPS: 'lb.internal' is not an IP address or network",
        "ADDIN_API_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR",
    ] == raised.value.problems
