"""The worker's Graph client and Test & Enable's probe against the devstack's emulated Graph, app-only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import ALICE, Devstack, make_session, make_settings
from graph_support import BOB, as_user, deliver

from addin_api.sync.graph import DELTA_FIELDS, GraphClient
from addin_api.sync.graph_errors import (
    GraphAuthenticationFailed,
    GraphConflict,
    GraphError,
    GraphThrottled,
    MailboxNotFound,
    SyncStateLost,
)
from addin_api.sync.graph_limits import MailboxSlots, RetryPolicy
from addin_api.sync.probe import TRACKED_CATEGORY, MailboxProbe, probe_mailbox

NOBODY = "nobody@contoso.example"
SELECT = ("subject", "categories", "internetMessageId", "parentFolderId")  # a smaller set than DELTA_FIELDS


def client(devstack: Devstack, **options: Any) -> GraphClient:
    """The worker's Graph client for the devstack's tenant, configured as the service would be."""
    return GraphClient.for_app(make_settings(devstack), make_session(devstack), devstack.config["tenantId"], **options)


@pytest.fixture()
def waits() -> list[float]:
    """The waits the client asked for (recorded instead of slept)."""
    return []


@pytest.fixture()
def graph(devstack: Devstack, waits: list[float]) -> GraphClient:
    """A client that records its waits instead of sleeping."""
    return client(devstack, sleep=waits.append)


def graph_requests(devstack: Devstack) -> list[tuple[str, int]]:
    """(path, status) of each request the emulated Graph answered since the log was cleared."""
    return [(e["path"], e["status"]) for e in devstack.requests_log("graph")]


# -- the probe ----------------------------------------------------------------------------------------------------


def test_probe_of_alice_finds_both_folders_and_the_tracking_category(devstack: Devstack, graph: GraphClient) -> None:
    """alice's mailbox (approved, seeded with the category) is readable and tracked, in three requests."""
    devstack.clear_log()

    probe = probe_mailbox(graph, ALICE)

    assert MailboxProbe(True, True, True, None) == probe
    assert probe.ok
    assert 3 == len(graph_requests(devstack))


def test_probe_of_a_user_without_the_category_says_so(devstack: Devstack, graph: GraphClient) -> None:
    """bob's mailbox is readable but has no tracking category; that is not a failure."""
    assert MailboxProbe(True, True, False, None) == probe_mailbox(graph, BOB)


def test_probe_of_an_unknown_user_stops_at_the_first_request(devstack: Devstack, graph: GraphClient) -> None:
    """A user Graph does not know: mailbox_not_found, after one request."""
    devstack.clear_log()

    probe = probe_mailbox(graph, NOBODY)

    assert (MailboxProbe(False, False, False, "mailbox_not_found"), False) == (probe, probe.ok)
    assert [404] == [status for _, status in graph_requests(devstack)]


def test_probe_outside_the_application_access_policy_is_access_denied(devstack: Devstack, graph: GraphClient) -> None:
    """An application access policy that scopes the app to alice only: bob's probe is access_denied."""
    devstack.http.put(
        f"{devstack.url}/_devstack/graph/access-policy", json={"users": [ALICE]}, timeout=10
    ).raise_for_status()

    assert MailboxProbe(False, False, False, "access_denied") == probe_mailbox(graph, BOB)


def test_probe_that_stays_throttled_says_throttled(devstack: Devstack) -> None:
    """Sent Items keeps answering 429 past the retries allowed: the Inbox was read, the reason is throttled."""
    graph = client(devstack, sleep=lambda _: None, policy=RetryPolicy(max_attempts=2))
    devstack.fault(target="graph", path="/mailFolders/sentitems$", status=429, retryAfter=1, count=2)

    assert MailboxProbe(True, False, False, "throttled") == probe_mailbox(graph, ALICE)


# -- operations ---------------------------------------------------------------------------------------------------


def test_well_known_folders_come_with_immutable_ids(devstack: Devstack, graph: GraphClient) -> None:
    """Inbox and Sent Items by well-known name, their ids the immutable ones (as the user's own client sees them)."""
    own = as_user(devstack)
    expected = [
        own.json("GET", f"/me/mailFolders/{name}", 'IdType="ImmutableId"')["id"] for name in ("inbox", "sentitems")
    ]

    folders = [graph.mail_folder(ALICE, "inbox"), graph.mail_folder(ALICE, "sentitems")]

    assert expected == [f.id for f in folders]
    assert ["Inbox", "Sent Items"] == [f.display_name for f in folders]


def test_delta_pages_follow_next_links_to_the_delta_link(devstack: Devstack, graph: GraphClient) -> None:
    """A first round of alice's Inbox in pages of 2: the 3 seeded messages with the selected fields, then a cursor."""
    inbox = graph.mail_folder(ALICE, "inbox")

    pages = list(graph.messages_delta(ALICE, inbox.id, SELECT, page_size=2))

    assert [(2, True, False), (1, False, True)] == [
        (len(p.items), p.next_link is not None, p.delta_link is not None) for p in pages
    ]
    assert 3 == len({m["id"] for p in pages for m in p.items})
    assert all(set(m) - {"@odata.etag", "@odata.type"} <= {"id", *SELECT} for p in pages for m in p.items)


