"""Folder-tracking rules in the mailbox sync, against the devstack: alice's rules in Dataverse
(`mailboxtrackingfolders`, made as alice), her folders and messages moved in Graph as she would in Outlook, passes run
as the worker runs them."""

from __future__ import annotations

import json
from typing import Any

from conftest import ALICE, Devstack
from sync_support import Mailbox, categorize, dataverse, deliver, graph, make_folder, move, set_organization

from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID
from addin_api.sync.folder_rules import FOLDER_CHECK_SECONDS, RULES_KEY, rules_changed


def as_alice(devstack: Devstack, method: str, path: str, **kwargs: Any) -> Any:
    """The Web API as alice."""
    headers = {
        "Authorization": f"Bearer {devstack.token(ALICE, audience='dataverse')}",
        "Accept": "application/json",
        **kwargs.pop("headers", {}),
    }
    return devstack.http.request(method, f"{devstack.api}{path}", headers=headers, timeout=30, **kwargs)


def add_rule(
    mailbox: Mailbox, folder_id: str, name: str, table: str = "account", record: str = FABRIKAM_ACCOUNT_ID
) -> str:
    """Alice's rule for the folder, as the service writes it; the worker is told (as the service tells it)."""
    me = as_alice(mailbox.devstack, "GET", "WhoAmI").json()["UserId"]
    box = as_alice(mailbox.devstack, "GET", f"systemusers({me})?$expand=defaultmailbox($select=mailboxid)").json()
    sets = {"account": "accounts", "contact": "contacts"}
    body = {
        "exchangefolderid": folder_id,
        "exchangefoldername": name,
        "folderonboardingstatus": 0,
        "mailboxid@odata.bind": f"/mailboxes({box['defaultmailbox']['mailboxid']})",
        f"regardingobjectid_{table}@odata.bind": f"/{sets[table]}({record})",
    }
    made = as_alice(
        mailbox.devstack, "POST", "mailboxtrackingfolders", json=body, headers={"Prefer": "return=representation"}
    )
    assert 201 == made.status_code, made.text
    rules_changed(mailbox.store, mailbox.scope)
    return str(made.json()["mailboxtrackingfolderid"])


def regarding_of(devstack: Devstack, internet_id: str) -> str | None:
    """The regarding record of the email activity with this Internet message id."""
    found = dataverse(devstack, "GET", f"emails?$select=_regardingobjectid_value&$filter=messageid eq '{internet_id}'")
    rows = found.json()["value"]
    assert 1 == len(rows), rows
    value = rows[0]["_regardingobjectid_value"]
    return str(value) if value else None


def rule_row(devstack: Devstack, rule_id: str) -> dict[str, Any]:
    row: dict[str, Any] = dataverse(devstack, "GET", f"mailboxtrackingfolders({rule_id})").json()
    return row


def first_contact(devstack: Devstack) -> str:
    return str(dataverse(devstack, "GET", "contacts?$select=contactid&$top=1").json()["value"][0]["contactid"])


def test_a_message_moved_into_a_rule_folder_is_tracked_regarding_the_rules_record(devstack: Devstack) -> None:
    """No category needed: the rules pass tracks it regarding the rule's account, and the rule is then onboarded."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Fabrikam")
    rule = add_rule(mailbox, folder, "Fabrikam")
    mailbox.sync()
    message_id, internet_id = deliver(devstack, ALICE, "rule-moved")
    move(devstack, ALICE, message_id, folder)
    result = mailbox.sync("rules")
    assert (None, 1) == (result.problem, result.tracked)
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, internet_id)
    assert 1 == rule_row(devstack, rule)["folderonboardingstatus"]
    again = mailbox.sync("rules")
    # Nothing new: the folder's delta page alone, and the rules as kept.
    assert (0, 1, 0) == (again.tracked, again.graph_requests, again.dataverse_round_trips)


def test_mail_already_in_the_folder_is_tracked_when_the_rule_is_made(devstack: Devstack) -> None:
    """The folder's first round tracks what it holds (onboarding)."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Existing")
    message_id, internet_id = deliver(devstack, ALICE, "rule-existing")
    move(devstack, ALICE, message_id, folder)
    mailbox.sync()
    add_rule(mailbox, folder, "Existing")
    mailbox.sync()
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, internet_id)


