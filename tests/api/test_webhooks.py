"""Microsoft Graph's webhooks against the devstack-backed app: the validation handshake, notifications and lifecycle
events that enqueue a mailbox sync on the in-process broker, and the ones dropped without an error."""

from __future__ import annotations

import json
import uuid
from typing import Any

import dramatiq
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from addin_api.api import webhooks
from addin_api.settings import Settings
from addin_api.sync.jobs import QUEUE, Jobs, MailboxJob, open_jobs
from addin_api.sync.subscriptions import client_state

OID = "5e7a0001-0000-4000-8000-00000000c0de"
OTHER_OID = "5e7a0002-0000-4000-8000-00000000c0de"
ROUTES = ["/graph/notifications", "/graph/lifecycle"]
MIB = 1024 * 1024


@pytest.fixture()
def jobs(app: Flask) -> Jobs:
    """The webhooks' job queue: the in-process stub broker, no worker consuming it."""
    queue = open_jobs(None)
    webhooks.init_app(app, queue)
    return queue


def queued(jobs: Jobs) -> list[MailboxJob]:
    """The jobs sent so far, read off the stub broker's queue without consuming them."""
    broker: Any = jobs.broker
    messages = [dramatiq.Message.decode(data) for data in list(broker.queues[QUEUE].queue)]
    return [MailboxJob(*message.args) for message in messages]


def tenant(settings: Settings) -> str:
    """The devstack's tenant, the one the service is configured for."""
    return str(next(iter(settings.dataverse_urls)))


def notification(settings: Settings, oid: str = OID, **overrides: Any) -> dict[str, Any]:
    """A change notification as Graph sends it for a subscription this deployment created."""
    item: dict[str, Any] = {
        "subscriptionId": str(uuid.uuid4()),
        "changeType": "created",
        "resource": f"Users/{oid}/Messages/AAMkAGI2TG93AAA=",
        "tenantId": tenant(settings),
        "clientState": client_state(settings.activity_id_key(), oid),
    }
    item.update(overrides)
    return item


def lifecycle_event(settings: Settings, event: str, oid: str = OID) -> dict[str, Any]:
    """A lifecycle notification for one of this deployment's subscriptions."""
    item = notification(settings, oid, lifecycleEvent=event)
    del item["changeType"]
    return item


def post(client: FlaskClient, path: str, items: list[dict[str, Any]]) -> TestResponse:
    """POST a notification batch as Graph does (no Authorization header)."""
    return client.post(path, json={"value": items})


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """A problem+json answer with this status and code."""
    assert "application/problem+json" == response.mimetype, response.get_data(as_text=True)[:500]
    problem: dict[str, Any] = response.get_json()
    assert (status, code) == (response.status_code, problem["code"]), problem
    return problem


@pytest.mark.parametrize("path", ROUTES)
def test_the_validation_handshake_echoes_the_token_as_plain_text(client: FlaskClient, path: str) -> None:
    """Creating a subscription: Graph POSTs `?validationToken=`, the answer is 200 text/plain with the token."""
    response = client.post(f"{path}?validationToken=abc")

    assert (200, "text/plain", "abc") == (response.status_code, response.mimetype, response.get_data(as_text=True))


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("token", ["", "x" * 1025])
def test_an_empty_or_overlong_validation_token_is_422(client: FlaskClient, path: str, token: str) -> None:
    """A token that is empty or over 1024 characters is refused, never echoed."""
    response = client.post(path, query_string={"validationToken": token})

    problem = assert_problem(response, 422, "validation_failed")
    assert "validationToken" in problem["errors"]
    assert not token or token not in response.get_data(as_text=True)


def test_a_notification_with_our_client_state_enqueues_a_sync(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """One valid notification: 202 at once and one sync job of that mailbox's mail in the devstack's environment."""
    response = post(client, "/graph/notifications", [notification(service_settings)])

    assert (202, b"") == (response.status_code, response.get_data())
    environment = service_settings.dataverse_urls[tenant(service_settings)]
    assert [MailboxJob(tenant(service_settings), environment, OID, "", False, "mail")] == queued(jobs)


def test_an_event_notification_enqueues_a_sync_of_the_calendar_beside_one_of_the_mail(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """A changed event syncs the calendar feed; a changed message the mail feeds: two jobs, not coalesced."""
    event = notification(service_settings, resource=f"Users/{OID}/Events/AAMkAGI2=")
    response = post(client, "/graph/notifications", [event, notification(service_settings)])
    assert 202 == response.status_code
    assert ["calendar", "mail"] == sorted(job.feeds for job in queued(jobs))


def test_a_batch_for_one_mailbox_enqueues_one_job_and_another_mailbox_its_own(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """Three notifications for Alice's mailbox and one for another: two jobs (coalesced per mailbox)."""
    items = [notification(service_settings) for _ in range(3)] + [notification(service_settings, OTHER_OID)]

    response = post(client, "/graph/notifications", items)

    assert 202 == response.status_code
    assert [OID, OTHER_OID] == [job.owner_oid for job in queued(jobs)]


def test_a_resource_in_upper_case_is_matched_to_its_owner(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """Graph may answer the owner's id in upper case: the job carries it lowercased, the clientState still matches."""
    item = notification(service_settings, resource=f"users/{OID.upper()}/messages/AAMk")

    assert 202 == post(client, "/graph/notifications", [item]).status_code
    assert [OID] == [job.owner_oid for job in queued(jobs)]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"clientState": "forged"}, id="bad-client-state"),
        pytest.param({"clientState": None}, id="no-client-state"),
        pytest.param({"clientState": client_state(b"another deployment", OID)}, id="another-deployments-key"),
        pytest.param({"tenantId": "0c0ffee0-0000-4000-8000-000000000000"}, id="unknown-tenant"),
        pytest.param({"resource": "groups/1234/conversations"}, id="resource-not-a-user"),
        pytest.param({"resource": "Users/not-an-oid/Messages/1"}, id="owner-not-an-oid"),
        pytest.param({"changeType": None}, id="no-change-type"),
    ],
)
def test_a_notification_that_fails_the_check_is_dropped_with_202(
    client: FlaskClient, jobs: Jobs, service_settings: Settings, overrides: dict[str, Any]
) -> None:
    """Graph would only retry an error: the answer is 202, and nothing is enqueued."""
    response = post(client, "/graph/notifications", [notification(service_settings, **overrides)])

    assert 202 == response.status_code
    assert [] == queued(jobs)


