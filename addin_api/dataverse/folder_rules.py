"""Folder-tracking rules: `mailboxtrackingfolders` rows (an Exchange folder of a mailbox → a regarding record) and the
organization's switch and limit for them.

- `exchangefolderid` is the folder's Exchange id (at most 120 characters), the rule's key: a renamed folder keeps its
  rule. `exchangefoldername` is shown to the user; the mailbox sync keeps it up to date after a rename.
- A rule whose folder left the Inbox is disabled, as Dynamics 365 disables it. The table has no state column, and
  `folderonboardingstatus` is a whole number whose values are not documented: ours are 0 (not read yet), 1 (onboarded:
  the mail already in the folder was tracked) and 2 (disabled: the folder is no longer under the Inbox).
- `organization.isfolderbasedtrackingenabled` ("Use folder-level tracking for Exchange folders", off by default) and
  `maxfolderbasedtrackingmappings` (25 by default): the rules a user may have.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/mailboxtrackingfolder
https://learn.microsoft.com/en-us/power-platform/admin/configure-outlook-exchange-folder-level-tracking
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import ANNOTATED, read_regarding
from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.errors import DataverseError
from addin_api.model_mailbox import MAX_FOLDER_ID, FolderRule, FolderRules

__all__ = [
    "DEFAULT_LIMIT",
    "ENTITY_SET",
    "MAX_FOLDER_ID",
    "RuleSetting",
    "create_rule",
    "delete_rule",
    "disable_rule",
    "read_rules",
    "rename_rule",
    "rule_setting",
    "update_rule",
]

ENTITY_SET = "mailboxtrackingfolders"
MAX_FOLDER_NAME = 256
DEFAULT_LIMIT = 25
# folderonboardingstatus (see the module docstring).
NOT_ONBOARDED, ONBOARDED, DISABLED = 0, 1, 2
_COLUMNS = (
    "mailboxtrackingfolderid",
    "exchangefolderid",
    "exchangefoldername",
    "folderonboardingstatus",
    "_regardingobjectid_value",
)


@dataclass(frozen=True)
class RuleSetting:
    """The organization's switch for folder-level tracking and the rules a user may have."""

    enabled: bool
    limit: int


def read_rules(dv: Dataverse, user_id: str, organization_id: str) -> tuple[FolderRules, str | None]:
    """The user's rules, the organization's setting, and the user's default mailbox id (None when they have none):
    one `$batch`."""
    uid = odata.guid(user_id)
    rules, organization, user = dv.batch(
        [
            BatchRequest(
                "GET",
                f"{ENTITY_SET}?"
                + odata.query_string(
                    {"$select": ",".join(_COLUMNS), "$filter": f"_ownerid_value eq {uid}", "$orderby": "createdon asc"}
                ),
                headers=dict(ANNOTATED),
            ),
            BatchRequest(
                "GET",
                f"organizations({odata.guid(organization_id)})"
                "?$select=isfolderbasedtrackingenabled,maxfolderbasedtrackingmappings",
            ),
            BatchRequest("GET", f"systemusers({uid})?$select=systemuserid&$expand=defaultmailbox($select=mailboxid)"),
        ]
    )
    for part in (rules, organization, user):
        dv.raise_for(part)
    setting = _setting(organization.body if isinstance(organization.body, dict) else {})
    rows = rules.body.get("value", []) if isinstance(rules.body, dict) else []
    found = tuple(rule for rule in (_rule(r) for r in rows if isinstance(r, dict)) if rule is not None)
    box = user.body.get("defaultmailbox") if isinstance(user.body, dict) else None
    mailbox_id = str(box["mailboxid"]) if isinstance(box, dict) and box.get("mailboxid") else None
    return FolderRules(found, setting.enabled, setting.limit), mailbox_id


def rule_setting(dv: Dataverse) -> RuleSetting:
    """The organization's folder-tracking switch and limit (one round trip)."""
    rows = dv.get("organizations", {"$select": "isfolderbasedtrackingenabled,maxfolderbasedtrackingmappings"})
    found = [r for r in rows.get("value", []) if isinstance(r, dict)]
    return _setting(found[0] if found else {})


def create_rule(
    dv: Dataverse, mailbox_id: str, folder_id: str, folder_name: str, table: str, record_id: str
) -> FolderRule:
    """Add a rule to the mailbox (one round trip); the regarding's name comes back with it."""
    target = REGARDING_TABLES[table]
    row = dv.create(
        ENTITY_SET,
        {
            "exchangefolderid": folder_id,
            "exchangefoldername": folder_name[:MAX_FOLDER_NAME],
            "folderonboardingstatus": NOT_ONBOARDED,
            "mailboxid@odata.bind": f"/mailboxes({odata.guid(mailbox_id)})",
            f"regardingobjectid_{target.logical_name}@odata.bind": target.bind(odata.guid(record_id)),
        },
        select=list(_COLUMNS),
        annotations=True,
    )
    rule = _rule(row)
    if rule is None:  # a representation without the columns asked for
        raise DataverseError()
    return rule


def delete_rule(dv: Dataverse, rule_id: str) -> None:
    """Remove a rule; what it linked stays linked."""
    dv.delete(ENTITY_SET, odata.guid(rule_id))


def disable_rule(dv: Dataverse, rule_id: str) -> None:
    """Disable a rule (its folder left the Inbox)."""
    dv.update(ENTITY_SET, odata.guid(rule_id), {"folderonboardingstatus": DISABLED})


def update_rule(dv: Dataverse, rule_id: str, folder_name: str, table: str, record_id: str) -> FolderRule:
    """Point a rule at another record and enable it again (its folder was chosen again: its mail is read anew);
    one round trip."""
    target = REGARDING_TABLES[table]
    row = dv.update(
        ENTITY_SET,
        odata.guid(rule_id),
        {
            "exchangefoldername": folder_name[:MAX_FOLDER_NAME],
            "folderonboardingstatus": NOT_ONBOARDED,
            f"regardingobjectid_{target.logical_name}@odata.bind": target.bind(odata.guid(record_id)),
        },
        select=list(_COLUMNS),
        annotations=True,
    )
    rule = _rule(row or {})
    if rule is None:
        raise DataverseError()
    return rule


def rename_rule(dv: Dataverse, rule_id: str, folder_name: str | None = None, *, onboarded: bool = False) -> None:
    """Keep a rule's folder name as Exchange has it now, and/or mark the folder onboarded."""
    change: dict[str, Any] = {}
    if folder_name is not None:
        change["exchangefoldername"] = folder_name[:MAX_FOLDER_NAME]
    if onboarded:
        change["folderonboardingstatus"] = ONBOARDED
    if change:
        dv.update(ENTITY_SET, odata.guid(rule_id), change)


def _setting(row: Mapping[str, Any]) -> RuleSetting:
    limit = row.get("maxfolderbasedtrackingmappings")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        limit = DEFAULT_LIMIT
    return RuleSetting(row.get("isfolderbasedtrackingenabled") is True, limit)


def _rule(row: Mapping[str, Any]) -> FolderRule | None:
    rule_id, folder_id = row.get("mailboxtrackingfolderid"), row.get("exchangefolderid")
    regarding = read_regarding(row)
    if not isinstance(rule_id, str) or not isinstance(folder_id, str) or regarding is None:
        return None  # a rule without a folder or a record tracks nothing
    return FolderRule(
        rule_id,
        folder_id,
        str(row.get("exchangefoldername") or ""),
        regarding,
        active=row.get("folderonboardingstatus") != DISABLED,
        onboarded=row.get("folderonboardingstatus") == ONBOARDED,
    )