def test_the_default_fields_are_what_a_track_decision_reads(devstack: Devstack, graph: GraphClient) -> None:
    """Without a `select`, each message of the round carries the sender, recipients, dates, ids and categories."""
    inbox = graph.mail_folder(ALICE, "inbox")

    messages = [m for p in graph.messages_delta(ALICE, inbox.id) for m in p.items]

    assert 3 == len(messages)
    assert all({"id", *DELTA_FIELDS} <= set(m) for m in messages), sorted(messages[0])
    assert {"body"}.isdisjoint(messages[0])


def test_a_delta_round_from_the_cursor_brings_new_and_removed_messages(devstack: Devstack, graph: GraphClient) -> None:
    """After a message arrives and another is deleted, the next round names both, and ends with a new cursor."""
    inbox = graph.mail_folder(ALICE, "inbox")
    first = list(graph.messages_delta(ALICE, inbox.id, SELECT))
    gone = first[0].items[0]["id"]
    as_user(devstack).call("DELETE", f"/me/messages/{gone}").raise_for_status()
    arrived = deliver(devstack, subject="New pricing")

    pages = list(graph.messages_delta(ALICE, inbox.id, SELECT, delta_link=first[-1].delta_link))

    assert (["New pricing"], [gone]) == (
        [m["subject"] for p in pages for m in p.items],
        [r for p in pages for r in p.removed],
    )
    assert arrived["internetMessageId"] == pages[0].items[0]["internetMessageId"]
    assert pages[-1].delta_link is not None


def test_a_lost_sync_state_is_its_own_exception(devstack: Devstack, graph: GraphClient) -> None:
    """A 410 SyncStateNotFound on a cursor: SyncStateLost, not retried."""
    inbox = graph.mail_folder(ALICE, "inbox")
    cursor = list(graph.messages_delta(ALICE, inbox.id, SELECT))[-1].delta_link
    devstack.fault(target="graph", path="/messages/delta$", status=410, count=1)

    with pytest.raises(SyncStateLost) as raised:
        list(graph.messages_delta(ALICE, inbox.id, SELECT, delta_link=cursor))

    assert (410, "SyncStateNotFound") == (raised.value.status, raised.value.code)


def test_a_link_to_another_host_is_not_followed(devstack: Devstack, graph: GraphClient) -> None:
    """A cursor that points outside the configured Graph URL is refused before anything is sent."""
    devstack.clear_log()

    with pytest.raises(GraphError) as raised:
        list(graph.messages_delta(ALICE, "x", SELECT, delta_link="https://example.org/v1.0/users/x/delta?t=1"))

    assert ("foreign_link", []) == (raised.value.code, devstack.requests_log("graph"))


def test_one_message_comes_with_its_attachments(devstack: Devstack, graph: GraphClient) -> None:
    """A delivered message with an attachment, read in one request with `$expand=attachments`."""
    attachment = {"name": "quote.txt", "contentType": "text/plain", "contentBase64": "aGVsbG8="}
    delivered = deliver(devstack, subject="Quote", attachments=[attachment])["deliveries"][0]["messageId"]

    message = graph.message(ALICE, delivered)

    assert ("Quote", [("quote.txt", "aGVsbG8=")]) == (
        message["subject"],
        [(a["name"], a["contentBytes"]) for a in message["attachments"]],
    )


def test_categories_are_replaced_as_a_whole(devstack: Devstack, graph: GraphClient) -> None:
    """PATCH sets the message's categories to exactly the list given, as the user then sees them."""
    message_id = deliver(devstack)["deliveries"][0]["messageId"]

    graph.set_categories(ALICE, message_id, [TRACKED_CATEGORY, "Blue"])
    graph.set_categories(ALICE, message_id, [TRACKED_CATEGORY])

    assert [TRACKED_CATEGORY] == as_user(devstack).json("GET", f"/me/messages/{message_id}")["categories"]


def test_master_categories_are_listed_and_created(devstack: Devstack, graph: GraphClient) -> None:
    """bob has no tracking category until it is created; creating it twice is a conflict."""
    before = graph.master_categories(BOB)

    created = graph.create_master_category(BOB, TRACKED_CATEGORY, "preset9")
    with pytest.raises(GraphConflict):
        graph.create_master_category(BOB, TRACKED_CATEGORY, "preset9")

    assert TRACKED_CATEGORY not in [c.display_name for c in before]
    assert (TRACKED_CATEGORY, "preset9") == (created.display_name, created.color)
    assert created in graph.master_categories(BOB)


