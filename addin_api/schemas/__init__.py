"""Request schemas (marshmallow) at the HTTP edge: unknown fields are rejected, limits follow Dataverse's columns, and
a body loads into the command its service takes (addin_api/model.py)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates, validates_schema

from addin_api.model import (
    REGARDING_TABLE_NAMES,
    Address,
    Attachment,
    CreateRecord,
    LookupPerson,
    RegardingRef,
    SearchRegarding,
    TrackAppointment,
    TrackEmail,
)

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAK = re.compile(r"[\r\n]")
# An address as Outlook gives it: no spaces, controls, quotes, brackets or separators; Dataverse's addressused
# holds 320.
ADDRESS = re.compile(r"^[^@\s<>\"',;()\[\]\\\x00-\x1f\x7f]{1,64}@[^@\s<>\"',;()\[\]\\\x00-\x1f\x7f]{1,255}$")
BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# Exchange Online takes at most 500 recipients in To, Cc and Bcc of one message (an administrator can raise it to
# 1 000 for the whole message): https://learn.microsoft.com/en-us/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1
MAX_PARTIES = 500
MAX_ATTACHMENTS = 50
MAX_BODY_CHARS = 4 * 1024 * 1024
MAX_RECORD_FIELDS = 32
# The longest subjects Dataverse stores: email.subject 800, appointment.subject 200 characters.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email#BKMK_Subject
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment#BKMK_Subject
MAX_SUBJECT_LENGTH = 800
MAX_APPOINTMENT_SUBJECT_LENGTH = 200
# Request bodies smaller than the app-wide limit (which a track request with attachments needs): a regarding
# reference is under 100 bytes, a created record's fields under 5 000 characters (each at most 6 bytes escaped).
MAX_REGARDING_BODY_BYTES = 16 * 1024
MAX_RECORD_BODY_BYTES = 64 * 1024


class BoundedList(fields.List):  # type: ignore[type-arg]
    """A list whose length is checked before any element is loaded, so a long list costs its length, not its errors.

    marshmallow runs a field's validators after it has loaded (and collected the errors of) every element; the same
    `Length` is also declared as a validator, so the OpenAPI document shows it as `maxItems`.
    """

    def __init__(self, inner: fields.Field, *, max_length: int, **kwargs: Any) -> None:  # type: ignore[type-arg]
        self.max_length = validate.Length(max=max_length)
        super().__init__(inner, validate=self.max_length, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list):
            self.max_length(value)
        result: list[Any] = super()._deserialize(value, attr, data, **kwargs)
        return result


class BoundedDict(fields.Dict):
    """A mapping whose number of keys is checked before any key or value is loaded (`maxProperties` in OpenAPI)."""

    def __init__(self, *, max_keys: int, **kwargs: Any) -> None:
        self.max_keys = validate.Length(max=max_keys)
        super().__init__(metadata={"maxProperties": max_keys}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[Any, Any]:
        if isinstance(value, dict):
            self.max_keys(value)
        result: dict[Any, Any] = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        return result


class Strict(Schema):
    """Unknown fields are an error, never passed on."""

    class Meta:
        unknown = RAISE


# Item keys (internetMessageId, globalObjectId) end up in OData filters, which refuse every C0 control, tab included.
KEY = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")


def no_control(value: str) -> None:
    """Refuse control characters (and line breaks) in single-line values."""
    if CONTROL.search(value) or LINE_BREAK.search(value):
        raise ValidationError("must not contain control characters or line breaks")


class AddressSchema(Strict):
    """An email address with an optional display name."""

    address = fields.String(
        required=True, validate=[validate.Length(max=320), validate.Regexp(ADDRESS, error="must be an email address")]
    )
    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), no_control])

    @post_load
    def _address(self, data: dict[str, Any], **_: Any) -> Address:
        """Lower-cased, as Dataverse compares addresses."""
        return Address(data["address"].lower(), data["name"])


class RegardingSchema(Strict):
    """A regarding record: one of the regarding tables and a GUID."""

    table = fields.String(required=True, validate=validate.OneOf(REGARDING_TABLE_NAMES))
    id = fields.UUID(required=True)

    @post_load
    def _ref(self, data: dict[str, Any], **_: Any) -> RegardingRef:
        return RegardingRef(data["table"], str(data["id"]))


class AttachmentSchema(Strict):
    """An attachment's name, type and base64 content."""

    name = fields.String(required=True, validate=[validate.Length(min=1, max=255), no_control])
    contentType = fields.String(
        load_default="application/octet-stream", validate=[validate.Length(max=256), no_control]
    )
    contentBase64 = fields.String(required=True)

    @validates("contentBase64")
    def _content(self, value: str, **_: Any) -> None:
        if len(value) % 4 or not BASE64.match(value):
            raise ValidationError("must be base64")
        check_base64(value)

    @post_load
    def _attachment(self, data: dict[str, Any], **_: Any) -> Attachment:
        return Attachment(data["name"], data["contentType"], data["contentBase64"])


def check_base64(content_base64: str) -> None:
    """Decode a small prefix to catch content that only looks like base64."""
    try:
        base64.b64decode(content_base64[:4096], validate=True)
    except binascii.Error as exc:
        raise ValidationError("must be base64") from exc


class TrackCommon(Strict):
    """Fields shared by email and appointment tracking."""

    subject = fields.String(required=True, validate=no_control)
    body = fields.String(load_default="", validate=validate.Length(max=MAX_BODY_CHARS))
    bodyType = fields.String(load_default="html", validate=validate.OneOf(("html", "text")))
    regarding = fields.Nested(RegardingSchema, load_default=None, allow_none=True)
    attachments = BoundedList(fields.Nested(AttachmentSchema), max_length=MAX_ATTACHMENTS, load_default=list)
    createMissing = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(("contact", "lead")))


