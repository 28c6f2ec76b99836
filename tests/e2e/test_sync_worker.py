"""The sync worker as it is deployed: `addin-api sync` processes on Redis, the service under gunicorn receiving
Graph's notifications, the devstack playing Exchange Online and Dataverse. Users act as in Outlook (Graph,
delegated); what the tests read is what Dataverse holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ALICE, Devstack
from graph_support import as_app
from opsutil import ROOT, RedisServer, Service
from sync_support import activities, categorize, dataverse, deliver, enable_mailbox, graph, move, wait_for

from addin_api.cli import dev_environment
from addin_api.devstack import seed
from addin_api.devstack.control import config_document
from addin_api.devstack.server import DevstackServer
from addin_api.sync.items import pane_body

pytestmark = pytest.mark.slow
MEGAN = "megan@contoso.example"
CATCH_UP_SECONDS = 2
TRACKED = "Tracked to Dynamics 365"
UNDELIVERABLE = "Tracked to Dynamics 365 (Undeliverable)"
RESOURCES = {"users/{oid}/mailfolders('inbox')/messages", "users/{oid}/mailfolders('sentitems')/messages"}


@dataclass
class Stack:
    """The devstack (in this process), Redis, the service and the sync workers (processes)."""

    devstack: Devstack
    env: dict[str, str]
    log_dir: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """`addin-api sync`, waiting until it says it is ready."""
        log = self.log_dir / f"worker-{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "addin_api.cli", "sync"], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )
        self.workers[name] = process
        assert wait_for(lambda: b"ready: sync worker" in log.read_bytes() or process.poll() is not None, 30)
        assert process.poll() is None, log.read_text()[-2000:]
        return process

    def subscriptions(self, upn: str) -> list[dict[str, Any]]:
        """The live subscriptions on `upn`'s mailbox, as the app lists them."""
        oid = self.devstack.server.state.config.user_by_upn(upn)
        assert oid is not None
        listed = as_app(self.devstack).json("GET", "/subscriptions")["value"]
        return [s for s in listed if oid.oid in s["resource"]]


