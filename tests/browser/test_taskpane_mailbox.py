"""The pane and the mailbox sync: why items given the category in Outlook are not tracked (the mailbox's state),
and what the sync worker is doing with the open item (its syncState), read from the store the worker writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from browser_support import OpenPane
from conftest import ALICE, Devstack
from flask import Flask
from test_taskpane import DANA_MESSAGE_ID

from addin_api import create_app
from addin_api.settings import Settings
from addin_api.sync.store import SQLITE_NAME, ItemState, SqliteStore, mailbox_scope

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture reports it as a failure
    expect = None

CAROL = "carol@contoso.example"


@pytest.fixture()
def app(service_settings: Settings, devstack: Devstack, tmp_path: Path) -> Flask:
    """The service sharing its state directory with a sync worker."""
    return create_app(dataclasses.replace(service_settings, shared_state_dir=tmp_path))


def record(devstack: Devstack, tmp_path: Path, upn: str, key: str, state: ItemState) -> None:
    """What the sync worker would have recorded of `upn`'s item."""
    user = devstack.server.state.config.user_by_upn(upn)
    assert user is not None
    scope = mailbox_scope(str(devstack.config["environmentUrl"]), user.oid)
    SqliteStore(tmp_path / SQLITE_NAME).set_item(scope, key, state)


def test_a_mailbox_with_incoming_sync_off_says_why_and_what_to_do(open_pane: OpenPane) -> None:
    """Carol's incoming email is not synchronized: the pane says categorized messages are not tracked, and why."""
    pane = open_pane(user=CAROL)
    pane.wait_loaded()
    note = pane.page.locator("#mailbox-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("aren't tracked: incoming email synchronization is turned off")
    expect(note).to_contain_text("Ask your admin")


def test_a_synchronized_mailbox_shows_no_note(open_pane: OpenPane) -> None:
    """Alice's mailbox synchronizes: nothing to say."""
    pane = open_pane(user=ALICE)
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    expect(pane.page.locator("#mailbox-note")).to_be_hidden()
    expect(pane.page.locator("#sync-note")).to_be_hidden()


def test_an_item_the_worker_is_retrying_says_so(open_pane: OpenPane, devstack: Devstack, tmp_path: Path) -> None:
    """The worker failed once on the open message: the pane says it is still trying, and the last failure."""
    record(devstack, tmp_path, ALICE, DANA_MESSAGE_ID, ItemState("pending", 1, "dataverse_forbidden"))
    pane = open_pane(user=ALICE)
    pane.wait_loaded()
    note = pane.page.locator("#sync-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("still trying to track this item")
    expect(note).to_contain_text("security role")


def test_an_undeliverable_item_offers_the_pane_track(open_pane: OpenPane, devstack: Devstack, tmp_path: Path) -> None:
    """The worker gave up: the warning says so, and Track in the pane then tracks it."""
    record(devstack, tmp_path, ALICE, DANA_MESSAGE_ID, ItemState("undeliverable", 5, "invalid_item"))
    pane = open_pane(user=ALICE)
    pane.wait_loaded()
    note = pane.page.locator("#sync-note")
    expect(note).to_have_class("note note-warning")
    expect(note).to_contain_text("couldn't track this item")
    pane.page.locator("#btn-track-plain").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    expect(note).to_be_hidden()


def test_the_automatic_tracking_card_reads_and_saves_the_users_options(open_pane: OpenPane, api: Any) -> None:
    """Opened, it shows Dynamics' default; saved, the service holds the new choice."""
    pane = open_pane(user=ALICE)
    pane.wait_loaded()
    page = pane.page
    page.locator("#settings-card > summary").click()
    expect(page.locator("#settings-track")).to_have_value("replies")
    expect(page.locator("#settings-autocreate")).not_to_be_checked()
    page.locator("#settings-track").select_option("fromRecords")
    page.locator("#settings-autocreate").check()
    page.locator("#settings-save").click()
    expect(page.locator("#settings-note")).to_have_text("Saved.")
    assert {"trackIncoming": "fromRecords", "autoCreate": "contact"} == api.get("/api/v1/settings").get_json()


def test_the_folder_rules_card_adds_and_removes_a_rule(open_pane: OpenPane, api: Any, devstack: Devstack) -> None:
    """Opened, it lists the folders under the Inbox; a folder and a record chosen, the rule is kept; removed, gone."""
    from sync_support import graph

    made = graph(devstack, ALICE, "POST", "/me/mailFolders/inbox/childFolders", json={"displayName": "Fabrikam deals"})
    made.raise_for_status()
    pane = open_pane(user=ALICE)
    pane.wait_loaded()
    page = pane.page
    page.locator("#rules-card > summary").click()
    expect(page.locator("#rules-count")).to_have_text("0 of 25 rules")
    page.locator("#rules-folder").select_option(label="Inbox/Fabrikam deals")
    page.locator("#rules-search").fill("Fabrikam")
    page.locator("#rules-results button[data-table=account]", has_text="Fabrikam, Inc.").click()
    page.locator("#rules-add").click()
    expect(page.locator("#rules-list li")).to_have_text("Fabrikam deals → Fabrikam, Inc. · AccountRemove")
    rules = api.get("/api/v1/folder-rules").get_json()["rules"]
    assert [("Fabrikam deals", "Fabrikam, Inc.")] == [(r["folderName"], r["regarding"]["name"]) for r in rules]
    page.get_by_role("button", name="Remove the rule for Fabrikam deals").click()
    expect(page.locator("#rules-note")).to_have_text("Removed. What the rule tracked stays tracked.")
    expect(page.locator("#rules-list li")).to_have_count(0)
    assert [] == api.get("/api/v1/folder-rules").get_json()["rules"]


def test_a_message_being_written_is_marked_pending_until_sent(
    open_pane: OpenPane, tmp_path: Path, devstack: Devstack
) -> None:
    """Regarding chosen, Track: the message gets the header with a token the worker knows and the tracking category;
    the pane says it is pending until sent, regarding the record."""
    from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID
    from addin_api.sync import compose

    pane = open_pane(user=ALICE, sample="compose")
    pane.wait_loaded()
    page = pane.page
    page.get_by_role("button", name="Track", exact=True).click()  # no record chosen yet: the lookup opens
    page.locator("#regarding-search").fill("Fabrikam, Inc")
    page.locator("#regarding-results button[data-table=account]", has_text="Fabrikam, Inc.").click()
    page.get_by_role("button", name="Track", exact=True).click()
    expect(page.locator("#compose-note")).to_have_text(
        "Pending until sent: it will be tracked regarding Fabrikam, Inc. · Account once it is in your Sent Items."
    )
    standin = pane.standin()
    token = standin["internetHeaders"][compose.HEADER]
    assert "Tracked to Dynamics 365" in [c["displayName"] for c in standin["itemCategories"]]
    user = devstack.server.state.config.user_by_upn(ALICE)
    assert user is not None
    scope = mailbox_scope(str(devstack.config["environmentUrl"]), user.oid)
    known, regarding = compose.lookup(SqliteStore(tmp_path / SQLITE_NAME), scope, token)
    assert (True, FABRIKAM_ACCOUNT_ID) == (known, regarding and regarding.id)
