"""The bodies and answers of `/api/v1/folder-rules` and `/api/v1/mail-folders`."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from addin_api.model_mailbox import MAX_FOLDER_ID, AddFolderRule
from addin_api.schemas import RegardingSchema, Strict, no_control
from addin_api.schemas.responses import RecordRefSchema


class FolderRuleSchema(Schema):
    """A folder-tracking rule."""

    id = fields.String(required=True)
    folder_id = fields.String(required=True, data_key="folderId", metadata={"description": "The folder's Exchange id"})
    folder_name = fields.String(required=True, data_key="folderName")
    regarding = fields.Nested(RecordRefSchema, required=True)
    active = fields.Boolean(
        required=True, metadata={"description": "False once the folder left the Inbox: the rule tracks nothing"}
    )
    reason = fields.String(
        required=True, allow_none=True, metadata={"description": "Why the rule is not active (folder_not_in_inbox)"}
    )


class FolderRulesSchema(Schema):
    """The caller's rules, whether the organization uses folder-level tracking, and the rules a user may have."""

    rules = fields.List(fields.Nested(FolderRuleSchema), required=True)
    enabled = fields.Boolean(required=True)
    limit = fields.Integer(required=True)


class AddFolderRuleSchema(Strict):
    """`POST /api/v1/folder-rules`: a folder under the Inbox and the record what is moved into it is regarding."""

    folderId = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_FOLDER_ID), no_control])
    regarding = fields.Nested(RegardingSchema, required=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> AddFolderRule:
        return AddFolderRule(data["folderId"], data["regarding"])


class InboxFolderSchema(Schema):
    """A folder under the Inbox."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    path = fields.String(required=True, metadata={"description": "From the Inbox, names joined by '/'"})


class InboxFoldersSchema(Schema):
    """The caller's folders under the Inbox, breadth first."""

    folders = fields.List(fields.Nested(InboxFolderSchema), required=True)
    truncated = fields.Boolean(required=True, metadata={"description": "True when there were more than were listed"})
