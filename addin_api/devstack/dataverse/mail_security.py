"""Who may read and change the mailbox-sync tables: access depth, the approval privilege, platform-only columns.

Privileges are the same `"<operation>:<table>"` strings as every other table. On `mailbox`, `usersettings` and
`mailboxtrackingfolder` that string grants the privilege at **Basic** (user) depth — the caller's own rows only,
as the standard roles grant them — and `"<operation>:<table>:global"` adds **Organization** depth. Intersecting two
principals' privilege sets (impersonation) therefore keeps the lower depth, as Dataverse does.
https://learn.microsoft.com/en-us/power-platform/admin/security-roles-privileges#access-levels

Changing `emailrouteraccessapproval` (on a mailbox or a user) needs prvApproveRejectEmailAddress, "Approve Email
Addresses for Users or Queues" (a Global-depth privilege, id 54E8C67E-9CC2-441B-802F-788F93E977D6:
https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334551(v=crm.7)).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from addin_api.devstack.config import APPROVE_EMAIL_ADDRESSES, DevUser
from addin_api.devstack.dataverse.errors import PRIVILEGE, QUERY, DataverseError
from addin_api.devstack.dataverse.mail_tables import APPROVAL_COLUMNS, SYNC_COLUMNS
from addin_api.devstack.dataverse.schema import Table

Record = dict[str, Any]

DEPTH_TABLES = frozenset({"mailbox", "usersettings", "mailboxtrackingfolder"})
ORGANIZATION_DEPTH = "global"
APPROVE_EMAIL_ADDRESSES_ID = "54e8c67e-9cc2-441b-802f-788f93e977d6"
# Tables whose rows the platform creates and never deletes: usersettings supports only GET and PATCH
# (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/usersettings), and an
# environment has exactly one organization row.
NO_CREATE_OR_DELETE = frozenset({"usersettings", "organization"})
_RIGHTS = {"read": "ReadAccess", "write": "WriteAccess", "delete": "DeleteAccess", "create": "CreateAccess"}


def granted_to_all(operation: str, logical: str) -> bool:
    """Privileges every security role includes: reading the organization row (prvReadOrganization)."""
    return operation == "read" and logical == "organization"


def organization_wide(user: DevUser, operation: str, logical: str) -> bool:
    """Tell whether `user` holds `operation` on every row of the table (not only their own)."""
    return logical not in DEPTH_TABLES or f"{operation}:{logical}:{ORGANIZATION_DEPTH}" in user.privileges


def owner_of(table: Table, record: Record) -> Any:
    """The systemuser a row belongs to (usersettings: the user it is keyed by)."""
    if table.logical == "usersettings":
        return record.get("systemuserid")
    return record.get("_ownerid_value")


def visible(user: DevUser, table: Table, rows: list[Record]) -> list[Record]:
    """The rows `user` may read: all of them, or at Basic depth their own."""
    if organization_wide(user, "read", table.logical):
        return rows
    return [r for r in rows if owner_of(table, r) == user.systemuserid]


def check_row(user: DevUser, operation: str, table: Table, record: Record) -> None:
    """Raise 403 unless `user` may apply `operation` to this row (the depth of their privilege covers it)."""
    if organization_wide(user, operation, table.logical) or owner_of(table, record) == user.systemuserid:
        return
    # Worded as the platform's access check words it (SecLib::AccessCheckEx; hr 0x80040220 as a signed integer).
    raise DataverseError(
        403,
        PRIVILEGE,
        f"SecLib::AccessCheckEx failed. Returned hr = -2147220960, ObjectID: {record.get(table.key)}, "
        f"OwnerId: {owner_of(table, record)},  OwnerIdType: 8 and CallingUser: {user.systemuserid}. "
        f"ObjectTypeCode: {table.otc}, AccessRights: {_RIGHTS.get(operation, operation)} ",
    )


def check_method(operation: str, table: Table) -> None:
    """Refuse Create and Delete on tables whose rows only the platform makes (our wording)."""
    if table.logical in NO_CREATE_OR_DELETE and operation in ("create", "delete"):
        verb = operation.capitalize()
        raise DataverseError(405, QUERY, f"The '{verb}' method does not support entities of type '{table.logical}'.")


def check_columns(user: DevUser, table: Table, written: Iterable[str]) -> None:
    """Refuse columns the caller's privileges do not cover: the approval, and the platform's sync bookkeeping."""
    names = set(written)
    if table.logical in ("mailbox", "systemuser") and names & APPROVAL_COLUMNS:
        if APPROVE_EMAIL_ADDRESSES not in user.named_privileges:
            raise DataverseError(
                403,
                PRIVILEGE,
                f"Principal user (Id={user.systemuserid}, type=8, roleCount=1, "
                f"privilegeCount={len(user.privileges)}, accessMode=0), is missing {APPROVE_EMAIL_ADDRESSES} "
                f"privilege (Id={APPROVE_EMAIL_ADDRESSES_ID}). context.Caller={user.systemuserid}",
            )
    if table.logical == "mailbox" and names & SYNC_COLUMNS and not organization_wide(user, "write", "mailbox"):
        column = sorted(names & SYNC_COLUMNS)[0]
        # Our wording: in Dataverse only server-side synchronization writes these columns.
        raise DataverseError(
            403,
            PRIVILEGE,
            f"The '{column}' attribute of the 'mailbox' entity is written by mailbox synchronization; it needs "
            f"prvWriteMailbox at Organization depth. context.Caller={user.systemuserid}",
        )
