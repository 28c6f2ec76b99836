"""Structured logs: one JSON `request` event per request with what support needs, and nothing it must not hold."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ALICE, Api, Devstack, capture_logs, log_leaks

from addin_api import logs
from addin_api.devstack import seed

SUBJECT_MARKER = "Quarterly-review-subject-7d1"
BODY_MARKER = "Confidential-body-text-91c"


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG, through the production handler (redacting filter and JSON formatter)."""
    with capture_logs() as stream:
        yield stream


def events(stream: io.StringIO, name: str | None = None) -> list[dict[str, Any]]:
    """The JSON events written so far (optionally only those named `name`)."""
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [e for e in found if name is None or e["event"] == name]


def track_body(message_id: str) -> dict[str, Any]:
    """A track request with recognizable subject and body."""
    return {
        "internetMessageId": message_id,
        "subject": SUBJECT_MARKER,
        "body": f"<p>{BODY_MARKER}</p>",
        "from": {"address": seed.DANA_EMAIL},
        "to": [{"address": ALICE}],
        "sentAt": "2026-11-20T09:30:00Z",
    }


def test_one_request_event_with_ids_tenant_hashed_user_and_dataverse_trips(
    api: Api, devstack: Devstack, captured: io.StringIO
) -> None:
    """Tracking logs one `request` event: request id, route, status, duration, tenant, hashed user, Dataverse ids."""
    api.get("/api/v1/me")  # warm the token and `me` caches so the next request's calls are only the track's own
    devstack.clear_log()
    captured.truncate(0)
    captured.seek(0)

    response = api.post("/api/v1/emails", track_body("<logs-1@example.org>"), headers={"X-Request-ID": "req-logs-1"})

    assert 201 == response.status_code
    dataverse = devstack.requests_log("dataverse")
    alice = next(u for u in devstack.config["users"] if u["upn"] == ALICE)
    [event] = events(captured, "request")
    assert {
        "request_id": "req-logs-1",
        "method": "POST",
        "route": "/api/v1/emails",
        "status": 201,
        "tenant": devstack.config["tenantId"],
        "user": logs.hashed_user(alice["tenantId"], alice["oid"]),
        "dataverse_round_trips": len(dataverse),
        "dataverse_request_ids": [e["serviceRequestId"] for e in dataverse],
        "identity_calls": 0,
    } == {k: event[k] for k in ("request_id", "method", "route", "status", "tenant", "user")} | {
        k: event[k] for k in ("dataverse_round_trips", "dataverse_request_ids", "identity_calls")
    }
    assert isinstance(event["duration_ms"], float) and event["duration_ms"] > 0
    assert 2 == len(dataverse) and all(event["dataverse_request_ids"])


def test_errors_are_logged_with_their_code_and_no_user_for_a_bad_token(api: Api, captured: io.StringIO) -> None:
    """A refused token is one event with status 401 and `invalid_token`, and no tenant or user."""
    response = api.get("/api/v1/me", token="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")

    assert 401 == response.status_code
    [event] = events(captured, "request")
    assert (401, "invalid_token", None, None) == (
        event["status"],
        event["code"],
        event.get("tenant"),
        event.get("user"),
    )


def test_email_content_addresses_and_tokens_never_reach_the_logs(
    api: Api, service_settings: Any, captured: io.StringIO
) -> None:
    """Tracking, searching and the sender card at DEBUG level log neither content, addresses, tokens nor secrets."""
    api.post("/api/v1/emails", track_body("<logs-2@example.org>"))
    api.get(f"/api/v1/people?email={seed.DANA_EMAIL}")
    api.get("/api/v1/regarding?search=Fabrikam")

    text = captured.getvalue()
    assert len(events(captured, "request")) == 3
    assert [] == log_leaks(text, (service_settings.client_secret,))
    assert (SUBJECT_MARKER not in text, BODY_MARKER not in text) == (True, True)


