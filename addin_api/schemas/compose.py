"""The body and answer of `POST /api/v1/emails/pending`."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load

from addin_api.model_mailbox import MarkCompose
from addin_api.schemas import RegardingSchema, Strict
from addin_api.schemas.responses import RecordRefSchema


class MarkComposeSchema(Strict):
    """A message being written, to be tracked once sent: the record it is regarding, or none."""

    regarding = fields.Nested(RegardingSchema, load_default=None, allow_none=True)

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> MarkCompose:
        return MarkCompose(data.get("regarding"))


class PendingTrackSchema(Schema):
    """What the pane writes into the message: an Internet header and its value."""

    token = fields.String(required=True, metadata={"description": "The header's value (random; it says nothing)"})
    header = fields.String(required=True, metadata={"description": "The Internet header's name: x-addin-api-track"})
    expires_at = fields.String(
        required=True, data_key="expiresAt", metadata={"description": "Sent after this, it is not tracked"}
    )
    regarding = fields.Nested(RecordRefSchema, required=True, allow_none=True)
