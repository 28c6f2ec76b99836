"""The log scan of tests/api is live: it sees the service's JSON events, redacted."""

from __future__ import annotations

import io
import json

from conftest import ALICE, Api

from addin_api.devstack import seed


def test_scan_captures_redacted_request_events(api: Api, scanned_logs: io.StringIO | None) -> None:
    """A request with a token and an address in the query is logged as one JSON event, without either."""
    response = api.get(f"/api/v1/people?email={seed.DANA_EMAIL}")
    assert 200 == response.status_code
    assert scanned_logs is not None
    events = [json.loads(line) for line in scanned_logs.getvalue().splitlines() if line.startswith("{")]
    requests = [e for e in events if e["event"] == "request"]
    assert [("/api/v1/people", 200)] == [(e["route"], e["status"]) for e in requests]
    text = scanned_logs.getvalue()
    assert seed.DANA_EMAIL not in text and ALICE not in text
    assert api.headers(ALICE)["Authorization"].split()[1] not in text
