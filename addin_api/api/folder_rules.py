"""`/api/v1/folder-rules` (the caller's folder-tracking rules) and `/api/v1/mail-folders` (the folders under their
Inbox, through Microsoft Graph on-behalf-of them, to choose one for a rule)."""

from __future__ import annotations

import uuid

from flask import Blueprint

from addin_api.api import sync_view
from addin_api.api.common import dataverse, me
from addin_api.api.declare import AUTHENTICATED, WRITE, Auth, Param, declare
from addin_api.api.principal import current_principal
from addin_api.errors import ValidationFailed
from addin_api.model_mailbox import AddFolderRule, FolderRule, FolderRules, InboxFolders
from addin_api.schemas.folder_rules import AddFolderRuleSchema, FolderRuleSchema, FolderRulesSchema, InboxFoldersSchema
from addin_api.services.folder_rules import add_folder_rule, folder_rules, inbox_folders, remove_folder_rule
from addin_api.wiring import collaborators

RULE = FolderRuleSchema()
RULES = FolderRulesSchema()
FOLDERS = InboxFoldersSchema()

bp = Blueprint("folder_rules", __name__, url_prefix="/api/v1")


def rule_id(raw: str | None) -> str:
    """Parse the `{ruleId}` path segment (422 unless a GUID)."""
    try:
        return str(uuid.UUID(raw or ""))
    except ValueError as exc:
        raise ValidationFailed({"ruleId": ["must be a GUID"]}) from exc


RULE_ID = Param(
    "ruleId", "path", "rule", rule_id, "The rule's id (a GUID)", schema={"type": "string", "format": "uuid"}
)


@bp.get("/folder-rules")
@declare(
    "The caller's folder-tracking rules, and whether and how many the organization allows (one Dataverse round trip)",
    Auth.USER,
    response=RULES,
    tag="people",
)
def get_rules() -> FolderRules:
    """The caller's rules."""
    dv, _environment_url = dataverse()
    return folder_rules(dv, me(dv))


@bp.post("/folder-rules")
@declare(
    "Track what is moved into a folder under the Inbox regarding a record (201; 200 when the folder had a rule, "
    "which now points at the record)",
    Auth.ADD_IN,
    status=201,
    also=(200,),
    response=RULE,
    body=AddFolderRuleSchema(),
    body_limit=4096,
    errors=WRITE,
    tag="people",
    description="422 `folder_tracking_disabled` when the organization does not use folder-level tracking, "
    "`folder_rule_limit` (+ `limit`) past the organization's limit, `folder_not_in_inbox` for a folder that is not "
    "under the caller's Inbox, `no_mailbox` without a Dynamics 365 mailbox; 503 `mailbox_unavailable` when "
    "Microsoft Graph cannot be reached.",
)
def post_rule(body: AddFolderRule) -> tuple[FolderRule, int]:
    """Add a rule (or point the folder's rule at another record)."""
    dv, environment_url = dataverse()
    principal = current_principal()
    graph = collaborators().graph(principal)
    rule, created = add_folder_rule(dv, graph, principal.object_id, me(dv), body)
    sync_view.rules_changed(environment_url)
    return rule, 201 if created else 200


@bp.delete("/folder-rules/<ruleId>")
@declare(
    "Remove one of the caller's folder rules; what it tracked stays tracked",
    Auth.ADD_IN,
    status=204,
    params=(RULE_ID,),
    errors=WRITE,
    tag="people",
)
def delete_rule(rule: str) -> None:
    """Remove a rule."""
    dv, environment_url = dataverse()
    remove_folder_rule(dv, me(dv), rule)
    sync_view.rules_changed(environment_url)


@bp.get("/mail-folders")
@declare(
    "The folders under the caller's Inbox, to choose one for a rule (Microsoft Graph, on-behalf-of the caller)",
    Auth.USER,
    response=FOLDERS,
    errors=AUTHENTICATED,
    tag="people",
)
def get_mail_folders() -> InboxFolders:
    """The caller's folders under the Inbox."""
    principal = current_principal()
    return inbox_folders(collaborators().graph(principal), principal.object_id)
