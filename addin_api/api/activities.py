"""Routes shared by tracked emails and appointments: status, track, set/clear regarding, untrack."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, ValidationError

from addin_api.api.common import dataverse, json_body, me, parse, query_args
from addin_api.auth.decorators import require_user
from addin_api.errors import ValidationFailed
from addin_api.schemas import MAX_REGARDING_BODY_BYTES, RegardingSchema, check_base64
from addin_api.schemas.responses import RegardingChangedSchema, TrackedSchema, TrackingStatusSchema
from addin_api.services import regarding as regarding_service
from addin_api.services import tracking
from addin_api.services.model import (
    Activity,
    Address,
    Attachment,
    ClearRegarding,
    RegardingRef,
    SetRegarding,
    TrackCommand,
    TrackingStatusQuery,
    TrackPolicy,
    Untrack,
)
from addin_api.wiring import collaborators

ItemBuilder = Callable[[dict[str, Any]], TrackCommand]
# Schemas are built once: they hold no per-request state.
REGARDING = RegardingSchema()
TRACKED = TrackedSchema()
STATUS = TrackingStatusSchema()
REGARDING_CHANGED = RegardingChangedSchema()


def activity_id(raw: str) -> str:
    """Parse the `{activityId}` path segment (422 unless a GUID)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise ValidationFailed({"activityId": ["must be a GUID"]}) from exc


def regarding_ref(data: dict[str, Any] | None) -> RegardingRef | None:
    """The loaded `regarding` object as a reference to a table we allow."""
    if data is None:
        return None
    return RegardingRef(data["table"], str(data["id"]))


def address(data: dict[str, Any]) -> Address:
    """A loaded address, lower-cased as Dataverse compares it."""
    return Address(data["address"].lower(), data.get("name"))


def attachments(data: dict[str, Any]) -> tuple[Attachment, ...]:
    """Loaded attachments, each checked to decode as base64 (content stays base64)."""
    found = []
    for index, item in enumerate(data["attachments"]):
        try:
            check_base64(item["contentBase64"])
        except ValidationError as exc:
            raise ValidationFailed({"attachments": {str(index): {"contentBase64": ["must be base64"]}}}) from exc
        found.append(Attachment(item["name"], item["contentType"], item["contentBase64"]))
    return tuple(found)


# RFC 9110 §8.8.3: an entity tag is visible ASCII (other than the quote) or obs-text; Dataverse's are W/"<digits>".
ETAG = re.compile(r'^(\*|(W/)?"[\x21\x23-\x7e]{1,100}")$')


def if_match() -> str:
    """The client's `If-Match` (an ETag from the tracked view, or `*` when absent); 422 when malformed."""
    value = request.headers.get("If-Match", "*").strip()
    if not ETAG.match(value):
        raise ValidationFailed({"If-Match": ["must be an ETag from the tracked view, or *"]})
    return value


def policy() -> TrackPolicy:
    """The deployment's tracking policy: the attachment size limit and the activity-id key."""
    wired = collaborators()
    return TrackPolicy(wired.settings.max_attachment_bytes, wired.activity_id_key)


def activity_blueprint(
    name: str, activity: Activity, track_schema: Schema, status_schema: Schema, key_arg: str, build: ItemBuilder
) -> Blueprint:
    """The blueprint of one activity type under `/api/v1/<name>`."""
    bp = Blueprint(name, __name__, url_prefix=f"/api/v1/{name}")

    @bp.get("")
    @require_user
    def status() -> Response:
        """Tracking status of one item."""
        args = parse(status_schema, query_args())
        dv, environment_url = dataverse()
        return jsonify(STATUS.dump(tracking.status(dv, environment_url, TrackingStatusQuery(activity, args[key_arg]))))

    @bp.post("")
    @require_user
    def track() -> tuple[Response, int]:
        """Track an item (idempotent): 201 when created, 200 when it was already tracked."""
        item = build(parse(track_schema, json_body()))
        dv, environment_url = dataverse()
        info = me(dv)
        info.require_add_in()
        result = tracking.track(dv, environment_url, info, item, policy())
        return jsonify(TRACKED.dump(result)), 201 if result.created_now else 200

    @bp.put("/<raw_id>/regarding")
    @require_user
    def set_regarding(raw_id: str) -> Response:
        """Set or change the regarding record."""
        record_id = activity_id(raw_id)
        condition = if_match()
        ref = regarding_ref(parse(REGARDING, json_body(MAX_REGARDING_BODY_BYTES)))
        assert ref is not None
        dv, environment_url = dataverse()
        me(dv).require_add_in()
        command = SetRegarding(activity, record_id, ref, condition)
        return jsonify(REGARDING_CHANGED.dump(regarding_service.set_regarding(dv, environment_url, command)))

    @bp.delete("/<raw_id>/regarding")
    @require_user
    def clear_regarding(raw_id: str) -> Response:
        """Clear the regarding record."""
        record_id = activity_id(raw_id)
        dv, environment_url = dataverse()
        me(dv).require_add_in()
        command = ClearRegarding(activity, record_id)
        return jsonify(REGARDING_CHANGED.dump(regarding_service.clear_regarding(dv, environment_url, command)))

    @bp.delete("/<raw_id>")
    @require_user
    def untrack(raw_id: str) -> Response:
        """Untrack: delete the activity in Dataverse."""
        record_id = activity_id(raw_id)
        dv, _ = dataverse()
        me(dv).require_add_in()
        regarding_service.untrack(dv, Untrack(activity, record_id))
        return Response(status=204)

    return bp
