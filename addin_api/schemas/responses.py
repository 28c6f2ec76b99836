"""Response schemas: they dump the services' results (addin_api/model.py) and document them in OpenAPI.

Attributes are the results' snake_case names; `data_key` gives the API's camelCase.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump, validate

from addin_api.errors import ApiError
from addin_api.model import ROLES, SYNC_STATES


def _all_codes() -> dict[int, list[str]]:
    """Every stable `code` by HTTP status, from the exception tree plus the errors Flask raises itself."""
    codes: dict[int, list[str]] = {
        400: ["bad_request"],
        404: [],
        405: ["method_not_allowed"],
        406: ["not_acceptable"],
        415: ["unsupported_media_type"],
        431: ["request_header_fields_too_large"],
        500: ["internal_error"],
    }
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not ApiError:
            found = codes.setdefault(cls.status, [])
            if cls.code not in found:
                found.append(cls.code)
    return {status: sorted(found) for status, found in sorted(codes.items())}


CODES_BY_STATUS = _all_codes()


class ProblemSchema(Schema):
    """An error: `application/problem+json` (RFC 9457) with our stable `code` and the request id."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "Stable snake_case code clients switch on"})
    requestId = fields.String(required=True, allow_none=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "validation_failed: the messages per field (the first 20 messages)"},
    )
    errorsOmitted = fields.Integer(
        metadata={"description": "validation_failed: how many messages were left out of `errors` (when any were)"}
    )
    claims = fields.String(metadata={"description": "claims_challenge: pass to getAccessToken({authChallenge})"})


class RecordRefSchema(Schema):
    """A Dataverse record: logical table name, id and primary name."""

    table = fields.String(required=True, allow_none=True)
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)


class PartySchema(Schema):
    """A sender, recipient, organizer or attendee and the records their address resolved to."""

    role = fields.String(required=True, validate=validate.OneOf(sorted(ROLES)))
    address = fields.String(required=True)
    resolved = fields.List(fields.Nested(RecordRefSchema), required=True)


class SkippedAttachmentSchema(Schema):
    """An attachment that was not saved, and why."""

    name = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(("too_large",)))


class AttachmentsResultSchema(Schema):
    """How many attachments were saved, and which were skipped."""

    saved = fields.Integer(required=True)
    skipped = fields.List(fields.Nested(SkippedAttachmentSchema), required=True)


class _OmitsNone(Schema):
    """Leaves out the `OMIT_WHEN_NONE` keys whose value is None (the API omits them rather than sending null)."""

    OMIT_WHEN_NONE: tuple[str, ...] = ()

    @post_dump
    def _omit(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None or k not in self.OMIT_WHEN_NONE}


class TrackedSchema(_OmitsNone):
    """A tracked email or appointment (`POST` answers 201 when created, 200 when it was already tracked)."""

    OMIT_WHEN_NONE = ("attachments", "created")

    activity_id = fields.String(required=True, data_key="activityId")
    tracked = fields.Boolean(required=True)
    already_tracked = fields.Boolean(required=True, data_key="alreadyTracked")
    subject = fields.String(required=True, allow_none=True)
    etag = fields.String(required=True, allow_none=True, metadata={"description": "Send as If-Match to PUT regarding"})
    regarding = fields.Nested(RecordRefSchema, required=True, allow_none=True)
    url = fields.String(required=True)
    parties = fields.List(fields.Nested(PartySchema), required=True)
    attachments = fields.Nested(AttachmentsResultSchema, metadata={"description": "Only when just tracked"})
    created = fields.Nested(RecordRefSchema, metadata={"description": "The record createMissing created"})


