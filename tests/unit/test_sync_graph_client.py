"""The Graph client over a fake session at its port: what every request carries, retries, failures, links, logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from conftest import capture_logs
from requests.structures import CaseInsensitiveDict

from addin_api.sync.graph import GraphClient
from addin_api.sync.graph_errors import GraphAccessDenied, GraphAuthenticationFailed, GraphError, GraphUnavailable
from addin_api.sync.graph_limits import RetryPolicy

GRAPH = "https://graph.example"
TOKEN = "eyJ.app-token.sig"
ALICE = "alice@contoso.example"


def answer(
    status: int, body: Any = None, retry_after: str | None = None, raw: bytes | None = None
) -> requests.Response:
    """A response as requests would build it."""
    response = requests.Response()
    response.status_code = status
    response._content = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
    response.headers = CaseInsensitiveDict({"Retry-After": retry_after} if retry_after else {})
    return response


class FakeSession(requests.Session):
    """Answers queued responses (or raises queued exceptions) and records every request."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Record the request; pop the next answer."""
        self.sent.append({"method": method, "url": url, **kwargs})
        nxt = self.answers.pop(0)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt


def client(session: FakeSession, waits: list[float] | None = None, **options: Any) -> GraphClient:
    """A client of the fake Graph whose waits are recorded."""
    sleep = waits.append if waits is not None else lambda _: None
    return GraphClient(
        session, GRAPH, lambda _refresh: TOKEN, timeout=(1.0, 2.0), tenant_id="t", sleep=sleep, **options
    )


def test_every_request_carries_the_token_immutable_ids_and_the_timeout() -> None:
    """One GET with the app token, Prefer: IdType="ImmutableId" and our (connect, read) timeout."""
    session = FakeSession(answer(200, {"id": "AQMk", "displayName": "Inbox"}))

    folder = client(session).mail_folder(ALICE, "inbox")

    sent = session.sent[0]
    assert ("AQMk", "GET", f"{GRAPH}/v1.0/users/{ALICE}/mailFolders/inbox") == (folder.id, sent["method"], sent["url"])
    assert (f"Bearer {TOKEN}", 'IdType="ImmutableId"', (1.0, 2.0)) == (
        sent["headers"]["Authorization"],
        sent["headers"]["Prefer"],
        sent["timeout"],
    )


def test_delta_asks_for_the_page_size_and_selects_only_on_the_first_page() -> None:
    """The first page sends $select and odata.maxpagesize; the nextLink is followed as given."""
    next_link = f"{GRAPH}/v1.0/users/{ALICE}/mailFolders/f/messages/delta?$skiptoken=2"
    session = FakeSession(
        answer(200, {"value": [{"id": "m1"}], "@odata.nextLink": next_link}),
        answer(200, {"value": [{"id": "m2", "@removed": {"reason": "deleted"}}], "@odata.deltaLink": "d"}),
    )

    pages = list(client(session).messages_delta(ALICE, "f", ["subject", "categories"], page_size=50))

    assert [{"$select": "subject,categories"}, None] == [s["params"] for s in session.sent]
    assert next_link == session.sent[1]["url"]
    assert ['odata.maxpagesize=50, IdType="ImmutableId"'] * 2 == [s["headers"]["Prefer"] for s in session.sent]
    assert [(("m1",), ()), ((), ("m2",))] == [(tuple(i["id"] for i in p.items), p.removed) for p in pages]
    assert "d" == pages[-1].delta_link


def test_a_next_link_to_another_host_is_not_followed() -> None:
    """After a page whose nextLink leaves the Graph URL, nothing more is sent and the round fails."""
    session = FakeSession(answer(200, {"value": [], "@odata.nextLink": "https://graph.example.evil/v1.0/x"}))

    with pytest.raises(GraphError, match="foreign_link"):
        list(client(session).messages_delta(ALICE, "f", ["subject"]))

    assert 1 == len(session.sent)


def test_a_503_without_retry_after_is_sent_again_after_a_backoff() -> None:
    """503 without Retry-After: one wait of a second, then the answer."""
    waits: list[float] = []
    session = FakeSession(answer(503, {"error": {"code": "ServiceUnavailable"}}), answer(200, {"value": []}))

    assert [] == client(session, waits).master_categories(ALICE)
    assert ([1.0], 2) == (waits, len(session.sent))


