"""The dev harness's mailbox panel: a message arrives in the Inbox and the user gives it the tracking category as in
Outlook, through the emulated Graph with a delegated token (what the sync worker then tracks)."""

from __future__ import annotations

from typing import Any

from conftest import ALICE, Devstack
from graph_support import as_user

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture reports it as a failure
    pass

TRACKED = "Tracked to Dynamics 365"
SUBJECT = "Quote for the Fabrikam renewal"


def test_a_message_arrives_and_is_given_the_tracking_category(
    browser: Any,  # noqa: F811
    live_service: str,  # noqa: F811
    devstack: Devstack,
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_service}/dev")
        page.get_by_role("button", name="A message arrives in the Inbox").click()
        item = page.locator("#mail-items li", has_text=SUBJECT).first
        expect(item).to_be_visible(timeout=10_000)
        with page.expect_response(lambda r: "/dev/api/mail/categorize" in r.url) as changed:
            item.get_by_role("checkbox").check()
        assert 204 == changed.value.status
        expect(item.get_by_role("checkbox")).to_be_checked(timeout=10_000)
        inbox = as_user(devstack, ALICE).json("GET", "/me/mailFolders/inbox/messages?$select=subject,categories")
        arrived = [m for m in inbox["value"] if m["subject"] == SUBJECT]
        assert arrived and any(TRACKED in m["categories"] for m in arrived)
        with page.expect_response(lambda r: "/dev/api/mail/categorize" in r.url) as changed:
            item.get_by_role("checkbox").uncheck()
        assert 204 == changed.value.status
        inbox = as_user(devstack, ALICE).json("GET", "/me/mailFolders/inbox/messages?$select=subject,categories")
        assert not any(TRACKED in m["categories"] for m in inbox["value"] if m["subject"] == SUBJECT)
    finally:
        context.close()
