"""Sent Items in the mailbox sync: a message the pane marked while it was written (the `x-addin-api-track` header and
the tracking category) is tracked once alice sends it, regarding the record she chose; and sent messages follow the
personal options only when the organization's AutoTrackSentFolderItems says so."""

from __future__ import annotations

import time
import uuid

import pytest
from conftest import ALICE, Devstack
from sync_support import TRACKED, Mailbox, dataverse, graph, set_organization

from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID
from addin_api.model import RegardingRef
from addin_api.sync import compose

# OrgDBOrgSettings with AutoTrackSentFolderItems on, as an administrator writes them.
SENT_ITEMS_TRACKED = "<OrgSettings><AutoTrackSentFolderItems>true</AutoTrackSentFolderItems></OrgSettings>"


def send(
    devstack: Devstack, subject: str, token: str | None, categories: list[str], to: str = "dana@fabrikam.example"
) -> None:
    """Alice sends a message from Outlook, with the header the pane wrote into it (if any)."""
    message = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Following up"},
        "toRecipients": [{"emailAddress": {"address": to}}],
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


def track_all_email(devstack: Devstack, method: int = 0) -> None:
    """Alice's personal option: all email messages (or `method`)."""
    user = devstack.server.state.config.user_by_upn(ALICE)
    assert user is not None
    changed = dataverse(
        devstack,
        "PATCH",
        f"usersettingscollection({user.systemuserid})",
        json={"incomingemailfilteringmethod": method},
        headers={"If-Match": "*"},
    )
    changed.raise_for_status()


def test_sent_items_follow_the_personal_options_only_when_the_organization_says_so(devstack: Devstack) -> None:
    """AutoTrackSentFolderItems off (Dynamics' default): a message alice sends without the category is not tracked;
    on (OrgDBOrgSettings): the next one is, by her option "all", and given the category."""
    track_all_email(devstack)
    mailbox = Mailbox(devstack)
    mailbox.sync()
    time.sleep(1.1)  # Graph's times are to the second: mail of the first pass's second counts as already there
    before = f"sent-off-{uuid.uuid4().hex[:8]}"
    send(devstack, before, None, [])
    assert 0 == mailbox.sync("sentitems").tracked
    set_organization(devstack, orgdborgsettings=SENT_ITEMS_TRACKED)
    mailbox.store.put(f"{mailbox.environment.lower()} organization", "organization", None)  # read again now
    after = f"sent-on-{uuid.uuid4().hex[:8]}"
    send(devstack, after, None, [])
    result = mailbox.sync("sentitems")
    assert (None, 1) == (result.problem, result.auto_tracked)
    assert ([], [None]) == (regarding_by_subject(devstack, before), regarding_by_subject(devstack, after))


@pytest.mark.parametrize(
    ("method", "to", "tracked"),
    [
        (2, "dana@fabrikam.example", True),  # from contacts, accounts and leads: Dana is a contact
        (2, "nobody@elsewhere.example", False),
        (3, "megan@contoso.example", True),  # from email-enabled records: a user is one
        (2, "megan@contoso.example", False),
        (4, "dana@fabrikam.example", False),  # none
    ],
)
def test_a_sent_message_is_judged_by_the_owners_option_on_its_recipients(
    devstack: Devstack, method: int, to: str, tracked: bool
) -> None:
    """With AutoTrackSentFolderItems on, Sent Items follow the option by whom the message went to."""
    set_organization(devstack, orgdborgsettings=SENT_ITEMS_TRACKED)
    track_all_email(devstack, method)
    mailbox = Mailbox(devstack)
    mailbox.sync()
    time.sleep(1.1)
    subject = f"sent-option-{method}-{uuid.uuid4().hex[:8]}"
    send(devstack, subject, None, [], to)
    result = mailbox.sync("sentitems")
    assert (None, int(tracked)) == (result.problem, result.auto_tracked)
    assert tracked == bool(regarding_by_subject(devstack, subject))