def test_filter_scrubs_message_arguments_extras_and_exceptions() -> None:
    """Whatever a logger is handed — message, args, extras, an exception — secrets and addresses are replaced."""
    stream = io.StringIO()
    handler = logs.handler(stream, secrets=("s3cr3t-Value~xyz",))
    logger = logging.getLogger("tests.ops.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxIn0.c2lnbmF0dXJl"
    try:
        try:
            raise ValueError(f"could not send to dana@fabrikam.example with {jwt_like}")
        except ValueError:
            logger.exception(
                "call failed for %s with Bearer %s and s3cr3t-Value~xyz",
                "erin@contoso.example",
                jwt_like,
                extra={
                    "authorization": "Bearer abc.def",
                    "body": "<p>hello</p>",
                    "url": "https://org.example/api/data/v9.2/contacts?$filter=emailaddress1%20eq%20%27x%40y.example%27",
                    "nested": {"to": ["a@b.example"], "note": "mail c@d.example"},
                    "count": 3,
                },
            )
    finally:
        logger.removeHandler(handler)
    [event] = events(stream)
    text = stream.getvalue()
    assert [] == log_leaks(text, ("s3cr3t-Value~xyz", "<p>hello</p>"))
    assert {
        "authorization": logs.REDACTED,
        "body": logs.REDACTED,
        "url": "https://org.example/api/data/v9.2/contacts?[query]",
        "nested": {"to": logs.REDACTED, "note": "mail [address]"},
        "count": 3,
    } == {k: event[k] for k in ("authorization", "body", "url", "nested", "count")}
    assert "ValueError: could not send to [address]" in event["exception"]


def test_each_trigger_alone_still_redacts_and_plain_text_is_kept() -> None:
    """The quick pre-check lets through every string a pattern could match, whatever its case."""
    scrub = logs.RedactingFilter().scrub
    assert "Authorization: Bearer [redacted]" == scrub("Authorization: BEARER abc.def")
    assert "[redacted]" == scrub("eyJhbGciOiJub25lIn0")
    assert "/contacts?[query]" == scrub("/contacts?$filter=x")
    assert "[address] and [address]" == scrub("dana@fabrikam.example and dana%40fabrikam.example")
    assert "POST /api/v1/emails 201 3f1c" == scrub("POST /api/v1/emails 201 3f1c")


def test_concurrent_records_come_out_as_whole_lines() -> None:
    """Formatting happens outside the handler's lock, but lines from many threads never interleave."""
    stream = io.StringIO()
    handler = logs.handler(stream)
    logger = logging.getLogger("tests.ops.concurrent")
    logger.addHandler(handler)
    logger.propagate = False

    def write(thread: int) -> None:
        for n in range(200):
            logger.warning("event", extra={"writer": thread, "n": n, "padding": "x" * 500})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logger.removeHandler(handler)
    written = sorted((e["writer"], e["n"]) for e in events(stream))
    assert [(t, n) for t in range(8) for n in range(200)] == written
    assert 1600 == len(stream.getvalue().splitlines())


def test_dataverse_calls_are_logged_at_debug_with_their_times(
    api: Api, devstack: Devstack, captured: io.StringIO
) -> None:
    """Each Dataverse call is a DEBUG event with its times; a 429 also says when the user's window opened."""
    api.get("/api/v1/me")
    devstack.fault(target="dataverse", path=r"\$batch", status=429, retryAfter=120, count=1)
    devstack.clear_log()
    captured.truncate(0)
    captured.seek(0)

    assert 429 == api.get("/api/v1/regarding", query_string={"search": "Fab"}).status_code
    assert 429 == api.get("/api/v1/regarding", query_string={"search": "Fab"}).status_code

    [sent] = devstack.requests_log("dataverse")  # the second request sent nothing
    [call] = events(captured, "dataverse.call")
    assert (429, "POST", sent["serviceRequestId"]) == (call["status"], call["method"], call["service_request_id"])
    assert sent["at"] - 5 < call["checked_at"] <= call["sent_at"] <= call["answered_at"] <= call["window_opened_at"]
    assert call["window_opened_at"] <= time.time()
    assert [] == log_leaks(captured.getvalue(), ())
