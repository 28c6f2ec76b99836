"""Graph subscriptions per mailbox: created once per resource, renewed late in their lifetime, created again when
Graph removed them; and the clientState only this deployment can compute."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from addin_api.sync.graph_errors import GraphNotFound
from addin_api.sync.store import InMemoryStore, mailbox_scope
from addin_api.sync.subscriptions import (
    LIFETIME,
    RESOURCES,
    Endpoints,
    client_state,
    ensure_subscriptions,
    subscription_feed,
    verify_client_state,
)

KEY = b"deployment-secret"
OTHER_KEY = b"another-deployment"
OID = "5e7a0001-0000-4000-8000-000000000001"
OTHER_OID = "5e7a0002-0000-4000-8000-000000000002"
SCOPE = mailbox_scope("https://contoso.crm.example", OID)
ENDPOINTS = Endpoints.for_service("https://addin.contoso.example/", KEY)
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class FakeGraph:
    """The Graph operations subscriptions need, recording each call; renewals may answer 404."""

    def __init__(self, *, renew_missing: bool = False) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.renewed: list[tuple[str, str, str]] = []
        self.deleted: list[str] = []
        self.renew_missing = renew_missing

    def create_subscription(self, user: str, subscription: dict[str, Any]) -> dict[str, Any]:
        """Graph's answer: the subscription with an id."""
        self.created.append((user, subscription))
        return {**subscription, "id": f"sub-{len(self.created)}"}

    def renew_subscription(self, user: str, subscription_id: str, expiration: str) -> dict[str, Any]:
        """Graph's answer to a PATCH of the expiry, or 404 when it removed the subscription."""
        self.renewed.append((user, subscription_id, expiration))
        if self.renew_missing:
            raise GraphNotFound(404, "ResourceNotFound")
        return {"id": subscription_id, "expirationDateTime": expiration}

    def delete_subscription(self, user: str, subscription_id: str) -> None:
        """Graph's answer to a DELETE: 204."""
        self.deleted.append(subscription_id)


def at(moment: datetime) -> Any:
    """A clock stopped at `moment`."""
    return lambda: moment


def stored(store: InMemoryStore, name: str) -> dict[str, Any]:
    """The stored subscription `name` as the module writes it."""
    text = store.get(SCOPE, f"subscription:{name}")
    assert text is not None, name
    value: dict[str, Any] = json.loads(text)
    return value


def expiry(text: str) -> datetime:
    """A Graph UTC time (seven fractional digits) as a datetime."""
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def test_the_first_call_creates_one_subscription_per_resource() -> None:
    """Inbox, Sent Items and events: each created with this deployment's clientState, URLs and a bounded expiry."""
    graph, store = FakeGraph(), InMemoryStore()

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))

    assert len(RESOURCES) == sent == len(graph.created)
    assert [template.format(oid=OID) for _, template in RESOURCES] == [s["resource"] for _, s in graph.created]
    for user, subscription in graph.created:
        assert OID == user
        assert client_state(KEY, OID) == subscription["clientState"]
        assert "https://addin.contoso.example/graph/notifications" == subscription["notificationUrl"]
        assert "https://addin.contoso.example/graph/lifecycle" == subscription["lifecycleNotificationUrl"]
        assert NOW < expiry(subscription["expirationDateTime"]) <= NOW + LIFETIME
        assert LIFETIME <= timedelta(minutes=10_080), "within Graph's maximum for Outlook resources"
    assert [f"sub-{i}" for i in (1, 2, 3)] == [stored(store, name)["id"] for name, _ in RESOURCES]
    assert [] == graph.renewed


def test_a_second_call_right_after_sends_nothing() -> None:
    """Fresh subscriptions are left alone: no Graph request, the stored ids unchanged."""
    graph, store = FakeGraph(), InMemoryStore()
    ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))
    before = [stored(store, name) for name, _ in RESOURCES]

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW + timedelta(minutes=5)))

    assert 0 == sent
    assert (len(RESOURCES), []) == (len(graph.created), graph.renewed)
    assert before == [stored(store, name) for name, _ in RESOURCES]


def test_a_subscription_with_a_third_of_its_lifetime_left_is_kept() -> None:
    """Just over a third left: not yet renewed."""
    graph, store = FakeGraph(), InMemoryStore()
    ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))

    later = NOW + LIFETIME * 2 / 3 - timedelta(minutes=1)
    assert 0 == ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(later))
    assert [] == graph.renewed


def test_a_subscription_near_its_expiry_is_renewed() -> None:
    """Less than a third of the lifetime left: renewed in place (same id), the new expiry stored."""
    graph, store = FakeGraph(), InMemoryStore()
    expires = NOW + timedelta(hours=2)
    store.put(SCOPE, "subscription:inbox", json.dumps({"id": "sub-old", "expires": "2026-12-03T10:00:00.0000000Z"}))
    for name in ("sentitems", "events"):
        far = (NOW + LIFETIME).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        store.put(SCOPE, f"subscription:{name}", json.dumps({"id": f"{name}-id", "expires": far}))

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))

    assert 1 == sent
    assert [] == graph.created
    assert [(OID, "sub-old")] == [(user, sid) for user, sid, _ in graph.renewed]
    renewed_to = expiry(graph.renewed[0][2])
    assert expires < renewed_to <= NOW + LIFETIME
    assert {"id": "sub-old", "expires": graph.renewed[0][2]} == stored(store, "inbox")
    assert "sentitems-id" == stored(store, "sentitems")["id"]


