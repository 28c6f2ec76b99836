"""One pass of tracking by category over alice's mailbox, against the devstack: Graph as the app (client
credentials), Dataverse as alice by impersonation, item states in the store where the pane reads them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from conftest import ALICE, Devstack
from sync_support import Mailbox, activities, categorize, dataverse, deliver, graph

from addin_api.devstack.config import DEMO_USERS
from addin_api.sync.category_pass import CATEGORY_KEY, LAST_SYNC_KEY, MAX_ATTEMPTS
from addin_api.sync.items import TRACKED_CATEGORY, UNDELIVERABLE_CATEGORY

BATCH = r"/api/data/v9\.2/\$batch$"


def test_a_categorized_message_is_tracked_once_and_later_changes_cost_nothing(devstack: Devstack) -> None:
    """First pass tracks it and records `tracked` with the activity id; a pass after a change reads only delta."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    message_id, internet_id = deliver(devstack, ALICE, "pass-once")
    categorize(devstack, ALICE, message_id)
    first = mailbox.sync()
    assert (first.tracked, first.ok) == (1, True)
    state = mailbox.state(internet_id)
    assert state.state == "tracked"
    assert activities(devstack, "pass-once") == {internet_id: 1}
    row = dataverse(devstack, "GET", f"emails({state.activity_id})?$select=messageid").json()
    assert row["messageid"] == internet_id
    graph(devstack, ALICE, "PATCH", f"/me/messages/{message_id}", json={"isRead": True}).raise_for_status()
    again = mailbox.sync()
    assert (again.tracked, again.already_tracked, again.dataverse_round_trips) == (0, 1, 0)
    assert mailbox.store.get(mailbox.scope, LAST_SYNC_KEY) is not None


def test_taking_the_category_away_untracks_and_keeps_the_activity(devstack: Devstack) -> None:
    """Dynamics 365 keeps the activity of an item no longer tracked; the store says `untracked`."""
    mailbox = Mailbox(devstack)
    message_id, internet_id = deliver(devstack, ALICE, "pass-untrack")
    categorize(devstack, ALICE, message_id)
    mailbox.sync()
    categorize(devstack, ALICE, message_id, [])
    result = mailbox.sync()
    assert result.untracked == 1
    assert mailbox.state(internet_id).state == "untracked"
    assert activities(devstack, "pass-untrack") == {internet_id: 1}


def test_a_message_refused_five_times_becomes_undeliverable_and_the_folder_moves_on(devstack: Devstack) -> None:
    """Each refused attempt is `pending`; the fifth gives the Undeliverable category; a later message tracks."""
    mailbox = Mailbox(devstack)
    mailbox.know_the_owner()
    message_id, internet_id = deliver(devstack, ALICE, "pass-refused")
    categorize(devstack, ALICE, message_id)
    devstack.fault(target="dataverse", method="POST", path=BATCH, status=403, count=MAX_ATTEMPTS)
    for attempt in range(1, MAX_ATTEMPTS):
        result = mailbox.sync()
        assert (len(result.failures), result.transient) == (1, False)
        assert (mailbox.state(internet_id).state, mailbox.state(internet_id).attempts) == ("pending", attempt)
    last = mailbox.sync()
    assert (last.failures, last.undeliverable) == ((), 1)
    state = mailbox.state(internet_id)
    assert (state.state, state.attempts, state.reason) == ("undeliverable", MAX_ATTEMPTS, "dataverse_forbidden")
    assert mailbox.categories(message_id) == [UNDELIVERABLE_CATEGORY]
    later_id, later_internet_id = deliver(devstack, ALICE, "pass-later")
    categorize(devstack, ALICE, later_id)
    after = mailbox.sync()
    assert (after.tracked, after.untracked) == (1, 0)
    assert mailbox.state(later_internet_id).state == "tracked"
    assert mailbox.state(internet_id).state == "undeliverable"


