"""Web API actions and functions beyond plain record operations: `CreateMultiple`, `UpdateMultiple`,
`RetrievePrincipalAccess` and `RetrieveVersion`.

Each answers plain data (ids, a string); `api` shapes the HTTP answer.
"""

from __future__ import annotations

import re
from typing import Any

from addin_api.devstack.dataverse import mail_security
from addin_api.devstack.dataverse.errors import DataverseError, not_found, payload_error, syntax_error
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.schema import Table

# The version a current Dataverse environment reports (9.2.<yymm><build>.<revision>).
VERSION = "9.2.25111.176"
# AccessRights flags in the order the enum declares them:
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/accessrights
_ACCESS = (
    ("read", "ReadAccess"),
    ("write", "WriteAccess"),
    ("append", "AppendAccess"),
    ("appendto", "AppendToAccess"),
    ("create", "CreateAccess"),
    ("delete", "DeleteAccess"),
)
_ODATA_ID = re.compile(r"""^\{\s*["']@odata\.id["']\s*:\s*["'](?P<url>[^"']+)["']\s*\}$""")


def _targets(table: Table, body: Any) -> list[dict[str, Any]]:
    """The `Targets` of a bulk action, each typed as a row of the entity set the action is bound to.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations — "You must set the
    `@odata.type` property for each item in the `Targets` parameter."
    """
    if not isinstance(body, dict) or not isinstance(body.get("Targets"), list):
        raise payload_error(table, "The parameter 'Targets' of type 'Collection(mscrm.crmbaseentity)' is missing.")
    targets: list[dict[str, Any]] = body["Targets"]
    if not targets:
        raise DataverseError(400, "0x80040203", "The 'Targets' collection must contain at least one record.")
    expected = f"Microsoft.Dynamics.CRM.{table.logical}"
    for item in targets:
        if not isinstance(item, dict):
            raise payload_error(table, "Each item of 'Targets' must be an entity object.")
        kind = str(item.get("@odata.type", "")).lstrip("#")
        if not kind:
            raise payload_error(
                table,
                "A resource without a type name was found, but no expected type was specified. To allow entries "
                "without type information, the expected type must also be specified when the model is specified.",
            )
        if kind != expected:
            raise DataverseError(
                400,
                "0x80040203",
                f"The entity type '{kind}' of an item in 'Targets' does not match the entity set "
                f"'{table.entity_set}' the action is bound to ({expected}).",
            )
    return targets


def create_multiple(ops: Operations, table: Table, body: Any) -> list[str]:
    """`POST <set>/Microsoft.Dynamics.CRM.CreateMultiple`: create every target or none; answer their ids.

    On a standard table "any error that occurs in a bulk operation ... causes the entire operation to roll back"
    (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations#on-error-behavior).
    """
    targets = _targets(table, body)
    with ops.store.transaction():
        return [ops.create(table, {k: v for k, v in item.items() if k != "@odata.type"}) for item in targets]


def update_multiple(ops: Operations, table: Table, body: Any) -> None:
    """`POST <set>/Microsoft.Dynamics.CRM.UpdateMultiple`: update every target (each names its row) or none."""
    targets = _targets(table, body)
    with ops.store.transaction():
        for item in targets:
            record_id = item.get(table.key)
            if not isinstance(record_id, str):
                raise DataverseError(
                    400, "0x80040203", f"Every item of 'Targets' must contain its primary key '{table.key}'."
                )
            existing = ops.get(table, record_id)
            ops.update(table, str(existing[table.key]), {k: v for k, v in item.items() if k != "@odata.type"}, existing)


def principal_access(ops: Operations, systemuserid: str, target: str) -> str:
    """`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)` with
    `@tid={'@odata.id':'accounts(<id>)'}`: the user's access rights to that row, as the AccessRights flags.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-functions#pass-reference-to-a-table-to-a-function
    Privileges have organization depth, so the rights are those the roles grant on the row's table; on the
    mailbox-sync tables a Basic-depth privilege covers only the principal's own rows (`mail_security`).
    """
    users = TABLES["systemuser"]
    ops.require("read", users)
    ops.get(users, systemuserid)
    match = _ODATA_ID.match(target.strip())
    if match is None:
        raise syntax_error("The value of the parameter 'Target' must be an entity reference: {'@odata.id':'<url>'}.")
    ref = ops.resolve_reference(match.group("url"))
    if ops.fetch(ref.table, ref.record_id) is None:
        raise not_found(ref.table, ref.record_id)
    ops.require("read", ref.table)
    principal = next((u for u in ops.store.config.users if u.systemuserid == systemuserid), None)
    row = ops.store.get(ref.table.logical, ref.record_id) or {}
    granted = [
        flag
        for op, flag in _ACCESS
        if principal is not None
        and principal.may(op, ref.table.logical)
        and (
            mail_security.organization_wide(principal, op, ref.table.logical)
            or mail_security.owner_of(ref.table, row) == principal.systemuserid
        )
    ]
    return ", ".join(granted) if granted else "None"
