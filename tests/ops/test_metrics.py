"""`/metrics` in one process: requests by route and status, throttling events and token-cache hits."""

from __future__ import annotations

from conftest import Api, Devstack
from flask.testing import FlaskClient
from opsutil import metric


def exposition(client: FlaskClient) -> str:
    """The current text exposition."""
    response = client.get("/metrics")
    assert (200, "text/plain") == (response.status_code, response.mimetype)
    return response.get_data(as_text=True)


def test_throttling_from_dataverse_and_from_the_retry_after_window_are_counted(
    api: Api, devstack: Devstack, client: FlaskClient
) -> None:
    """A 429 with Retry-After 120 counts once as `dataverse`; the next request, refused locally, as the window."""
    api.get("/api/v1/me")
    devstack.fault(target="dataverse", path=r"\$batch", status=429, retryAfter=120, count=1)

    first = api.get("/api/v1/regarding?search=Fab")
    second = api.get("/api/v1/regarding?search=Fab")

    assert (429, "120", 429) == (first.status_code, first.headers["Retry-After"], second.status_code)
    text = exposition(client)
    assert (1.0, 1.0, 2.0) == (
        metric(text, "addin_api_throttled_total", source="dataverse"),
        metric(text, "addin_api_throttled_total", source="retry_after_window"),
        metric(text, "addin_api_requests_total", route="/api/v1/regarding", status="429"),
    )


def test_token_cache_hits_and_misses_and_outbound_calls_are_counted(api: Api, client: FlaskClient) -> None:
    """Three searches by one user: one OBO (a miss), then hits; Dataverse calls counted by status."""
    for _ in range(3):
        assert 200 == api.get("/api/v1/regarding?search=Fab").status_code

    text = exposition(client)
    assert (1.0, 2.0, 3.0, 3.0) == (
        metric(text, "addin_api_token_cache_lookups_total", result="miss"),
        metric(text, "addin_api_token_cache_lookups_total", result="hit"),
        metric(text, "addin_api_outbound_requests_total", target="dataverse", status="200"),
        metric(text, "addin_api_request_duration_seconds_count", route="/api/v1/regarding", status="200"),
    )
    assert 1.0 <= metric(text, "addin_api_outbound_requests_total", target="identity", status="200")