def test_another_owners_client_state_is_dropped(client: FlaskClient, jobs: Jobs, service_settings: Settings) -> None:
    """A clientState is bound to its owner: Bob's on Alice's resource enqueues nothing."""
    item = notification(service_settings, clientState=client_state(service_settings.activity_id_key(), OTHER_OID))

    assert 202 == post(client, "/graph/notifications", [item]).status_code
    assert [] == queued(jobs)


@pytest.mark.parametrize(
    ("event", "resubscribe"),
    [("subscriptionRemoved", True), ("reauthorizationRequired", True), ("missed", False)],
)
def test_a_lifecycle_event_enqueues_a_resubscribe_or_a_full_sync(
    client: FlaskClient, jobs: Jobs, service_settings: Settings, event: str, resubscribe: bool
) -> None:
    """subscriptionRemoved and reauthorizationRequired renew the subscriptions; missed only syncs."""
    response = post(client, "/graph/lifecycle", [lifecycle_event(service_settings, event)])

    assert 202 == response.status_code
    assert [(OID, resubscribe)] == [(job.owner_oid, job.resubscribe) for job in queued(jobs)]


def test_a_lifecycle_event_without_a_resource_is_matched_by_its_client_state(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """Graph's lifecycle notifications name no resource: the owner is the one the clientState was given for."""
    item = lifecycle_event(service_settings, "subscriptionRemoved")
    del item["resource"]

    assert 202 == post(client, "/graph/lifecycle", [item]).status_code
    assert [(OID, True)] == [(job.owner_oid, job.resubscribe) for job in queued(jobs)]


def test_a_lifecycle_event_with_a_bad_client_state_is_dropped(
    client: FlaskClient, jobs: Jobs, service_settings: Settings
) -> None:
    """A forged subscriptionRemoved cannot make the worker resubscribe."""
    item = {**lifecycle_event(service_settings, "subscriptionRemoved"), "clientState": "forged"}

    assert 202 == post(client, "/graph/lifecycle", [item]).status_code
    assert [] == queued(jobs)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("not json", "application/json", id="not-json"),
        pytest.param(json.dumps({"value": {"not": "a list"}}), "application/json", id="value-not-a-list"),
        pytest.param(json.dumps({"other": []}), "application/json", id="no-value"),
        pytest.param(json.dumps([{"resource": "users/x"}]), "application/json", id="top-level-list"),
        pytest.param(json.dumps({"value": []}), "text/plain", id="not-declared-json"),
    ],
)
def test_a_body_that_is_not_a_notification_batch_is_422(
    client: FlaskClient, jobs: Jobs, path: str, data: str, content_type: str
) -> None:
    """No `value` list: a problem+json naming `value`, nothing enqueued."""
    response = client.post(path, data=data, content_type=content_type)

    problem = assert_problem(response, 422, "validation_failed")
    assert "value" in problem["errors"]
    assert [] == queued(jobs)


@pytest.mark.parametrize("path", ROUTES)
def test_a_body_over_one_mib_is_413(client: FlaskClient, jobs: Jobs, path: str) -> None:
    """A batch is well under a megabyte: a larger body is refused before it is parsed."""
    padding = "x" * MIB
    response = client.post(path, data=json.dumps({"value": [], "padding": padding}), content_type="application/json")

    assert_problem(response, 413, "payload_too_large")
    assert [] == queued(jobs)


def test_without_a_job_queue_notifications_are_still_answered_202(
    app: Flask, client: FlaskClient, service_settings: Settings
) -> None:
    """No worker listens (no Redis, not `addin-api dev`): the notification is dropped, Graph still gets 202."""
    webhooks.init_app(app, None)

    assert 202 == post(client, "/graph/notifications", [notification(service_settings)]).status_code
