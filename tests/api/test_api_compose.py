"""`POST /api/v1/emails/pending`: a message being written is marked, to be tracked once sent regarding the record the
user chose; the mark is kept where the sync workers read it (here SQLite in the shared state directory)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import ALICE, Api, Devstack
from flask import Flask

from addin_api import create_app
from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID
from addin_api.settings import Settings
from addin_api.sync import compose
from addin_api.sync.store import SQLITE_NAME, SqliteStore, mailbox_scope


@pytest.fixture()
def app(service_settings: Settings, devstack: Devstack, tmp_path: Path) -> Flask:
    """The service sharing a state directory with a sync worker."""
    return create_app(dataclasses.replace(service_settings, shared_state_dir=tmp_path))


def scope(devstack: Devstack, upn: str = ALICE) -> str:
    user = devstack.server.state.config.user_by_upn(upn)
    assert user is not None
    return mailbox_scope(str(devstack.config["environmentUrl"]), user.oid)


def test_a_mark_names_the_header_and_the_record_and_the_worker_can_read_it(api: Api, tmp_path: Path) -> None:
    """201 with the header, a random token and the record's name; the worker's store knows the token."""
    marked = api.post("/api/v1/emails/pending", {"regarding": {"table": "account", "id": FABRIKAM_ACCOUNT_ID}})
    assert 201 == marked.status_code, marked.get_json()
    body = marked.get_json()
    assert ("x-addin-api-track", "Fabrikam, Inc.") == (body["header"], body["regarding"]["name"])
    assert body["expiresAt"].endswith("Z") and 20 <= len(body["token"]) <= 64
    store = SqliteStore(tmp_path / SQLITE_NAME)
    assert compose.pending(store, scope(api.devstack))
    known, regarding = compose.lookup(store, scope(api.devstack), body["token"])
    assert (True, "account", FABRIKAM_ACCOUNT_ID) == (known, regarding and regarding.table, regarding and regarding.id)
    other = api.post("/api/v1/emails/pending", {}).get_json()
    assert other["token"] != body["token"] and other["regarding"] is None


def test_a_token_is_the_mailboxs_own(api: Api, tmp_path: Path) -> None:
    """Alice's token means nothing in megan's mailbox."""
    token = api.post("/api/v1/emails/pending", {}).get_json()["token"]
    store = SqliteStore(tmp_path / SQLITE_NAME)
    assert (False, None) == compose.lookup(store, scope(api.devstack, "megan@contoso.example"), token)


def test_a_record_the_caller_cannot_see_is_refused_now(api: Api, tmp_path: Path) -> None:
    """404 not_found before anything is kept: the mistake shows before the message is sent."""
    missing = {"regarding": {"table": "account", "id": "00000000-0000-0000-0000-0000000000aa"}}
    refused = api.post("/api/v1/emails/pending", missing)
    assert (404, "not_found") == (refused.status_code, refused.get_json()["code"])
    assert not compose.pending(SqliteStore(tmp_path / SQLITE_NAME), scope(api.devstack))


def test_marking_needs_the_add_in_privilege_and_a_valid_body(api: Api) -> None:
    """Bob lacks prvUseOfficeApps (403); an unknown table or field is 422."""
    refused = api.post("/api/v1/emails/pending", {}, "bob@contoso.example")
    assert (403, "add_in_not_allowed") == (refused.status_code, refused.get_json()["code"])
    bad = api.post("/api/v1/emails/pending", {"regarding": {"table": "systemuser", "id": FABRIKAM_ACCOUNT_ID}})
    assert 422 == bad.status_code
    assert 422 == api.post("/api/v1/emails/pending", {"subject": "x"}).status_code


def test_without_a_mailbox_sync_nothing_can_wait_to_be_sent(service_settings: Settings, devstack: Devstack) -> None:
    """A deployment that shares no state with a worker answers 503 sync_unavailable."""
    alone = Api(create_app(service_settings).test_client(), devstack)
    refused = alone.post("/api/v1/emails/pending", {})
    assert (503, "sync_unavailable") == (refused.status_code, refused.get_json()["code"])
