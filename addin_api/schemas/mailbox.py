"""The response schema of `GET /api/v1/mailbox`."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from addin_api.model import DISABLED, FAILURE, NOT_RUN, REASONS, SUCCESS

DIRECTION = validate.OneOf((SUCCESS, FAILURE, NOT_RUN, DISABLED))


class MailboxEnvironmentSchema(Schema):
    """The environment the mailbox state was read in."""

    url = fields.String(required=True)
    organization_id = fields.String(required=True, data_key="organizationId")
    name = fields.String(required=True, allow_none=True)


class MailboxSchema(Schema):
    """The caller's mailbox and whether the pane can track."""

    approved = fields.Boolean(required=True, metadata={"description": "The email address is approved"})
    incoming = fields.String(required=True, validate=DIRECTION, metadata={"description": "Incoming email"})
    outgoing = fields.String(required=True, validate=DIRECTION, metadata={"description": "Outgoing email"})
    appointments = fields.String(
        required=True, validate=DIRECTION, metadata={"description": "Appointments, contacts and tasks"}
    )
    tracking_enabled = fields.Boolean(
        required=True, data_key="trackingEnabled", metadata={"description": "True exactly when `reasons` is empty"}
    )
    reasons = fields.List(
        fields.String(validate=validate.OneOf(REASONS)),
        required=True,
        metadata={"description": "Why tracking is impossible: " + ", ".join(REASONS)},
    )
    environment = fields.Nested(MailboxEnvironmentSchema, required=True)
    # Dumped as Dataverse wrote it; documented as the date-time it is.
    last_sync = fields.String(
        required=True,
        allow_none=True,
        data_key="lastSync",
        metadata={"format": "date-time", "description": "When the last synchronization completed"},
    )
