"""Graph subscriptions on the devstack: the validation handshake, change and lifecycle notifications, pausing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ALICE, Devstack
from graph_support import IMMUTABLE, Graph, WebhookReceiver, as_app, as_user, deliver, wait_until


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    """A local webhook receiver that answers Graph's validation handshake."""
    server = WebhookReceiver()
    yield server
    server.stop()


def subscribe(graph: Graph, receiver: WebhookReceiver, prefer: str | None = None, **fields: Any) -> Any:
    """POST /subscriptions for alice's Inbox to the receiver; return the response."""
    body = {
        "changeType": "created,updated",
        "notificationUrl": f"{receiver.url}/notify",
        "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
        "resource": f"/users/{ALICE}/mailFolders('inbox')/messages",
        "expirationDateTime": (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        "clientState": "s3cret",
    }
    return graph.call("POST", "/subscriptions", prefer, json={**body, **fields})


def test_creation_validates_both_urls_with_a_token_echoed_as_plain_text(
    devstack: Devstack, receiver: WebhookReceiver
) -> None:
    """Creating a subscription POSTs a validationToken to both URLs first; the subscription comes back 201."""
    response = subscribe(as_app(devstack), receiver)
    body = response.json()

    assert 201 == response.status_code
    assert 2 == len(receiver.validations)
    assert ("created,updated", "s3cret") == (body["changeType"], body["clientState"])


def test_a_wrong_validation_answer_fails_creation(devstack: Devstack, receiver: WebhookReceiver) -> None:
    """A receiver that does not echo the token: 400 ValidationError and no subscription."""
    receiver.echo = False
    graph = as_app(devstack)

    response = subscribe(graph, receiver)

    assert (400, "ValidationError") == (response.status_code, response.json()["error"]["code"])
    assert [] == graph.json("GET", "/subscriptions")["value"]


def test_expiration_beyond_the_mail_limit_is_refused_and_renewal_extends(
    devstack: Devstack, receiver: WebhookReceiver
) -> None:
    """An expiration past 10,080 minutes is refused; PATCH renews within it; DELETE removes the subscription."""
    graph = as_app(devstack)
    too_far = (datetime.now(UTC) + timedelta(minutes=10_081)).isoformat()
    refused = subscribe(graph, receiver, expirationDateTime=too_far)
    created = subscribe(graph, receiver).json()
    later = (datetime.now(UTC) + timedelta(days=6)).isoformat()
    renewed = graph.json("PATCH", f"/subscriptions/{created['id']}", json={"expirationDateTime": later})
    deleted = graph.call("DELETE", f"/subscriptions/{created['id']}")

    assert 400 == refused.status_code
    assert renewed["expirationDateTime"] > created["expirationDateTime"]
    assert (204, 404) == (deleted.status_code, graph.call("GET", f"/subscriptions/{created['id']}").status_code)


def test_a_delivery_and_a_category_change_are_notified_with_client_state(
    devstack: Devstack, receiver: WebhookReceiver
) -> None:
    """A delivered message (created) and a category change (updated) reach the receiver with clientState and ids."""
    graph = as_app(devstack)
    sub = subscribe(graph, receiver, IMMUTABLE).json()
    delivered = deliver(devstack)
    immutable_id = delivered["deliveries"][0]["immutableId"]
    graph.json("PATCH", f"/users/{ALICE}/messages/{immutable_id}", json={"categories": ["Tracked to Dynamics 365"]})

    notes = wait_until(lambda: len(receiver.notifications) >= 2 and receiver.notifications)

    # The emulator posts notifications from a pool of threads, so two changes in quick succession may arrive in
    # either order: compare them unordered.
    assert [("created", immutable_id), ("updated", immutable_id)] == sorted(
        (n["changeType"], n["resourceData"]["id"]) for n in notes
    )
    assert {(sub["id"], "s3cret", devstack.config["tenantId"])} == {
        (n["subscriptionId"], n["clientState"], n["tenantId"]) for n in notes
    }


def test_a_delegated_token_cannot_subscribe_to_another_mailbox(devstack: Devstack, receiver: WebhookReceiver) -> None:
    """Bob's delegated token is refused a subscription on alice's Inbox."""
    response = subscribe(as_user(devstack, "bob@contoso.example"), receiver)

    assert (403, "ErrorAccessDenied") == (response.status_code, response.json()["error"]["code"])


def test_paused_notifications_are_dropped_until_resumed(devstack: Devstack, receiver: WebhookReceiver) -> None:
    """While paused a delivery is not notified (the log says dropped); after resuming the next one is."""
    subscribe(as_app(devstack), receiver)
    devstack.http.post(f"{devstack.url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()
    deliver(devstack, subject="while paused")
    devstack.http.delete(f"{devstack.url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()
    second = deliver(devstack, subject="after")
    wait_until(lambda: receiver.notifications)
    log = devstack.http.get(f"{devstack.url}/_devstack/graph/notifications", timeout=10).json()["notifications"]

    assert [second["deliveries"][0]["messageId"]] == [n["resourceData"]["id"] for n in receiver.notifications]
    assert [True] == [e.get("dropped", False) for e in log if e["kind"] == "change" and e.get("dropped")]


@pytest.mark.parametrize("event", ["reauthorizationRequired", "missed", "subscriptionRemoved"])
def test_lifecycle_events_reach_the_lifecycle_url(devstack: Devstack, receiver: WebhookReceiver, event: str) -> None:
    """A lifecycle event is POSTed to the lifecycle URL; subscriptionRemoved also removes the subscription."""
    graph = as_app(devstack)
    sub = subscribe(graph, receiver).json()

    sent = devstack.http.post(
        f"{devstack.url}/_devstack/graph/lifecycle", json={"subscriptionId": sub["id"], "event": event}, timeout=10
    )
    notes = wait_until(lambda: receiver.lifecycle)
    still_there = graph.call("GET", f"/subscriptions/{sub['id']}").status_code

    assert 202 == sent.status_code
    assert [(event, sub["id"], "s3cret")] == [
        (n["lifecycleEvent"], n["subscriptionId"], n["clientState"]) for n in notes
    ]
    assert (404 if event == "subscriptionRemoved" else 200) == still_there


def test_a_failing_endpoint_gets_a_missed_lifecycle_event(devstack: Devstack, receiver: WebhookReceiver) -> None:
    """When every retry of a notification fails, Graph reports `missed` to the lifecycle URL."""
    subscribe(as_app(devstack), receiver)
    receiver.status = 500
    deliver(devstack)

    notes = wait_until(lambda: receiver.lifecycle, seconds=15)

    assert ["missed"] == [n["lifecycleEvent"] for n in notes]
