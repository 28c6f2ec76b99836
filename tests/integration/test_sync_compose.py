"""Tracking while composing, in the mailbox sync: a message the pane marked (the `x-addin-api-track` header and the
tracking category) is tracked from Sent Items once alice sends it, regarding the record she chose."""

from __future__ import annotations

import uuid

from conftest import ALICE, Devstack
from sync_support import TRACKED, Mailbox, dataverse, graph

from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID
from addin_api.model import RegardingRef
from addin_api.sync import compose


def send(devstack: Devstack, subject: str, token: str | None, categories: list[str]) -> None:
    """Alice sends a message from Outlook, with the header the pane wrote into it (if any)."""
    message = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Following up"},
        "toRecipients": [{"emailAddress": {"address": "dana@fabrikam.example"}}],
        "categories": categories,
    }
    if token is not None:
        message["internetMessageHeaders"] = [{"name": compose.HEADER, "value": token}]
    sent = graph(devstack, ALICE, "POST", "/me/sendMail", json={"message": message, "saveToSentItems": True})
    assert 202 == sent.status_code, sent.text


def header_reads(devstack: Devstack) -> list[dict[str, object]]:
    """The Graph requests that read a message's Internet headers."""
    return [r for r in devstack.requests_log() if "internetMessageHeaders" in str(r["query"])]


def regarding_by_subject(devstack: Devstack, subject: str) -> list[str | None]:
    found = dataverse(devstack, "GET", f"emails?$select=_regardingobjectid_value&$filter=subject eq '{subject}'")
    return [row["_regardingobjectid_value"] for row in found.json()["value"]]


def test_a_message_marked_while_written_is_tracked_regarding_the_chosen_record(devstack: Devstack) -> None:
    """Marked, sent: tracked from Sent Items regarding the account; the header cost one Graph request."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    token, _until = compose.mark(mailbox.store, mailbox.scope, RegardingRef("account", FABRIKAM_ACCOUNT_ID))
    subject = f"compose-{uuid.uuid4().hex[:8]}"
    send(devstack, subject, token, [TRACKED])
    devstack.clear_log()
    result = mailbox.sync("sentitems")
    assert (None, 1) == (result.problem, result.tracked)
    assert [FABRIKAM_ACCOUNT_ID] == regarding_by_subject(devstack, subject)
    assert 1 == len(header_reads(devstack))


def test_unmarked_or_foreign_tokens_track_without_regarding(devstack: Devstack) -> None:
    """A categorized message with another mailbox's (or no) token is tracked as the category says: no regarding."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    compose.mark(mailbox.store, mailbox.scope, RegardingRef("account", FABRIKAM_ACCOUNT_ID))  # pending, not this one
    subject = f"compose-foreign-{uuid.uuid4().hex[:8]}"
    send(devstack, subject, "someone-elses-token", [TRACKED])
    plain = f"compose-plain-{uuid.uuid4().hex[:8]}"
    send(devstack, plain, None, [TRACKED])
    mailbox.sync("sentitems")
    assert ([None], [None]) == (regarding_by_subject(devstack, subject), regarding_by_subject(devstack, plain))


def test_with_nothing_pending_sent_items_cost_no_header_reads(devstack: Devstack) -> None:
    """No mark kept for the mailbox: a categorized sent message costs what it did (no header request)."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    subject = f"compose-none-{uuid.uuid4().hex[:8]}"
    send(devstack, subject, None, [TRACKED])
    devstack.clear_log()
    result = mailbox.sync("sentitems")
    assert 1 == result.tracked
    assert [] == header_reads(devstack)
