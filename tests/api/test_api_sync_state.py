"""What the mailbox sync worker recorded, in the pane's answers: an email's `syncState` and `reason`, the mailbox's
`lastSync`. The service reads the store the workers write (here SQLite in the shared state directory)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ALICE, Api, Devstack
from flask import Flask
from test_webhooks import notification, post, queued

from addin_api import create_app
from addin_api.api import webhooks
from addin_api.devstack import seed
from addin_api.settings import Settings
from addin_api.sync.jobs import open_jobs
from addin_api.sync.store import LAST_SYNC, SQLITE_NAME, ItemState, SqliteStore, mailbox_scope

MEGAN = "megan@contoso.example"


@pytest.fixture()
def app(service_settings: Settings, devstack: Devstack, tmp_path: Path) -> Flask:
    """The service sharing a state directory with a sync worker."""
    return create_app(dataclasses.replace(service_settings, shared_state_dir=tmp_path))


@pytest.fixture()
def store(tmp_path: Path) -> SqliteStore:
    """The worker's side of the shared state directory."""
    return SqliteStore(tmp_path / SQLITE_NAME)


def scope(devstack: Devstack, upn: str) -> str:
    """The store's key of `upn`'s mailbox in the devstack's environment."""
    user = devstack.server.state.config.user_by_upn(upn)
    assert user is not None
    return mailbox_scope(str(devstack.config["environmentUrl"]), user.oid)


def status(api: Api, internet_id: str, user: str = ALICE) -> dict[str, Any]:
    """The email's tracking status (asserting 200)."""
    response = api.get("/api/v1/emails", user, query_string={"internetMessageId": internet_id})
    assert 200 == response.status_code, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_an_item_the_worker_never_saw_has_no_sync_state(api: Api) -> None:
    """Only what the worker recorded is added."""
    assert {"tracked": False} == status(api, "<never-seen@example.org>")


def test_a_message_the_worker_is_retrying_says_pending_and_why(api: Api, store: SqliteStore) -> None:
    """Not tracked yet, `pending` with the code of the last failure."""
    store.set_item(scope(api.devstack, ALICE), "<retry@example.org>", ItemState("pending", 2, "dataverse_forbidden"))
    assert {"tracked": False, "syncState": "pending", "reason": "dataverse_forbidden"} == status(
        api, "<retry@example.org>"
    )


def test_a_tracked_message_says_what_the_worker_did(api: Api, store: SqliteStore) -> None:
    """The tracked view from Dataverse, with the worker's `tracked`."""
    internet_id = seed.TRACKED_EMAIL_MESSAGE_ID
    store.set_item(scope(api.devstack, ALICE), internet_id, ItemState("tracked", activity_id="x"))
    body = status(api, internet_id)
    assert (body["tracked"], body["syncState"]) == (True, "tracked")
    assert "reason" not in body


def test_another_users_record_of_the_same_message_is_not_shown(api: Api, store: SqliteStore) -> None:
    """The state is per mailbox: megan's undeliverable copy is not alice's."""
    store.set_item(scope(api.devstack, MEGAN), "<shared@example.org>", ItemState("undeliverable", 5, "invalid_item"))
    assert {"tracked": False} == status(api, "<shared@example.org>")
    assert status(api, "<shared@example.org>", MEGAN)["syncState"] == "undeliverable"


def test_the_mailbox_shows_the_workers_last_sync(api: Api, store: SqliteStore) -> None:
    """`lastSync` is the worker's last complete pass when it is later than what Dataverse recorded."""
    before = api.get("/api/v1/mailbox").get_json()["lastSync"]
    store.put(scope(api.devstack, ALICE), LAST_SYNC, "2099-01-01T00:00:00Z")
    assert "2099-01-01T00:00:00Z" == api.get("/api/v1/mailbox").get_json()["lastSync"]
    store.put(scope(api.devstack, ALICE), LAST_SYNC, "1999-01-01T00:00:00Z")
    # An older pass than Dataverse's record leaves Dataverse's; with no record, the worker's is all there is.
    assert (before or "1999-01-01T00:00:00Z") == api.get("/api/v1/mailbox").get_json()["lastSync"]


def test_a_notification_of_a_known_subscription_syncs_only_its_folder(
    app: Flask, client: Any, store: SqliteStore
) -> None:
    """The store says which folder the subscription watches: the job reads that feed alone."""
    settings: Settings = app.extensions["addin_api"].settings
    jobs = open_jobs(None)
    webhooks.init_app(app, jobs)
    environment = next(iter(settings.dataverse_urls.values()))
    owner = "5e7a0001-0000-4000-8000-00000000c0de"
    sent = {"id": "sub-sent", "expires": "2099-01-01T00:00:00.0000000Z"}
    store.put(mailbox_scope(environment, owner), "subscription:sentitems", json.dumps(sent))
    known = notification(settings, owner, subscriptionId="sub-sent")
    unknown = notification(settings, owner, subscriptionId="sub-other", resource=f"Users/{owner}/Events/AAM=")
    assert 202 == post(client, "/graph/notifications", [known, unknown]).status_code
    assert ["calendar", "sentitems"] == sorted(job.feeds for job in queued(jobs))