class TrackingStatusSchema(_OmitsNone):
    """`{"tracked": false}`, or the tracked view (dumps a `Tracked` or a `NotTracked`); `syncState` and `reason`
    when the mailbox sync worker saw the item."""

    OMIT_WHEN_NONE = ("syncState", "reason")

    tracked = fields.Boolean(required=True)
    activity_id = fields.String(data_key="activityId")
    already_tracked = fields.Boolean(data_key="alreadyTracked")
    subject = fields.String(allow_none=True)
    etag = fields.String(allow_none=True)
    regarding = fields.Nested(RecordRefSchema, allow_none=True)
    url = fields.String()
    parties = fields.List(fields.Nested(PartySchema))
    sync_state = fields.String(
        data_key="syncState",
        validate=validate.OneOf(SYNC_STATES),
        metadata={
            "description": "What the mailbox sync worker knows of the item, when it saw it: tracked, pending "
            "(being retried), undeliverable (given up; see reason) or untracked (the category was taken away)"
        },
    )
    reason = fields.String(metadata={"description": "The code of the worker's last failure with this item"})


class RegardingChangedSchema(Schema):
    """The activity after its regarding was set or cleared (dumps a `RegardingSet` or a `RegardingCleared`)."""

    activity_id = fields.String(required=True, data_key="activityId")
    tracked = fields.Boolean(required=True)
    regarding = fields.Nested(RecordRefSchema, required=True, allow_none=True)
    url = fields.String(required=True)
    etag = fields.String(allow_none=True, metadata={"description": "After a set: the new ETag"})


class FeaturesSchema(Schema):
    """What the pane may offer the caller."""

    track = fields.Boolean(
        required=True,
        metadata={"description": "Holds prvUseOfficeApps and may create activities (prvCreateActivity)"},
    )
    set_regarding = fields.Boolean(required=True, data_key="setRegarding")


class MeSchema(Schema):
    """The caller in Dataverse."""

    user_id = fields.String(required=True, data_key="userId")
    name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    tenant_id = fields.String(required=True, data_key="tenantId")
    business_unit_id = fields.String(required=True, data_key="businessUnitId")
    organization_id = fields.String(required=True, data_key="organizationId")
    environment_url = fields.String(required=True, data_key="environmentUrl")
    can_use_add_in = fields.Boolean(
        required=True, data_key="canUseAddIn", metadata={"description": "Holds prvUseOfficeApps"}
    )
    features = fields.Nested(FeaturesSchema, required=True)


class CandidateSchema(Schema):
    """A regarding candidate."""

    table = fields.String(required=True)
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    detail = fields.String(required=True, allow_none=True)


class SearchResultsSchema(Schema):
    """Regarding candidates across the requested tables."""

    results = fields.List(fields.Nested(CandidateSchema), required=True)


class CreatedRecordSchema(Schema):
    """A record created as the caller."""

    table = fields.String(required=True)
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    url = fields.String(required=True)


class PersonMatchSchema(Schema):
    """A record whose email address is the one asked about."""

    table = fields.String(required=True)
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True)
    detail = fields.String(required=True, allow_none=True)
    company = fields.String(
        required=True, allow_none=True, metadata={"description": "A contact's parent customer, a lead's company"}
    )
    company_id = fields.String(
        required=True, allow_none=True, data_key="companyId", metadata={"description": "That parent account's id"}
    )
    job_title = fields.String(required=True, allow_none=True, data_key="jobTitle")
    url = fields.String(required=True, metadata={"description": "The record's form in Dynamics 365"})


class RecentActivitySchema(Schema):
    """A recent activity with the address."""

    type = fields.String(required=True, allow_none=True)
    id = fields.String(required=True, allow_none=True)
    subject = fields.String(required=True, allow_none=True)
    when = fields.String(required=True, allow_none=True)
    when_text = fields.String(allow_none=True, data_key="whenText")


class PeopleSchema(Schema):
    """The sender card."""

    matches = fields.List(fields.Nested(PersonMatchSchema), required=True)
    recent_activities = fields.List(fields.Nested(RecentActivitySchema), required=True, data_key="recentActivities")


class HealthSchema(Schema):
    """Liveness."""

    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class ReadinessSchema(Schema):
    """Readiness and its checks."""

    status = fields.String(required=True, validate=validate.OneOf(("ready", "not_ready")))
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    problems = fields.List(fields.String(), metadata={"description": "The invalid settings, named"})
