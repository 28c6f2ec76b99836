"""The body and answer of `GET` / `PATCH /api/v1/settings`."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from addin_api.model import AUTO_CREATE, TRACK_INCOMING
from addin_api.model_mailbox import PersonalOptions
from addin_api.schemas import Strict


class OptionsSchema(Schema):
    """The caller's personal options."""

    track_incoming = fields.String(
        required=True,
        data_key="trackIncoming",
        validate=validate.OneOf(TRACK_INCOMING),
        metadata={
            "description": "Which incoming email the mailbox sync tracks automatically: all, replies (to Dynamics 365 "
            "email; Dynamics' default), fromRecords (contacts, accounts, leads), fromEmailEnabled (any email-enabled "
            "record) or none"
        },
    )
    auto_create = fields.String(
        required=True,
        data_key="autoCreate",
        validate=validate.OneOf(AUTO_CREATE),
        metadata={
            "description": "Whether the unresolved sender of an email the mailbox sync tracks becomes a contact "
            "owned by the user, the email set regarding it (Dynamics' Automatically create records)"
        },
    )


class ChangeOptionsSchema(Strict):
    """`PATCH /api/v1/settings`: the options, both given."""

    trackIncoming = fields.String(required=True, validate=validate.OneOf(TRACK_INCOMING))
    autoCreate = fields.String(required=True, validate=validate.OneOf(AUTO_CREATE))

    @post_load
    def _options(self, data: dict[str, Any], **_: Any) -> PersonalOptions:
        return PersonalOptions(data["trackIncoming"], data["autoCreate"])
