"""Helpers for the sync worker's tests: a user's mailbox made ready to sync, mail from outside, the category given
as in Outlook (Graph, delegated), and the email activities Dataverse holds (read as megan, an administrator)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
from conftest import ALICE, Devstack, make_session, make_settings

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.model import MeInfo, TrackPolicy
from addin_api.sync.category_pass import Owner, PassResult, run_pass
from addin_api.sync.graph import GraphClient
from addin_api.sync.store import InMemoryStore, mailbox_scope
from addin_api.wiring import build_app_access

TRACKED = "Tracked to Dynamics 365"
MEGAN = "megan@contoso.example"
SENDER = {"address": "lee@northwind.example", "name": "Lee Gu"}


def graph(devstack: Devstack, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Graph as `user` in Outlook."""
    headers = {"Authorization": f"Bearer {devstack.token(user, audience='graph')}", **kwargs.pop("headers", {})}
    return devstack.http.request(method, f"{devstack.url}/v1.0{path}", headers=headers, timeout=30, **kwargs)


def dataverse(devstack: Devstack, method: str, path: str, **kwargs: Any) -> requests.Response:
    """The Web API as megan."""
    headers = {
        "Authorization": f"Bearer {devstack.token(MEGAN, audience='dataverse')}",
        "Accept": "application/json",
        **kwargs.pop("headers", {}),
    }
    return devstack.http.request(method, f"{devstack.api}{path}", headers=headers, timeout=30, **kwargs)


def enable_mailbox(devstack: Devstack, upn: str) -> None:
    """Approve the user's mailbox and turn on incoming server-side sync (as `addin-api mailbox` would), and make
    sure the mailbox has the tracking category."""
    found = dataverse(
        devstack, "GET", f"systemusers?$filter=domainname eq '{upn}'&$expand=defaultmailbox($select=mailboxid)"
    )
    box = found.json()["value"][0]["defaultmailbox"]
    values = {
        "emailrouteraccessapproval": dvmailbox.APPROVED,
        "incomingemaildeliverymethod": dvmailbox.EMAIL_SERVER_SIDE_SYNC,
        "incomingemailstatus": dvmailbox.SUCCESS,
    }
    changed = dataverse(devstack, "PATCH", f"mailboxes({box['mailboxid']})", json=values, headers={"If-Match": "*"})
    changed.raise_for_status()
    listed = graph(devstack, upn, "GET", "/me/outlook/masterCategories").json()["value"]
    if not any(c["displayName"] == TRACKED for c in listed):
        body = {"displayName": TRACKED, "color": "preset9"}
        graph(devstack, upn, "POST", "/me/outlook/masterCategories", json=body).raise_for_status()


def deliver(devstack: Devstack, to: str, subject: str) -> tuple[str, str]:
    """Mail from outside to `to`; (its Graph message id in `to`'s Inbox, its Internet message id)."""
    internet_id = f"<{uuid.uuid4().hex}@northwind.example>"
    body = {"from": SENDER, "to": [{"address": to}], "subject": subject, "body": "Hello", "bodyType": "text"}
    response = devstack.http.post(
        f"{devstack.url}/_devstack/mail/deliver", json={**body, "internetMessageId": internet_id}, timeout=10
    )
    response.raise_for_status()
    return str(response.json()["deliveries"][0]["messageId"]), internet_id


def categorize(devstack: Devstack, user: str, message_id: str, categories: list[str] | None = None) -> None:
    """Give a message the tracking category (or `categories`), as the user in Outlook."""
    body = {"categories": [TRACKED] if categories is None else categories}
    graph(devstack, user, "PATCH", f"/me/messages/{message_id}", json=body).raise_for_status()


def move(devstack: Devstack, user: str, message_id: str, folder_id: str) -> None:
    """Move a message into a folder, as the user in Outlook (immutable ids: it keeps its id)."""
    moved = graph(
        devstack,
        user,
        "POST",
        f"/me/messages/{message_id}/move",
        json={"destinationId": folder_id},
        headers={"Prefer": 'IdType="ImmutableId"'},
    )
    moved.raise_for_status()


def make_folder(devstack: Devstack, name: str, parent: str = "inbox", user: str = ALICE) -> str:
    """A folder under `parent`, made by the user in Outlook; its id."""
    made = graph(devstack, user, "POST", f"/me/mailFolders/{parent}/childFolders", json={"displayName": name})
    made.raise_for_status()
    return str(made.json()["id"])


def set_organization(devstack: Devstack, **values: Any) -> None:
    """Change the environment's organization row, as megan (an administrator) in the admin center."""
    org = dataverse(devstack, "GET", "organizations?$select=organizationid").json()["value"][0]["organizationid"]
    changed = dataverse(devstack, "PATCH", f"organizations({org})", json=values, headers={"If-Match": "*"})
    changed.raise_for_status()


def activities(devstack: Devstack, subject_prefix: str) -> Counter[str]:
    """How many email activities each Internet message id has, among those whose subject starts with the prefix."""
    counts: Counter[str] = Counter()
    found = dataverse(devstack, "GET", f"emails?$select=messageid&$filter=startswith(subject,'{subject_prefix}')")
    found.raise_for_status()
    counts.update(str(row["messageid"]) for row in found.json()["value"])
    return counts


def wait_for(check: Callable[[], bool], seconds: float, every: float = 0.1) -> bool:
    """Poll `check` until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


class Mailbox:
    """Alice's mailbox, synced pass by pass into one store."""

    def __init__(self, devstack: Devstack) -> None:
        settings = make_settings(devstack)
        self.devstack = devstack
        self.environment = str(devstack.config["environmentUrl"])
        user = devstack.server.state.config.user_by_upn(ALICE)
        assert user is not None
        self.owner = Owner(ALICE, user.oid)
        self.graph = GraphClient.for_app(settings, make_session(devstack), devstack.config["tenantId"])
        self.access = build_app_access(settings)
        self.policy = TrackPolicy(settings.max_attachment_bytes, settings.activity_id_key())
        self.store = InMemoryStore()
        self.scope = mailbox_scope(self.environment, user.oid)
        self.caller: MeInfo | None = None

    def sync(self, feeds: str = "all") -> PassResult:
        """One pass (handed the owner as an earlier pass read them, as the worker does)."""
        owner_dv = self.access.dataverse(self.environment, acting_as=self.owner.object_id)
        result = run_pass(
            self.graph,
            owner_dv,
            self.owner,
            self.store,
            environment_url=self.environment,
            policy=self.policy,
            caller=self.caller,
            feeds=feeds,
        )
        self.caller = result.caller or self.caller
        return result

    def know_the_owner(self) -> None:
        """A first pass that reads the owner (so that faults on `$batch` meet only the tracking)."""
        message_id, _ = deliver(self.devstack, ALICE, "pass-warm-up")
        categorize(self.devstack, ALICE, message_id)
        self.sync()
        assert self.caller is not None

    def state(self, internet_id: str) -> Any:
        """The item's state in the store."""
        return self.store.item(self.scope, internet_id)

    def categories(self, message_id: str) -> list[str]:
        """The message's categories, as alice sees them in Outlook."""
        found: list[str] = graph(self.devstack, ALICE, "GET", f"/me/messages/{message_id}").json()["categories"]
        return found