def test_a_renewal_answered_404_creates_the_subscription_again() -> None:
    """Graph removed the subscription: the renewal's 404 is followed by a create, whose id is stored."""
    graph, store = FakeGraph(renew_missing=True), InMemoryStore()
    ensure_subscriptions(FakeGraph(), store, SCOPE, OID, ENDPOINTS, now=at(NOW))

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW + LIFETIME - timedelta(hours=1)))

    assert 2 * len(RESOURCES) == sent
    assert len(RESOURCES) == len(graph.renewed) == len(graph.created)
    assert [template.format(oid=OID) for _, template in RESOURCES] == [s["resource"] for _, s in graph.created]
    assert [f"sub-{i}" for i in (1, 2, 3)] == [stored(store, name)["id"] for name, _ in RESOURCES]


def test_forget_creates_every_subscription_again_without_renewing() -> None:
    """`forget` (a subscriptionRemoved event): the stored ones are ignored, fresh ones created at once."""
    graph, store = FakeGraph(), InMemoryStore()
    ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, forget=True, now=at(NOW))

    assert len(RESOURCES) == sent
    assert (2 * len(RESOURCES), []) == (len(graph.created), graph.renewed)
    assert [f"sub-{i}" for i in (4, 5, 6)] == [stored(store, name)["id"] for name, _ in RESOURCES]


def test_an_unreadable_stored_subscription_is_created_again() -> None:
    """A cursor that is not the module's JSON is treated as no subscription (created), never a crash."""
    graph, store = FakeGraph(), InMemoryStore()
    for name, _ in RESOURCES:
        store.put(SCOPE, f"subscription:{name}", "not json")

    assert len(RESOURCES) == ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))
    assert len(RESOURCES) == len(graph.created)


def test_the_client_state_verifies_for_its_owner_only() -> None:
    """The owner's own clientState verifies (in any casing of the oid); another owner's or deployment's does not."""
    state = client_state(KEY, OID)

    assert verify_client_state(KEY, OID, state)
    assert verify_client_state(KEY, OID.upper(), state)
    assert not verify_client_state(KEY, OTHER_OID, state)
    assert not verify_client_state(OTHER_KEY, OID, state)
    assert not verify_client_state(KEY, OTHER_OID, client_state(KEY, OID.upper()))


@pytest.mark.parametrize("presented", [None, 42, b"bytes", ["list"], "", "garbage", "0" * 64])
def test_a_client_state_that_is_not_ours_fails(presented: object) -> None:
    """Missing, not a string, or any other text: refused without raising."""
    assert not verify_client_state(KEY, OID, presented)


def test_the_client_state_is_constant_and_within_graphs_limit() -> None:
    """The same owner always gets the same clientState (the webhook recomputes it), at most 128 characters."""
    first = client_state(KEY, OID)

    assert first == client_state(KEY, OID) == client_state(KEY, OID.upper())
    assert first != client_state(KEY, OTHER_OID)
    assert 0 < len(first) <= 128


def test_the_endpoints_are_the_services_two_webhook_routes() -> None:
    """Trailing slashes on the public URL do not double up."""
    endpoints = Endpoints.for_service("https://addin.contoso.example//", KEY)

    assert "https://addin.contoso.example/graph/notifications" == endpoints.notification_url
    assert "https://addin.contoso.example/graph/lifecycle" == endpoints.lifecycle_url
    assert KEY == endpoints.key


def test_each_rule_folder_gets_a_subscription_whose_notifications_are_the_rules_feed() -> None:
    """Two rule folders: a subscription each on the folder's messages; a notification of either maps to "rules"."""
    graph, store = FakeGraph(), InMemoryStore()

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, rule_folders=["AAMk-a", "AAMk-b"], now=at(NOW))

    assert len(RESOURCES) + 2 == sent
    resources = [s["resource"] for _, s in graph.created]
    assert [f"users/{OID}/mailFolders('AAMk-a')/messages", f"users/{OID}/mailFolders('AAMk-b')/messages"] == resources[
        -2:
    ]
    rule_ids = [stored(store, f"rule:{f}")["id"] for f in ("AAMk-a", "AAMk-b")]
    assert ["rules", "rules"] == [subscription_feed(store, SCOPE, i) for i in rule_ids]
    assert "inbox" == subscription_feed(store, SCOPE, stored(store, "inbox")["id"])


def test_a_removed_rules_subscription_is_deleted_and_the_others_left_alone() -> None:
    """The rule of folder a removed: its subscription is deleted and forgotten; b's is kept, nothing else is sent;
    an unchanged set sends nothing at all."""
    graph, store = FakeGraph(), InMemoryStore()
    ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, rule_folders=["AAMk-a", "AAMk-b"], now=at(NOW))
    gone = stored(store, "rule:AAMk-a")["id"]

    sent = ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, rule_folders=["AAMk-b"], now=at(NOW))

    assert (1, [gone]) == (sent, graph.deleted)
    assert store.get(SCOPE, "subscription:rule:AAMk-a") is None
    assert subscription_feed(store, SCOPE, gone) is None
    assert 0 == ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, rule_folders=["AAMk-b"], now=at(NOW))
    assert 0 == ensure_subscriptions(graph, store, SCOPE, OID, ENDPOINTS, now=at(NOW))  # None: as they were
