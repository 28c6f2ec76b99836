"""`ADDIN_API_GRAPH_URL`: where the sync worker finds Microsoft Graph (the devstack in development)."""

from __future__ import annotations

import pytest
from test_settings import VALID

from addin_api.settings import Settings, SettingsError


def test_graph_is_microsofts_unless_configured() -> None:
    """Unset: Graph's global endpoint; set: that URL without a trailing slash."""
    assert ("https://graph.microsoft.com", "https://127.0.0.1:8444") == (
        Settings.from_env(VALID).graph_url,
        Settings.from_env({**VALID, "ADDIN_API_GRAPH_URL": "https://127.0.0.1:8444/"}).graph_url,
    )


@pytest.mark.parametrize("value", ["http://graph.microsoft.com", "https://graph.microsoft.com/v1.0", "graph"])
def test_a_graph_url_that_is_not_an_https_origin_is_named(value: str) -> None:
    """Plain HTTP (the token would travel in clear) or a path (the client adds /v1.0 itself) is a problem."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**VALID, "ADDIN_API_GRAPH_URL": value})

    assert ["ADDIN_API_GRAPH_URL must be an https://host[:port] URL"] == raised.value.problems
