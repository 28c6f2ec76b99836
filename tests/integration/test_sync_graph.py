"""The worker's Graph client and Test & Enable's probe against the devstack's emulated Graph, app-only."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ALICE, Devstack, make_session, make_settings
from graph_support import BOB

from addin_api.sync.graph import GraphClient
from addin_api.sync.graph_limits import RetryPolicy
from addin_api.sync.probe import MailboxProbe, probe_mailbox

NOBODY = "nobody@contoso.example"
SELECT = ("subject", "categories", "internetMessageId", "parentFolderId")


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