class TrackEmailSchema(TrackCommon):
    """`POST /api/v1/emails`."""

    internetMessageId = fields.String(required=True, validate=[validate.Length(min=1, max=320), no_control, KEY])
    subject = fields.String(required=True, validate=[validate.Length(max=MAX_SUBJECT_LENGTH), no_control])
    sender = fields.Nested(AddressSchema, required=True, data_key="from")
    to = BoundedList(fields.Nested(AddressSchema), max_length=MAX_PARTIES, load_default=list)
    cc = BoundedList(fields.Nested(AddressSchema), max_length=MAX_PARTIES, load_default=list)
    bcc = BoundedList(fields.Nested(AddressSchema), max_length=MAX_PARTIES, load_default=list)
    sentAt = fields.AwareDateTime(required=True)
    direction = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(("incoming", "outgoing")))

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> TrackEmail:
        return TrackEmail(
            internet_message_id=data["internetMessageId"],
            subject=data["subject"],
            sender=data["sender"],
            sent_at=data["sentAt"],
            to=tuple(data["to"]),
            cc=tuple(data["cc"]),
            bcc=tuple(data["bcc"]),
            body=data["body"],
            body_type=data["bodyType"],
            regarding=data["regarding"],
            attachments=tuple(data["attachments"]),
            create_missing=data["createMissing"],
            direction=data["direction"],
        )


class TrackAppointmentSchema(TrackCommon):
    """`POST /api/v1/appointments`."""

    globalObjectId = fields.String(required=True, validate=[validate.Length(min=1, max=300), no_control, KEY])
    subject = fields.String(required=True, validate=[validate.Length(max=MAX_APPOINTMENT_SUBJECT_LENGTH), no_control])
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    isAllDay = fields.Boolean(load_default=False)
    location = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), no_control])
    organizer = fields.Nested(AddressSchema, load_default=None, allow_none=True)
    requiredAttendees = BoundedList(fields.Nested(AddressSchema), max_length=MAX_PARTIES, load_default=list)
    optionalAttendees = BoundedList(fields.Nested(AddressSchema), max_length=MAX_PARTIES, load_default=list)

    @validates_schema
    def _times(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError("must not be before start", "end")

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> TrackAppointment:
        return TrackAppointment(
            global_object_id=data["globalObjectId"],
            subject=data["subject"],
            start=data["start"],
            end=data["end"],
            is_all_day=data["isAllDay"],
            location=data["location"],
            organizer=data["organizer"],
            required_attendees=tuple(data["requiredAttendees"]),
            optional_attendees=tuple(data["optionalAttendees"]),
            body=data["body"],
            body_type=data["bodyType"],
            regarding=data["regarding"],
            attachments=tuple(data["attachments"]),
            create_missing=data["createMissing"],
        )


class EmailStatusArgs(Strict):
    """`GET /api/v1/emails?internetMessageId=…`."""

    internetMessageId = fields.String(required=True, validate=[validate.Length(min=1, max=320), no_control, KEY])


class AppointmentStatusArgs(Strict):
    """`GET /api/v1/appointments?globalObjectId=…`."""

    globalObjectId = fields.String(required=True, validate=[validate.Length(min=1, max=300), no_control, KEY])


def _tables(value: str) -> None:
    names = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [n for n in names if n not in REGARDING_TABLE_NAMES]
    if not names or unknown:
        raise ValidationError("must be a comma-separated list of " + ", ".join(REGARDING_TABLE_NAMES))


class SearchArgs(Strict):
    """`GET /api/v1/regarding?search=…&tables=…&top=…` or `GET /api/v1/regarding?account=<id>`.

    `search` matches the start of a name, number or email; a leading `*` matches the text anywhere, as Dynamics'
    lookups do. `account` lists that customer's open opportunities and active cases instead.
    """

    search = fields.String(
        validate=[validate.Length(min=1, max=100), no_control],
        metadata={"description": "begins-with text; a leading * finds it anywhere"},
    )
    account = fields.UUID(metadata={"description": "an account id: its open opportunities and active cases"})
    tables = fields.String(load_default=",".join(REGARDING_TABLE_NAMES), validate=[validate.Length(max=200), _tables])
    top = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))

    @validates_schema
    def _one_mode(self, data: dict[str, Any], **_: Any) -> None:
        if ("search" in data) == ("account" in data):
            raise ValidationError("give either search or account", "search")
        if "search" in data and not data["search"].strip().strip("*").strip():
            raise ValidationError("must contain text besides *", "search")

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> SearchRegarding:
        tables = tuple(t.strip() for t in data["tables"].split(",") if t.strip())
        account = str(data["account"]) if "account" in data else None
        return SearchRegarding(tables, data["top"], data.get("search"), account)


class CreateRecordSchema(Strict):
    """`POST /api/v1/records`."""

    table = fields.String(required=True, validate=validate.OneOf(REGARDING_TABLE_NAMES))
    fields_ = BoundedDict(
        max_keys=MAX_RECORD_FIELDS,
        required=True,
        data_key="fields",
        keys=fields.String(),
        values=fields.Raw(allow_none=False),
    )

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> CreateRecord:
        return CreateRecord(data["table"], data["fields_"])


class PeopleArgs(Strict):
    """`GET /api/v1/people?email=…`."""

    email = fields.String(
        required=True, validate=[validate.Length(max=320), validate.Regexp(ADDRESS, error="must be an email address")]
    )

    @post_load
    def _command(self, data: dict[str, Any], **_: Any) -> LookupPerson:
        return LookupPerson(data["email"].lower())