@pytest.fixture(scope="module")
def stack(devstack_server: DevstackServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, the service (two gunicorn workers) and one sync worker, against a freshly reset devstack."""
    devstack = Devstack(devstack_server)
    devstack.reset()
    log_dir = tmp_path_factory.mktemp("sync-worker")
    redis_server = RedisServer(log_dir).start()
    base = dev_environment(config_document(devstack_server.state), "http://127.0.0.1")
    service = Service({**base, "ADDIN_API_REDIS_URL": redis_server.url}, log_dir).start()
    env = {
        **os.environ,
        **base,
        "ADDIN_API_PUBLIC_URL": service.url,
        "ADDIN_API_REDIS_URL": redis_server.url,
        "ADDIN_API_SYNC_CATCH_UP_SECONDS": str(CATCH_UP_SECONDS),
        "ADDIN_API_SYNC_THREADS": "2",
        "ADDIN_API_SYNC_FOLDERS_SECONDS": str(CATCH_UP_SECONDS),
    }
    running = Stack(devstack, env, log_dir)
    try:
        for upn in (ALICE, MEGAN):
            enable_mailbox(devstack, upn)
        running.start_worker("a")
        yield running
    finally:
        for process in running.workers.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        service.stop()
        redis_server.stop()
        devstack.reset()


def _subject(test: str) -> str:
    return f"sync-{test}-{uuid.uuid4().hex[:6]}"


def test_the_worker_subscribes_to_each_mailbox_it_syncs(stack: Stack) -> None:
    """Inbox and Sent Items of every synchronized mailbox, each with the service's webhook URLs."""
    for upn in (ALICE, MEGAN):
        assert wait_for(lambda u=upn: len(stack.subscriptions(u)) >= 2, 20), upn  # type: ignore[misc]
        found = stack.subscriptions(upn)
        user = stack.devstack.server.state.config.user_by_upn(upn)
        assert user is not None
        assert {r.format(oid=user.oid) for r in RESOURCES} <= {s["resource"].lower() for s in found}
        assert {s["notificationUrl"] for s in found} == {f"{stack.env['ADDIN_API_PUBLIC_URL']}/graph/notifications"}


def test_a_message_given_the_category_in_outlook_becomes_one_activity(stack: Stack) -> None:
    """Category applied → the email activity exists, once, and stays once after further changes."""
    subject = _subject("category")
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    categorize(stack.devstack, ALICE, message_id)
    assert wait_for(lambda: activities(stack.devstack, subject)[internet_id] == 1, 20)
    graph_path = f"/me/messages/{message_id}"
    headers = {"Authorization": f"Bearer {stack.devstack.token(ALICE, audience='graph')}"}
    marked = stack.devstack.http.patch(
        f"{stack.devstack.url}/v1.0{graph_path}", json={"isRead": True}, headers=headers, timeout=10
    )
    marked.raise_for_status()
    assert not wait_for(lambda: activities(stack.devstack, subject)[internet_id] > 1, 2 * CATCH_UP_SECONDS)


def test_a_message_the_pane_tracked_is_recognised_when_its_category_arrives(stack: Stack) -> None:
    """The pane tracks, then adds the category: the worker finds the activity, and records it tracked, once."""
    subject = _subject("pane")
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    message = graph(stack.devstack, ALICE, "GET", f"/me/messages/{message_id}?$expand=attachments").json()
    service = stack.env["ADDIN_API_PUBLIC_URL"]
    tracked = requests.post(
        f"{service}/api/v1/emails",
        json=pane_body(message, "incoming", 5 * 1024 * 1024),
        headers={"Authorization": f"Bearer {stack.devstack.token(ALICE)}"},
        timeout=30,
    )
    assert tracked.status_code == 201, tracked.text
    categorize(stack.devstack, ALICE, message_id)

    def recorded() -> bool:
        status = requests.get(
            f"{service}/api/v1/emails",
            params={"internetMessageId": internet_id},
            headers={"Authorization": f"Bearer {stack.devstack.token(ALICE)}"},
            timeout=30,
        ).json()
        return status.get("syncState") == "tracked"

    assert wait_for(recorded, 20, every=0.25)
    assert activities(stack.devstack, subject) == {internet_id: 1}


def test_a_message_without_the_category_is_not_tracked(stack: Stack) -> None:
    """Delivery alone, or another category, tracks nothing."""
    subject = _subject("other")
    message_id, _ = deliver(stack.devstack, MEGAN, subject)
    categorize(stack.devstack, MEGAN, message_id, ["Red category"])
    assert not wait_for(lambda: bool(activities(stack.devstack, subject)), 2 * CATCH_UP_SECONDS + 1)


def test_with_notifications_dropped_the_catch_up_round_tracks(stack: Stack) -> None:
    """Graph's notifications lost: the worker's periodic round finds the change through delta."""
    subject = _subject("catchup")
    message_id, internet_id = deliver(stack.devstack, MEGAN, subject)
    http, url = stack.devstack.http, stack.devstack.url
    http.post(f"{url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()
    try:
        categorize(stack.devstack, MEGAN, message_id)
        assert wait_for(lambda: activities(stack.devstack, subject)[internet_id] == 1, 4 * CATCH_UP_SECONDS + 10)
    finally:
        http.delete(f"{url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()


def test_a_removed_subscription_is_made_again(stack: Stack) -> None:
    """Graph's `subscriptionRemoved` lifecycle event: the worker creates the subscription again."""
    assert wait_for(lambda: len(stack.subscriptions(ALICE)) >= 2, 20)
    removed = stack.subscriptions(ALICE)[0]
    sent = stack.devstack.http.post(
        f"{stack.devstack.url}/_devstack/graph/lifecycle",
        json={"subscriptionId": removed["id"], "event": "subscriptionRemoved"},
        timeout=10,
    )
    assert sent.status_code == 202

    def again() -> bool:
        found = stack.subscriptions(ALICE)
        return removed["id"] not in {s["id"] for s in found} and removed["resource"] in {s["resource"] for s in found}

    assert wait_for(again, 20)


def service_status(stack: Stack, internet_id: str, user: str = ALICE) -> dict[str, Any]:
    """The pane's tracking status of a message, from the service."""
    found = requests.get(
        f"{stack.env['ADDIN_API_PUBLIC_URL']}/api/v1/emails",
        params={"internetMessageId": internet_id},
        headers={"Authorization": f"Bearer {stack.devstack.token(user)}"},
        timeout=30,
    )
    body: dict[str, Any] = found.json()
    return body


def test_a_meeting_given_the_category_becomes_an_appointment(stack: Stack) -> None:
    """A calendar item carrying the category in Outlook: the worker tracks it as an appointment."""
    subject = _subject("meeting")
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    event = {
        "subject": subject,
        "start": {"dateTime": f"{day}T15:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T15:30:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "dana@fabrikam.example"}, "type": "required"}],
    }
    created = graph(stack.devstack, ALICE, "POST", "/me/events", json=event).json()
    graph(stack.devstack, ALICE, "PATCH", f"/me/events/{created['id']}", json={"categories": [TRACKED]})

    def landed() -> list[Any]:
        path = f"appointments?$select=globalobjectid&$filter=subject eq '{subject}'"
        found: list[Any] = dataverse(stack.devstack, "GET", path).json()["value"]
        return found

    assert wait_for(lambda: bool(landed()), 20)
    assert [a["globalobjectid"] for a in landed()] == [created["iCalUId"]]


def test_taking_the_category_away_untracks_and_keeps_the_activity(stack: Stack) -> None:
    """The pane then says `untracked`; the activity is still in Dataverse."""
    subject = _subject("untrack")
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    categorize(stack.devstack, ALICE, message_id)
    assert wait_for(lambda: service_status(stack, internet_id).get("syncState") == "tracked", 20)
    categorize(stack.devstack, ALICE, message_id, [])
    assert wait_for(lambda: service_status(stack, internet_id).get("syncState") == "untracked", 20)
    assert activities(stack.devstack, subject) == {internet_id: 1}


def test_a_message_refused_five_times_is_marked_undeliverable_with_its_reason(stack: Stack) -> None:
    """Dataverse refuses the track: retried with backoff, then the Undeliverable category and the reason."""
    subject = _subject("refused")
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    stack.devstack.fault(target="dataverse", method="POST", path=r"/\$batch$", status=403, count=5)
    categorize(stack.devstack, ALICE, message_id)

    def marked() -> bool:
        found = graph(stack.devstack, ALICE, "GET", f"/me/messages/{message_id}").json()
        return bool(found["categories"] == [UNDELIVERABLE])

    assert wait_for(marked, 60, every=0.5)
    status = service_status(stack, internet_id)
    assert (status["tracked"], status["syncState"], status["reason"]) == (False, "undeliverable", "dataverse_forbidden")
    stack.devstack.http.delete(f"{stack.devstack.url}/_devstack/faults", timeout=10).raise_for_status()
    categorize(stack.devstack, ALICE, message_id)
    assert wait_for(lambda: service_status(stack, internet_id).get("syncState") == "tracked", 20)


def test_a_message_given_the_category_in_another_folder_is_tracked(stack: Stack) -> None:
    """A folder under the Inbox: the catch-up round's folder pass finds it."""
    subject = _subject("folder")
    folder = graph(stack.devstack, ALICE, "POST", "/me/mailFolders/inbox/childFolders", json={"displayName": subject})
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    moved = graph(
        stack.devstack, ALICE, "POST", f"/me/messages/{message_id}/move", json={"destinationId": folder.json()["id"]}
    )
    categorize(stack.devstack, ALICE, moved.json()["id"])
    assert wait_for(lambda: activities(stack.devstack, subject)[internet_id] == 1, 6 * CATCH_UP_SECONDS + 10)


def as_alice_in_dataverse(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    """The Web API as alice (a Dynamics 365 user composing in the web client)."""
    headers = {"Authorization": f"Bearer {stack.devstack.token(ALICE, audience='dataverse')}"}
    return stack.devstack.http.request(method, f"{stack.devstack.api}{path}", json=body, headers=headers, timeout=30)


def queue_email(stack: Stack, subject: str, recipients: list[str], token: str = "", **fields: Any) -> str:
    """An email alice writes in Dynamics 365 and sends (`SendEmail` with IssueSend): Pending Send; its id."""
    parties = [{"participationtypemask": 2, "addressused": address} for address in recipients]
    body = {"subject": subject, "description": "<p>Our proposal.</p>", "directioncode": True, **fields}
    created = as_alice_in_dataverse(stack, "POST", "emails", {**body, "email_activity_parties": parties})
    assert created.status_code == 204, created.text
    email_id = str(created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))
    queued = as_alice_in_dataverse(
        stack,
        "POST",
        f"emails({email_id})/Microsoft.Dynamics.CRM.SendEmail",
        {"IssueSend": True, "TrackingToken": token},
    )
    assert queued.status_code == 200, queued.text
    return email_id


def test_an_email_sent_from_dynamics_leaves_from_the_owners_mailbox_and_becomes_sent(stack: Stack) -> None:
    """Pending Send → sent through Graph from alice's mailbox (outside and inside the tenant) → Sent, with its id."""
    subject = _subject("send")
    email_id = queue_email(stack, subject, ["sam@northwind.example", MEGAN])

    def row() -> dict[str, Any]:
        found: dict[str, Any] = dataverse(
            stack.devstack, "GET", f"emails({email_id})?$select=statuscode,messageid"
        ).json()
        return found

    assert wait_for(lambda: row()["statuscode"] == 3, 20)
    message_id = row()["messageid"]
    assert message_id.startswith(f"<{email_id}@")
    outbound = stack.devstack.http.get(f"{stack.devstack.url}/_devstack/mail/outbound", timeout=10).json()["messages"]
    assert [m["subject"] for m in outbound if m.get("internetMessageId") == message_id] == [subject]
    inbox = graph(stack.devstack, MEGAN, "GET", "/me/mailFolders/inbox/messages?$select=subject,internetMessageId")
    assert [m["subject"] for m in inbox.json()["value"] if m["internetMessageId"] == message_id] == [subject]


def test_a_reply_to_an_email_sent_from_dynamics_is_tracked_regarding_the_same_record(stack: Stack) -> None:
    """Alice sends regarding Fabrikam (with a tracking token); Sam's reply correlates by the token, is tracked on
    the default option and regards Fabrikam too (found through its In-Reply-To)."""
    subject = _subject("reply")
    token = as_alice_in_dataverse(stack, "POST", "GetTrackingTokenEmail", {"Subject": subject}).json()["TrackingToken"]
    regarding = {"regardingobjectid_account_email@odata.bind": f"/accounts({seed.FABRIKAM_ACCOUNT_ID})"}
    email_id = queue_email(stack, subject, ["sam@northwind.example"], token, **regarding)

    def sent() -> dict[str, Any]:
        found: dict[str, Any] = dataverse(
            stack.devstack, "GET", f"emails({email_id})?$select=statuscode,messageid"
        ).json()
        return found

    assert wait_for(lambda: sent()["statuscode"] == 3, 20)
    reply = {
        "from": {"address": "sam@northwind.example", "name": "Sam Lee"},
        "to": [{"address": ALICE}],
        "subject": f"RE: {subject} {token}",
        "body": "Thanks, agreed.",
        "bodyType": "text",
        "inReplyTo": sent()["messageid"],
    }
    time.sleep(1.1)  # a message of a later second than the mailbox's first pass (Graph's times are to the second)
    stack.devstack.http.post(f"{stack.devstack.url}/_devstack/mail/deliver", json=reply, timeout=10).raise_for_status()

    def tracked_reply() -> list[Any]:
        path = f"emails?$select=_regardingobjectid_value&$filter=startswith(subject,'RE: {subject}')"
        found: list[Any] = dataverse(stack.devstack, "GET", path).json()["value"]
        return found

    assert wait_for(lambda: bool(tracked_reply()), 20)
    assert [e["_regardingobjectid_value"] for e in tracked_reply()] == [seed.FABRIKAM_ACCOUNT_ID]


def test_an_email_graph_keeps_refusing_becomes_failed(stack: Stack) -> None:
    """Graph refuses the draft five times: the email is Failed (statuscode 8), not sent."""
    stack.devstack.fault(target="graph", method="POST", path=r"/messages$", status=400, count=5)
    email_id = queue_email(stack, _subject("refused-send"), ["sam@northwind.example"])

    def status() -> int:
        return int(dataverse(stack.devstack, "GET", f"emails({email_id})?$select=statuscode").json()["statuscode"])

    assert wait_for(lambda: status() == 8, 60, every=0.5)
    stack.devstack.http.delete(f"{stack.devstack.url}/_devstack/faults", timeout=10).raise_for_status()


def set_options(stack: Stack, track_incoming: str, auto_create: str = "none") -> None:
    """Alice's personal options, through the service as the pane would change them."""
    changed = requests.patch(
        f"{stack.env['ADDIN_API_PUBLIC_URL']}/api/v1/settings",
        json={"trackIncoming": track_incoming, "autoCreate": auto_create},
        headers={"Authorization": f"Bearer {stack.devstack.token(ALICE)}"},
        timeout=30,
    )
    assert changed.status_code == 200, changed.text


def test_with_all_email_tracked_an_arriving_message_is_tracked_unmarked(stack: Stack) -> None:
    """Alice chooses "All email messages": the next message in her Inbox is tracked and given the category."""
    set_options(stack, "all")
    # Mail of the second of the mailbox's first pass counts as already there (Graph's times are to the second).
    time.sleep(1.1)
    try:
        subject = _subject("auto")
        message_id, internet_id = deliver(stack.devstack, ALICE, subject)
        assert wait_for(lambda: activities(stack.devstack, subject)[internet_id] == 1, 20)

        def categories() -> list[str]:
            found: list[str] = graph(stack.devstack, ALICE, "GET", f"/me/messages/{message_id}").json()["categories"]
            return found

        assert wait_for(lambda: categories() == [TRACKED], 10)
    finally:
        set_options(stack, "replies")


def deliver_from(stack: Stack, sender: dict[str, str], subject: str) -> tuple[str, str]:
    """Mail from `sender` to alice: (Graph message id, Internet message id)."""
    body = {"from": sender, "to": [{"address": ALICE}], "subject": subject, "body": "Hello", "bodyType": "text"}
    found = stack.devstack.http.post(f"{stack.devstack.url}/_devstack/mail/deliver", json=body, timeout=10).json()
    return str(found["deliveries"][0]["messageId"]), str(found["internetMessageId"])


def test_with_email_from_records_tracked_only_a_known_senders_message_is(stack: Stack) -> None:
    """ "Email messages from Dynamics 365 Leads, Contacts and Accounts": Dana (a contact) yes, a stranger no."""
    set_options(stack, "fromRecords")
    # Mail of the second of the mailbox's first pass counts as already there (Graph's times are to the second).
    time.sleep(1.1)
    try:
        subject = _subject("from-records")
        _, known = deliver_from(stack, {"address": "dana@fabrikam.example", "name": "Dana"}, subject)
        _, stranger = deliver_from(stack, {"address": "who@nowhere.example", "name": "Who"}, subject)
        assert wait_for(lambda: activities(stack.devstack, subject)[known] == 1, 20)
        assert not wait_for(lambda: stranger in activities(stack.devstack, subject), 2 * CATCH_UP_SECONDS)
    finally:
        set_options(stack, "replies")


def test_an_unknown_sender_of_a_categorized_message_becomes_a_contact(stack: Stack) -> None:
    """Automatically create records on: the stranger becomes alice's contact and the email regards it."""
    set_options(stack, "replies", auto_create="contact")
    try:
        subject = _subject("create")
        address = f"{subject}@unknown-co.example"
        message_id, internet_id = deliver_from(stack, {"address": address, "name": "Nova Person"}, subject)
        categorize(stack.devstack, ALICE, message_id)
        assert wait_for(lambda: activities(stack.devstack, subject)[internet_id] == 1, 20)
        path = f"contacts?$select=contactid&$filter=emailaddress1 eq '{address}'"
        contacts = dataverse(stack.devstack, "GET", path).json()["value"]
        emails = dataverse(
            stack.devstack, "GET", f"emails?$select=_regardingobjectid_value&$filter=subject eq '{subject}'"
        ).json()["value"]
        assert [e["_regardingobjectid_value"] for e in emails] == [c["contactid"] for c in contacts]
        assert len(contacts) == 1
    finally:
        set_options(stack, "replies")


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(stack: Stack) -> None:
    """Two workers; one is killed (SIGKILL) while messages are being categorized: each becomes one activity."""
    stack.start_worker("b")
    subject = _subject("kill")
    delivered = [deliver(stack.devstack, upn, f"{subject} {n}") for n in range(6) for upn in (ALICE, MEGAN)]
    for n, (message_id, _) in enumerate(delivered):
        categorize(stack.devstack, ALICE if n % 2 == 0 else MEGAN, message_id)
        if n == len(delivered) // 2:
            stack.workers["a"].send_signal(signal.SIGKILL)
    wanted = {internet_id for _, internet_id in delivered}
    assert wait_for(lambda: wanted <= set(activities(stack.devstack, subject)), 60, every=0.5)
    counts = activities(stack.devstack, subject)
    assert set(counts.values()) == {1}, counts


def test_a_scheduled_test_and_enable_is_run_by_the_worker(stack: Stack) -> None:
    """An admin schedules Test & Enable (as the admin center does): the worker probes the mailbox and records it."""
    found = dataverse(
        stack.devstack, "GET", f"systemusers?$filter=domainname eq '{MEGAN}'&$expand=defaultmailbox($select=mailboxid)"
    )
    mailbox_id = found.json()["value"][0]["defaultmailbox"]["mailboxid"]
    values = {"testemailconfigurationscheduled": True, "incomingemailstatus": 0, "outgoingemailstatus": 0}
    dataverse(stack.devstack, "PATCH", f"mailboxes({mailbox_id})", json=values, headers={"If-Match": "*"})

    def tested() -> bool:
        row = dataverse(stack.devstack, "GET", f"mailboxes({mailbox_id})").json()
        return row["testemailconfigurationscheduled"] is False and row["incomingemailstatus"] == 1

    assert wait_for(tested, 4 * CATCH_UP_SECONDS + 10, every=0.5)


def test_sigterm_stops_a_worker_cleanly(stack: Stack) -> None:
    """SIGTERM: the worker finishes the jobs in hand and exits 0."""
    process = stack.start_worker("c")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_folder_rule_made_through_the_service_tracks_what_is_moved_into_its_folder(stack: Stack) -> None:
    """The pane's POST /api/v1/folder-rules (gunicorn, Redis) → the worker reads the rule at once, watches the
    folder, and a message alice moves there is tracked regarding the rule's account."""
    folder = graph(
        stack.devstack, ALICE, "POST", "/me/mailFolders/inbox/childFolders", json={"displayName": _subject("rule")}
    )
    folder.raise_for_status()
    folder_id = folder.json()["id"]
    body = {"folderId": folder_id, "regarding": {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID}}
    made = requests.post(
        f"{stack.env['ADDIN_API_PUBLIC_URL']}/api/v1/folder-rules",
        json=body,
        headers={"Authorization": f"Bearer {stack.devstack.token(ALICE)}"},
        timeout=30,
    )
    assert 201 == made.status_code, made.text
    rule_id = made.json()["id"]

    def onboarded() -> bool:
        row = dataverse(stack.devstack, "GET", f"mailboxtrackingfolders({rule_id})?$select=folderonboardingstatus")
        return bool(row.json().get("folderonboardingstatus") == 1)

    assert wait_for(onboarded, 20)
    subject = _subject("rule-moved")
    message_id, internet_id = deliver(stack.devstack, ALICE, subject)
    move(stack.devstack, ALICE, message_id, folder_id)

    def regarding() -> list[Any]:
        path = f"emails?$select=_regardingobjectid_value&$filter=messageid eq '{internet_id}'"
        return [r["_regardingobjectid_value"] for r in dataverse(stack.devstack, "GET", path).json()["value"]]

    assert wait_for(lambda: bool(regarding()), 20)
    assert [seed.FABRIKAM_ACCOUNT_ID] == regarding()


def test_emails_of_a_mailbox_that_does_not_send_here_stay_pending_send(stack: Stack) -> None:
    """Alice's outgoing email not delivered by server-side sync: her queued email stays Pending Send (statuscode 6)
    through several of the worker's looks, and nothing leaves her mailbox — as Dynamics 365 leaves it."""
    found = dataverse(
        stack.devstack, "GET", f"systemusers?$filter=domainname eq '{ALICE}'&$expand=defaultmailbox($select=mailboxid)"
    )
    box = found.json()["value"][0]["defaultmailbox"]["mailboxid"]

    def outgoing(method: int) -> None:
        changed = dataverse(
            stack.devstack,
            "PATCH",
            f"mailboxes({box})",
            json={"outgoingemaildeliverymethod": method},
            headers={"If-Match": "*"},
        )
        changed.raise_for_status()

    outgoing(0)
    try:
        subject = _subject("not-sending")
        email_id = queue_email(stack, subject, ["sam@northwind.example"])
        time.sleep(3 * 2 + 1)  # three of the worker's looks for emails to send (every 2 s)
        status = dataverse(stack.devstack, "GET", f"emails({email_id})?$select=statuscode").json()["statuscode"]
        outbound = stack.devstack.http.get(f"{stack.devstack.url}/_devstack/mail/outbound", timeout=10).json()
        assert (6, []) == (status, [m for m in outbound["messages"] if m["subject"] == subject])
    finally:
        outgoing(2)