def test_the_rule_wins_over_a_regarding_set_before_and_after(devstack: Devstack) -> None:
    """Tracked by category (no regarding) then moved in: set regarding the rule's record. Changed by hand to a
    contact: the next catch-up pass sets it back."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Override")
    add_rule(mailbox, folder, "Override")
    message_id, internet_id = deliver(devstack, ALICE, "rule-override")
    categorize(devstack, ALICE, message_id)
    mailbox.sync()
    assert regarding_of(devstack, internet_id) is None
    move(devstack, ALICE, message_id, folder)
    mailbox.sync("rules")
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, internet_id)
    activity = dataverse(devstack, "GET", f"emails?$select=activityid&$filter=messageid eq '{internet_id}'").json()
    activity_id = activity["value"][0]["activityid"]
    contact = first_contact(devstack)
    changed = as_alice(
        devstack,
        "PATCH",
        f"emails({activity_id})",
        json={"regardingobjectid_contact_email@odata.bind": f"/contacts({contact})"},
        headers={"If-Match": "*"},
    )
    assert 204 == changed.status_code, changed.text
    mailbox.sync("rules")  # a notification pass: nothing changed in the folder, nothing is read back
    assert contact == regarding_of(devstack, internet_id)
    mailbox.sync()
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, internet_id)


def test_a_renamed_folder_keeps_its_rule_and_the_name_follows(devstack: Devstack) -> None:
    """The folder id is the key: renamed, it still tracks; the rule's folder name becomes the new one."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Old name")
    rule = add_rule(mailbox, folder, "Old name")
    mailbox.sync()
    graph(devstack, ALICE, "PATCH", f"/me/mailFolders/{folder}", json={"displayName": "New name"}).raise_for_status()
    rules_changed(mailbox.store, mailbox.scope)  # as the rules are read again every few minutes
    message_id, internet_id = deliver(devstack, ALICE, "rule-renamed")
    move(devstack, ALICE, message_id, folder)
    mailbox.sync()
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, internet_id)
    assert "New name" == rule_row(devstack, rule)["exchangefoldername"]


def test_a_folder_moved_out_of_the_inbox_stops_tracking_and_its_rule_says_so(devstack: Devstack) -> None:
    """Moved under the mailbox's root: the next message moved there is not tracked, and the rule is disabled
    (folderonboardingstatus 2), though the worker kept the rule as it was: a kept rule's folder found under the
    Inbox over a minute ago is looked at again before what was moved there is tracked."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Moving")
    rule = add_rule(mailbox, folder, "Moving")
    mailbox.sync()  # the rule onboarded
    mailbox.sync()  # its rules read again and kept: the folder found under the Inbox now
    kept = json.loads(mailbox.store.get(mailbox.scope, RULES_KEY) or "{}")
    assert [rule] == [r["id"] for r in kept["rules"]]
    for kept_rule in kept["rules"]:
        kept_rule["checked_at"] -= FOLDER_CHECK_SECONDS  # a minute later
    mailbox.store.put(mailbox.scope, RULES_KEY, json.dumps(kept))
    moved = graph(devstack, ALICE, "POST", f"/me/mailFolders/{folder}/move", json={"destinationId": "msgfolderroot"})
    moved.raise_for_status()
    message_id, internet_id = deliver(devstack, ALICE, "rule-moved-out")
    move(devstack, ALICE, message_id, folder)
    result = mailbox.sync("rules")
    assert (None, 0) == (result.problem, result.tracked)
    assert 2 == rule_row(devstack, rule)["folderonboardingstatus"]
    found = dataverse(devstack, "GET", f"emails?$select=activityid&$filter=messageid eq '{internet_id}'").json()
    assert [] == found["value"]


def test_removing_a_rule_keeps_what_it_linked(devstack: Devstack) -> None:
    """The rule deleted: the email it tracked stays regarding the account; mail moved in afterwards is not tracked."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Removed")
    rule = add_rule(mailbox, folder, "Removed")
    first_id, first_internet = deliver(devstack, ALICE, "rule-removed-1")
    move(devstack, ALICE, first_id, folder)
    mailbox.sync()
    assert 204 == as_alice(devstack, "DELETE", f"mailboxtrackingfolders({rule})").status_code
    rules_changed(mailbox.store, mailbox.scope)
    second_id, second_internet = deliver(devstack, ALICE, "rule-removed-2")
    move(devstack, ALICE, second_id, folder)
    mailbox.sync()
    assert FABRIKAM_ACCOUNT_ID == regarding_of(devstack, first_internet)
    found = dataverse(devstack, "GET", f"emails?$select=activityid&$filter=messageid eq '{second_internet}'").json()
    assert [] == found["value"]


def test_a_subfolder_is_tracked_only_with_its_own_rule(devstack: Devstack) -> None:
    """Mail in a folder under a rule's folder is not tracked by the parent's rule."""
    mailbox = Mailbox(devstack)
    parent = make_folder(devstack, "Parent")
    child = make_folder(devstack, "Child", parent)
    add_rule(mailbox, parent, "Parent")
    message_id, internet_id = deliver(devstack, ALICE, "rule-child")
    move(devstack, ALICE, message_id, child)
    mailbox.sync()
    found = dataverse(devstack, "GET", f"emails?$select=activityid&$filter=messageid eq '{internet_id}'").json()
    assert [] == found["value"]


def test_rules_track_nothing_when_the_organization_turns_folder_tracking_off(devstack: Devstack) -> None:
    """isfolderbasedtrackingenabled false: the rules are left alone and nothing moved in is tracked."""
    mailbox = Mailbox(devstack)
    folder = make_folder(devstack, "Switched off")
    add_rule(mailbox, folder, "Switched off")
    set_organization(devstack, isfolderbasedtrackingenabled=False)
    message_id, internet_id = deliver(devstack, ALICE, "rule-off")
    move(devstack, ALICE, message_id, folder)
    mailbox.sync()
    found = dataverse(devstack, "GET", f"emails?$select=activityid&$filter=messageid eq '{internet_id}'").json()
    assert [] == found["value"]