def test_a_refusal_is_not_retried() -> None:
    """403 is raised after one request, with Graph's code."""
    session = FakeSession(answer(403, {"error": {"code": "ErrorAccessDenied", "message": "no"}}))

    with pytest.raises(GraphAccessDenied):
        client(session, policy=RetryPolicy(max_attempts=5)).master_categories(ALICE)

    assert 1 == len(session.sent)


def test_no_answer_is_graph_unavailable_with_status_0() -> None:
    """A connection error is not retried by the client (the job is): GraphUnavailable(0, ConnectionError)."""
    session = FakeSession(requests.ConnectionError("refused"))

    with pytest.raises(GraphUnavailable) as raised:
        client(session).mail_folder(ALICE, "sentitems")

    assert (0, "ConnectionError", 1) == (raised.value.status, raised.value.code, len(session.sent))


def test_a_success_that_is_not_json_is_graph_unavailable() -> None:
    """200 with an HTML body (a proxy's page) is not taken for Graph's answer."""
    session = FakeSession(answer(200, raw=b"<html>captive portal</html>"))

    with pytest.raises(GraphUnavailable) as raised:
        client(session).master_categories(ALICE)

    assert (200, "not_json") == (raised.value.status, raised.value.code)


def test_a_patch_sends_the_whole_category_list() -> None:
    """Categories are replaced by a PATCH of exactly the names given."""
    session = FakeSession(answer(200, {"id": "m", "categories": ["Tracked to Dynamics 365"]}))

    client(session).set_categories(ALICE, "m/1", ["Tracked to Dynamics 365"])

    sent = session.sent[0]
    assert ("PATCH", f"{GRAPH}/v1.0/users/{ALICE}/messages/m%2F1", {"categories": ["Tracked to Dynamics 365"]}) == (
        sent["method"],
        sent["url"],
        sent["json"],
    )


def test_logs_name_the_failure_but_not_the_mailbox_the_message_or_the_token() -> None:
    """A failed call logs its operation, status and code; no address, Graph message or token."""
    message = "Mailbox alice@contoso.example is over quota: Subject 'Secret merger'"
    session = FakeSession(
        answer(429, {"error": {"code": "ApplicationThrottled", "message": message}}, "1"),
        answer(403, {"error": {"code": "ErrorAccessDenied", "message": message}}),
    )

    with capture_logs() as logs, pytest.raises(GraphAccessDenied):
        client(session).mail_folder(ALICE, "inbox")

    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [("graph_retry", 429), ("graph_failed", 403)] == [(e["event"], e["status"]) for e in events]
    assert ("mail_folder", "ErrorAccessDenied") == (events[-1]["operation"], events[-1]["code"])
    text = logs.getvalue()
    assert [False, False, False] == [s in text for s in ("alice@", "merger", TOKEN)]


@pytest.mark.parametrize(("body", "code"), [([], "not_json"), ({"displayName": "Inbox"}, "malformed_answer")])
def test_an_answer_that_is_not_an_entity_is_refused(body: Any, code: str) -> None:
    """A JSON array, or an object without an id, is not a folder."""
    with pytest.raises(GraphError) as raised:
        client(FakeSession(answer(200, body))).mail_folder(ALICE, "inbox")

    assert code == raised.value.code


def test_a_401_is_answered_once_with_a_fresh_token() -> None:
    """Graph refuses the cached token: a fresh one is asked for and the request sent again, once only."""
    refused = {"error": {"code": "InvalidAuthenticationToken"}}
    session = FakeSession(answer(401, refused), answer(200, {"value": []}), answer(401, refused), answer(401, refused))
    asked: list[bool] = []

    def token(refresh: bool) -> str:
        asked.append(refresh)
        return f"token-{len(asked)}"

    graph = GraphClient(session, GRAPH, token, timeout=(1.0, 2.0), tenant_id="t")
    graph.master_categories(ALICE)
    with pytest.raises(GraphAuthenticationFailed):
        graph.master_categories(ALICE)

    assert [False, True, False, True] == asked
    assert ["Bearer token-1", "Bearer token-2"] == [s["headers"]["Authorization"] for s in session.sent[:2]]