def test_giving_the_category_again_after_undeliverable_starts_over(devstack: Devstack) -> None:
    """The user re-applies Tracked to Dynamics 365: the attempts start again and this time it tracks."""
    mailbox = Mailbox(devstack)
    mailbox.know_the_owner()
    message_id, internet_id = deliver(devstack, ALICE, "pass-retry")
    categorize(devstack, ALICE, message_id)
    devstack.fault(target="dataverse", method="POST", path=BATCH, status=403, count=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        mailbox.sync()
    assert mailbox.state(internet_id).state == "undeliverable"
    categorize(devstack, ALICE, message_id)
    assert mailbox.sync().tracked == 1
    assert mailbox.state(internet_id).state == "tracked"


def test_throttling_stops_the_pass_without_counting_an_attempt(devstack: Devstack) -> None:
    """A 429 from Dataverse is the service's, not the message's: transient, the item not `pending`."""
    mailbox = Mailbox(devstack)
    mailbox.know_the_owner()
    message_id, internet_id = deliver(devstack, ALICE, "pass-throttled")
    categorize(devstack, ALICE, message_id)
    mailbox.store.put(mailbox.scope, LAST_SYNC_KEY, None)
    devstack.fault(target="dataverse", method="POST", path=BATCH, status=429, retryAfter=1, count=20)
    result = mailbox.sync()
    assert (result.transient, result.tracked) == (True, 0)
    assert mailbox.state(internet_id) is None
    assert mailbox.store.get(mailbox.scope, LAST_SYNC_KEY) is None, "a stopped pass is not a sync"


def test_a_deleted_tracking_category_is_made_again(devstack: Devstack) -> None:
    """The user deleted the master category: the pass creates it again and goes on."""
    mailbox = Mailbox(devstack)
    listed = graph(devstack, ALICE, "GET", "/me/outlook/masterCategories").json()["value"]
    tracked = next(c for c in listed if c["displayName"] == TRACKED_CATEGORY)
    graph(devstack, ALICE, "DELETE", f"/me/outlook/masterCategories/{tracked['id']}").raise_for_status()
    result = mailbox.sync()
    assert result.ok
    listed = graph(devstack, ALICE, "GET", "/me/outlook/masterCategories").json()["value"]
    made = [c for c in listed if c["displayName"] == TRACKED_CATEGORY]
    assert len(made) == 1 and made[0]["id"] != tracked["id"]
    assert mailbox.store.get(mailbox.scope, CATEGORY_KEY) == made[0]["id"]


def master_category_reads(devstack: Devstack) -> int:
    """How many times the app read a mailbox's master categories since the log was cleared."""
    return sum(1 for e in devstack.requests_log("graph") if e["path"].endswith("/outlook/masterCategories"))


def test_the_master_categories_are_read_once_a_minute_or_when_a_message_names_a_new_one(devstack: Devstack) -> None:
    """A pass after a fresh one trusts what it read; a category name it never saw makes it read them again."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    devstack.clear_log()
    message_id, internet_id = deliver(devstack, ALICE, "pass-cached")
    categorize(devstack, ALICE, message_id)
    assert mailbox.sync().tracked == 1
    assert master_category_reads(devstack) == 0
    body = {"displayName": "Project Phoenix", "color": "preset3"}
    graph(devstack, ALICE, "POST", "/me/outlook/masterCategories", json=body).raise_for_status()
    other_id, _ = deliver(devstack, ALICE, "pass-cached-other")
    categorize(devstack, ALICE, other_id, ["Project Phoenix"])
    devstack.clear_log()
    mailbox.sync()
    assert master_category_reads(devstack) == 1
    assert mailbox.state(internet_id).state == "tracked"


def test_a_meeting_given_the_category_becomes_an_appointment_keyed_by_its_ical_uid(devstack: Devstack) -> None:
    """A calendar item carrying the category is tracked as an appointment, its attendees resolved as the pane's."""
    mailbox = Mailbox(devstack)
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    event = {
        "subject": "pass-meeting Fabrikam renewal",
        "start": {"dateTime": f"{day}T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T11:00:00", "timeZone": "UTC"},
        "location": {"displayName": "Teams"},
        "attendees": [{"emailAddress": {"address": "dana@fabrikam.example", "name": "Dana"}, "type": "required"}],
    }
    created = graph(devstack, ALICE, "POST", "/me/events", json=event).json()
    assert mailbox.sync(feeds="calendar").ok
    graph(devstack, ALICE, "PATCH", f"/me/events/{created['id']}", json={"categories": [TRACKED_CATEGORY]})
    result = mailbox.sync(feeds="calendar")
    assert (result.tracked, result.ok) == (1, True)
    found = dataverse(
        devstack,
        "GET",
        "appointments?$select=subject,globalobjectid,scheduledstart,location"
        "&$filter=startswith(subject,'pass-meeting')",
    ).json()["value"]
    assert [(a["globalobjectid"], a["location"]) for a in found] == [(created["iCalUId"], "Teams")]
    assert found[0]["scheduledstart"].startswith(f"{day}T10:00:00")
    assert mailbox.state(created["iCalUId"]).state == "tracked"


def test_a_mail_pass_reads_no_calendar_and_a_calendar_pass_no_mail(devstack: Devstack) -> None:
    """A notification names the entity that changed; its pass reads only that feed's delta."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    devstack.clear_log()
    mailbox.sync(feeds="mail")
    paths = [e["path"] for e in devstack.requests_log("graph")]
    assert paths and not any("calendarView" in p for p in paths)
    devstack.clear_log()
    mailbox.sync(feeds="calendar")
    paths = [e["path"] for e in devstack.requests_log("graph")]
    assert paths and all("calendarView" in p for p in paths)


def test_a_message_given_the_category_in_another_folder_is_tracked_by_the_catch_up_round(devstack: Devstack) -> None:
    """A folder under the Inbox: its messages are read by an "all" pass, whose folder round then waits a while."""
    mailbox = Mailbox(devstack)
    folder = graph(devstack, ALICE, "POST", "/me/mailFolders/inbox/childFolders", json={"displayName": "Projects"})
    folder_id = folder.json()["id"]
    message_id, internet_id = deliver(devstack, ALICE, "pass-folder")
    moved = graph(devstack, ALICE, "POST", f"/me/messages/{message_id}/move", json={"destinationId": folder_id})
    categorize(devstack, ALICE, moved.json()["id"])
    assert mailbox.sync(feeds="mail").tracked == 0, "the notification-driven pass reads Inbox and Sent Items only"
    result = mailbox.sync()
    assert (result.tracked, result.ok) == (1, True)
    assert mailbox.state(internet_id).state == "tracked"
    devstack.clear_log()
    mailbox.sync()
    assert not [e for e in devstack.requests_log("graph") if "childFolders" in e["path"]], "the round is not due"


def test_a_pass_for_one_folder_reads_that_folders_delta_alone(devstack: Devstack) -> None:
    """A notification whose subscription watches the Inbox: its pass sends one delta request and no other."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    devstack.clear_log()
    mailbox.sync(feeds="inbox")
    deltas = [e["path"] for e in devstack.requests_log("graph") if e["path"].endswith("/delta")]
    assert len(deltas) == 1
    assert mailbox.store.get(mailbox.scope, "delta:inbox") is not None


def set_option(devstack: Devstack, method: int, auto_create: int = 0) -> None:
    """Alice's "Select the email messages to track" and "Automatically create records" options, as she would set
    them in Dynamics 365."""
    alice = next(u.systemuserid for u in DEMO_USERS if u.upn == ALICE)
    token = devstack.token(ALICE, audience="dataverse")
    changed = devstack.http.patch(
        f"{devstack.api}usersettingscollection({alice})",
        json={"incomingemailfilteringmethod": method, "autocreatecontactonpromote": auto_create},
        headers={"Authorization": f"Bearer {token}", "If-Match": "*"},
        timeout=10,
    )
    assert changed.status_code == 204, changed.text


def test_with_all_email_tracked_a_new_message_is_tracked_and_given_the_category(devstack: Devstack) -> None:
    """Option 0 ("All email messages"): the next Inbox message is tracked without the user marking it."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    time.sleep(1.1)  # Graph's receivedDateTime is to the second: mail of the first pass's second counts as old
    set_option(devstack, 0)
    message_id, internet_id = deliver(devstack, ALICE, "pass-auto-all")
    result = mailbox.sync(feeds="inbox")
    assert (result.auto_tracked, result.tracked) == (1, 1)
    assert activities(devstack, "pass-auto-all") == {internet_id: 1}
    assert mailbox.categories(message_id) == [TRACKED_CATEGORY]
    assert mailbox.sync(feeds="inbox").tracked == 0, "the category it was given is not a second track"


def test_by_default_only_replies_to_dynamics_email_are_tracked(devstack: Devstack) -> None:
    """Option 1 (the default): a message that correlates to nothing is evaluated once and left alone."""
    mailbox = Mailbox(devstack)
    mailbox.sync()
    time.sleep(1.1)  # as above: a message of a later second than the first pass
    message_id, internet_id = deliver(devstack, ALICE, "pass-auto-default")
    assert mailbox.sync(feeds="inbox").tracked == 0
    assert mailbox.state(internet_id).state == "filtered"
    graph(devstack, ALICE, "PATCH", f"/me/messages/{message_id}", json={"isRead": True}).raise_for_status()
    devstack.clear_log()
    mailbox.sync(feeds="inbox")
    asked = [e for e in devstack.requests_log("dataverse") if "CheckIncomingEmail" in e["path"]]
    assert asked == [], "a message the options declined is not asked about again"


def test_mail_that_was_there_before_the_first_pass_is_not_evaluated(devstack: Devstack) -> None:
    """Turning sync on does not track the Inbox's past, whatever the option."""
    set_option(devstack, 0)
    deliver(devstack, ALICE, "pass-auto-before")
    mailbox = Mailbox(devstack)
    assert mailbox.sync().tracked == 0
    assert activities(devstack, "pass-auto-before") == {}


def test_an_unresolved_sender_of_a_tracked_email_becomes_a_contact_when_the_option_says_so(devstack: Devstack) -> None:
    """Automatically create records: the sender nobody knows becomes alice's contact, and the email regards it."""
    mailbox = Mailbox(devstack)
    set_option(devstack, 1, auto_create=1)
    mailbox.sync()
    sender = {"address": "new.person@unknown-co.example", "name": "Nova Person"}
    body = {"from": sender, "to": [{"address": ALICE}], "subject": "pass-autocreate", "body": "Hi", "bodyType": "text"}
    delivered = devstack.http.post(f"{devstack.url}/_devstack/mail/deliver", json=body, timeout=10).json()
    categorize(devstack, ALICE, delivered["deliveries"][0]["messageId"])
    assert mailbox.sync().tracked == 1
    contacts = dataverse(
        devstack, "GET", "contacts?$select=contactid,fullname&$filter=emailaddress1 eq 'new.person@unknown-co.example'"
    ).json()["value"]
    assert [c["fullname"] for c in contacts] == ["Nova Person"]
    email = dataverse(
        devstack, "GET", "emails?$select=_regardingobjectid_value&$filter=subject eq 'pass-autocreate'"
    ).json()["value"]
    assert [e["_regardingobjectid_value"] for e in email] == [contacts[0]["contactid"]]