def test_an_unknown_user_is_mailbox_not_found(devstack: Devstack, graph: GraphClient) -> None:
    """Graph's 404 ErrorInvalidUser becomes MailboxNotFound, carrying the code and not the message."""
    with pytest.raises(MailboxNotFound) as raised:
        graph.master_categories(NOBODY)

    assert (404, "ErrorInvalidUser") == (raised.value.status, raised.value.code)
    assert NOBODY not in str(raised.value)


# -- limits -------------------------------------------------------------------------------------------------------


def test_a_429_is_sent_again_after_retry_after(devstack: Devstack, graph: GraphClient, waits: list[float]) -> None:
    """Graph answers 429 with Retry-After: 2 twice; the client waits 2 s each time and the third answer is served."""
    devstack.fault(target="graph", path="/mailFolders/inbox$", status=429, retryAfter=2, count=2)
    devstack.clear_log()

    folder = graph.mail_folder(ALICE, "inbox")

    assert "Inbox" == folder.display_name
    assert [2.0, 2.0] == waits
    assert [429, 429, 200] == [status for _, status in graph_requests(devstack)]


def test_a_429_past_the_attempts_allowed_is_graph_throttled(devstack: Devstack, waits: list[float]) -> None:
    """Three 429s with a policy of three attempts: GraphThrottled with Graph's Retry-After, two waits."""
    graph = client(devstack, sleep=waits.append, policy=RetryPolicy(max_attempts=3))
    devstack.fault(target="graph", path="/outlook/masterCategories$", status=429, retryAfter=7, count=3)

    with pytest.raises(GraphThrottled) as raised:
        graph.master_categories(ALICE)

    assert (429, "ApplicationThrottled", 7) == (raised.value.status, raised.value.code, raised.value.retry_after)
    assert [7.0, 7.0] == waits


def test_no_more_than_four_requests_reach_a_mailbox_at_once(devstack: Devstack) -> None:
    """Eight slow requests to alice at once never exceed Outlook's 4: the emulator refuses none of them."""
    graph = client(devstack, policy=RetryPolicy(max_attempts=1))
    devstack.fault(target="graph", path=f"/users/{ALICE}/mailFolders/inbox$", delayMs=400, count=8)
    devstack.clear_log()

    with ThreadPoolExecutor(max_workers=8) as pool:
        folders = list(pool.map(lambda _: graph.mail_folder(ALICE, "inbox"), range(8)))

    assert 8 == len(folders)
    assert [200] * 8 == [status for _, status in graph_requests(devstack)]


def test_without_the_slots_the_emulator_would_refuse_the_fifth(devstack: Devstack) -> None:
    """The control case: eight slots for alice let the emulator's own limit of 4 refuse some requests."""
    graph = client(devstack, policy=RetryPolicy(max_attempts=1), slots=MailboxSlots(limit=8))
    devstack.fault(target="graph", path=f"/users/{ALICE}/mailFolders/inbox$", delayMs=400, count=8)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: _throttled(lambda: graph.mail_folder(ALICE, "inbox")), range(8)))

    assert 4 == outcomes.count(True)


def _throttled(call: Any) -> bool:
    try:
        call()
    except GraphThrottled:
        return True
    return False


def test_a_wrong_client_secret_is_authentication_failed(devstack: Devstack) -> None:
    """The token endpoint refuses the app: nothing is sent to Graph and the probe says authentication_failed."""
    settings = make_settings(devstack, client_secret="not-the-secret")
    graph = GraphClient.for_app(settings, make_session(devstack), devstack.config["tenantId"])
    devstack.clear_log()

    with pytest.raises(GraphAuthenticationFailed) as raised:
        graph.mail_folder(ALICE, "inbox")

    assert ("invalid_client", []) == (raised.value.code, devstack.requests_log("graph"))
    assert MailboxProbe(False, False, False, "authentication_failed") == probe_mailbox(graph, ALICE)


def test_the_app_token_is_fetched_once_and_reused(devstack: Devstack, graph: GraphClient) -> None:
    """Three requests, one client-credentials grant: MSAL's cache keeps the token until it expires."""
    devstack.clear_log()

    probe_mailbox(graph, ALICE)

    assert 1 == sum(1 for e in devstack.requests_log("identity") if e["path"].endswith("/oauth2/v2.0/token"))


def test_a_refused_token_is_replaced_once(devstack: Devstack, graph: GraphClient) -> None:
    """Graph answers 401 once: MSAL's cached token is dropped, a new one fetched, and the request served."""
    graph.master_categories(ALICE)
    devstack.fault(target="graph", path="/mailFolders/inbox$", status=401, count=1)
    devstack.clear_log()

    folder = graph.mail_folder(ALICE, "inbox")

    assert "Inbox" == folder.display_name
    assert [401, 200] == [status for _, status in graph_requests(devstack)]
    assert 1 == sum(1 for e in devstack.requests_log("identity") if e["path"].endswith("/oauth2/v2.0/token"))
