"""Rows the platform keeps for mailbox synchronization: each user's mailbox and usersettings, the organization row,
and the approval that a user and their mailbox share.

- A new user gets a mailbox (its address pending approval, every test "Not Run") and a usersettings row, as
  Dataverse creates them: https://learn.microsoft.com/en-us/power-platform/admin/connect-exchange-online
- Approving a user's address (`systemuser.emailrouteraccessapproval`, what `Approve-CrmEmailAddress` sets) approves
  their mailbox, and the other way round: the two columns show one approval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from addin_api.devstack.dataverse.mail_tables import NOT_RUN, PENDING_APPROVAL
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.rows import Record, blank_record, now_iso, set_lookup
from addin_api.devstack.dataverse.schema import Table

_NAMESPACE = uuid.UUID("0b5e1f7c-6a2d-4c9e-8f13-5d7a9c2e4b61")


def mailbox_id(systemuserid: str) -> str:
    """The id of a user's mailbox (stable per user)."""
    return str(uuid.uuid5(_NAMESPACE, f"mailbox:{systemuserid.lower()}"))


def mailbox_values(name: str | None, address: str | None) -> Record:
    """The columns of a user's new mailbox, as Dataverse creates it: pending approval, tests not run."""
    return {
        "name": name or address or "Mailbox",
        "emailaddress": address,
        "emailrouteraccessapproval": PENDING_APPROVAL,
        "incomingemailstatus": NOT_RUN,
        "outgoingemailstatus": NOT_RUN,
        "actstatus": NOT_RUN,
        "mailboxstatus": NOT_RUN,
    }


def user_rows(user: Record, tracking_number: int, add: Callable[[str, str, Record, str | None], Record]) -> None:
    """Add the mailbox and usersettings of a user row through `add(table, id, values, owner)`."""
    user_id = str(user["systemuserid"])
    values = mailbox_values(user.get("fullname"), user.get("internalemailaddress"))
    set_lookup(values, "regardingobjectid", "systemuser", user_id, "regardingobjectid")
    box_id = mailbox_id(user_id)
    add("mailbox", box_id, values, user_id)
    set_lookup(user, "defaultmailbox", "mailbox", box_id, "defaultmailbox")
    user["emailrouteraccessapproval"] = PENDING_APPROVAL
    settings: Record = {"trackingtokenid": tracking_number, "businessunitid": user.get("_businessunitid_value")}
    add("usersettings", user_id, settings, None)


def after_write(ops: Operations, table: Table, record: Record, creating: bool, written: set[str]) -> None:
    """Keep the platform's rows in step after a write (inside the writer's transaction): `Operations.after_write`."""
    if table.logical == "systemuser" and creating:
        _new_user(ops, record)
    if "emailrouteraccessapproval" not in written:
        return
    approval = record.get("emailrouteraccessapproval")
    if table.logical == "systemuser":
        box_id = record.get("_defaultmailbox_value")
        box = ops.store.get("mailbox", str(box_id)) if box_id else None
        if box is not None and box.get("emailrouteraccessapproval") != approval:
            _platform_update(ops, TABLES["mailbox"], box, {"emailrouteraccessapproval": approval})
    elif table.logical == "mailbox" and record.get("_regardingobjectid_value@lookuplogicalname") == "systemuser":
        user = ops.store.get("systemuser", str(record.get("_regardingobjectid_value")))
        if user is not None and user.get("emailrouteraccessapproval") != approval:
            _platform_update(ops, TABLES["systemuser"], user, {"emailrouteraccessapproval": approval})


def _platform_update(ops: Operations, table: Table, existing: Record, values: Record) -> None:
    record = {**existing, **values}
    record["modifiedon"] = now_iso()
    record["versionnumber"] = ops.store.next_version()
    set_lookup(record, "modifiedby", "systemuser", ops.user.systemuserid, "modifiedby")
    ops.store.replace(table.logical, str(existing[table.key]), record)


def _new_user(ops: Operations, user: Record) -> None:
    numbers = [r.get("trackingtokenid") for r in ops.store.all("usersettings")]
    next_number = max([n for n in numbers if isinstance(n, int)], default=0) + 1
    updated = dict(user)

    def add(logical: str, record_id: str, values: Record, owner: str | None) -> Record:
        row = blank_record(TABLES[logical], record_id, ops.user.systemuserid, now_iso(), ops.store.next_version())
        row.update(values)
        if owner is not None:
            set_lookup(row, "ownerid", "systemuser", owner, "ownerid")
        ops.store.insert(logical, record_id, row)
        return row

    user_rows(updated, next_number, add)
    ops.store.replace("systemuser", str(user["systemuserid"]), updated)


# The seeded state of mailbox synchronization, by sign-in name: alice's mailbox approved and enabled in every
# direction (tests passed), her option "replies to Dynamics 365 email" with automatic record creation off; bob's
# address not approved; carol's incoming email not synchronized. Everyone else's is as Dataverse creates it.
SEED_MAILBOXES: dict[str, Record] = {
    "alice": {
        "emailrouteraccessapproval": 1,
        "incomingemailstatus": 1,
        "outgoingemailstatus": 1,
        "actstatus": 1,
        "mailboxstatus": 1,
        "enabledforincomingemail": True,
        "enabledforoutgoingemail": True,
        "enabledforact": True,
        "orgmarkedasprimaryforexchangesync": True,
        "isactsyncorgflagset": True,
        "processingstatecode": 1,
        "testmailboxaccesscompletedon": "2025-01-06T08:30:00Z",
    },
    "bob": {"emailrouteraccessapproval": 2},
    "carol": {
        "emailrouteraccessapproval": 1,
        "incomingemaildeliverymethod": 0,
        "outgoingemailstatus": 1,
        "actstatus": 1,
        "enabledforoutgoingemail": True,
        "enabledforact": True,
    },
}
SEED_SETTINGS: dict[str, Record] = {"alice": {"incomingemailfilteringmethod": 1, "autocreatecontactonpromote": 0}}


def seed(users: list[Record], organization_id: str, add: Callable[[str, str, Record, str | None], Record]) -> None:
    """Add the organization row and every seeded user's mailbox and usersettings through `add`.

    `users` are the seeded systemuser rows (updated in place with their mailbox and approval).
    """
    # The demo organization turned on folder-level tracking (Dataverse's default is off), so the pane's folder rules
    # can be tried under `make dev`.
    add("organization", organization_id, {"name": "Contoso", "isfolderbasedtrackingenabled": True}, None)
    for number, user in enumerate(users, start=1):
        local = str(user.get("internalemailaddress") or "").partition("@")[0]
        mailbox = SEED_MAILBOXES.get(local, {})
        settings = SEED_SETTINGS.get(local, {})

        user_rows(user, number, _overlay(add, {"mailbox": mailbox, "usersettings": settings}))
        if "emailrouteraccessapproval" in mailbox:
            user["emailrouteraccessapproval"] = mailbox["emailrouteraccessapproval"]


def _overlay(
    add: Callable[[str, str, Record, str | None], Record], extra: dict[str, Record]
) -> Callable[[str, str, Record, str | None], Record]:
    """`add`, with the values of `extra[table]` laid over each row's."""

    def added(logical: str, record_id: str, values: Record, owner: str | None) -> Record:
        return add(logical, record_id, {**values, **extra.get(logical, {})}, owner)

    return added
