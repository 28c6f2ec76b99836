"""Response schemas: what the views return, for the OpenAPI document (the views build plain dicts)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from addin_api.dataverse.parties import ROLE_NAMES
from addin_api.errors import ApiError


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

    role = fields.String(required=True, validate=validate.OneOf(sorted(set(ROLE_NAMES.values()))))
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


class TrackedSchema(Schema):
    """A tracked email or appointment (`POST` answers 201 when created, 200 when it was already tracked)."""

    activityId = fields.String(required=True)
    tracked = fields.Boolean(required=True)
    alreadyTracked = fields.Boolean(required=True)
    subject = fields.String(required=True, allow_none=True)
    etag = fields.String(required=True, allow_none=True, metadata={"description": "Send as If-Match to PUT regarding"})
    regarding = fields.Nested(RecordRefSchema, required=True, allow_none=True)
    url = fields.String(required=True)
    parties = fields.List(fields.Nested(PartySchema), required=True)
    attachments = fields.Nested(AttachmentsResultSchema, metadata={"description": "Only when just tracked"})
    created = fields.Nested(RecordRefSchema, metadata={"description": "The record createMissing created"})


class TrackingStatusSchema(Schema):
    """`{"tracked": false}`, or the tracked view."""

    tracked = fields.Boolean(required=True)
    activityId = fields.String()
    alreadyTracked = fields.Boolean()
    subject = fields.String(allow_none=True)
    etag = fields.String(allow_none=True)
    regarding = fields.Nested(RecordRefSchema, allow_none=True)
    url = fields.String()
    parties = fields.List(fields.Nested(PartySchema))


class RegardingChangedSchema(Schema):
    """The activity after its regarding was set or cleared."""

    activityId = fields.String(required=True)
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
    setRegarding = fields.Boolean(required=True)


class MeSchema(Schema):
    """The caller in Dataverse."""

    userId = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    tenantId = fields.String(required=True)
    businessUnitId = fields.String(required=True)
    organizationId = fields.String(required=True)
    environmentUrl = fields.String(required=True)
    canUseAddIn = fields.Boolean(required=True, metadata={"description": "Holds prvUseOfficeApps"})
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
    companyId = fields.String(required=True, allow_none=True, metadata={"description": "That parent account's id"})
    jobTitle = fields.String(required=True, allow_none=True)
    url = fields.String(required=True, metadata={"description": "The record's form in Dynamics 365"})


class RecentActivitySchema(Schema):
    """A recent activity with the address."""

    type = fields.String(required=True, allow_none=True)
    id = fields.String(required=True, allow_none=True)
    subject = fields.String(required=True, allow_none=True)
    when = fields.String(required=True, allow_none=True)
    whenText = fields.String(allow_none=True)


class PeopleSchema(Schema):
    """The sender card."""

    matches = fields.List(fields.Nested(PersonMatchSchema), required=True)
    recentActivities = fields.List(fields.Nested(RecentActivitySchema), required=True)


class HealthSchema(Schema):
    """Liveness."""

    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class ReadinessSchema(Schema):
    """Readiness and its checks."""

    status = fields.String(required=True, validate=validate.OneOf(("ready", "not_ready")))
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    problems = fields.List(fields.String(), metadata={"description": "The invalid settings, named"})
