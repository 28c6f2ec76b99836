"""Routes shared by tracked emails and appointments: status, track, set/clear regarding, untrack."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, ValidationError

from addin_api.api.common import dataverse, json_body, me, parse, query_args
from addin_api.auth.decorators import require_user
from addin_api.dataverse.activities import ActivityKind
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.errors import ValidationFailed
from addin_api.schemas import MAX_REGARDING_BODY_BYTES, RegardingSchema, check_base64, decoded_size
from addin_api.services import regarding as regarding_service
from addin_api.services import tracking
from addin_api.services.tracking import Attachment, RegardingRef, TrackItem
from addin_api.wiring import collaborators

ItemBuilder = Callable[[dict[str, Any]], TrackItem]
# Schemas are built once: they hold no per-request state.
REGARDING = RegardingSchema()


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
    return RegardingRef(REGARDING_TABLES[data["table"]], str(data["id"]))


def attachments(data: dict[str, Any]) -> list[Attachment]:
    """Loaded attachments with their decoded sizes (content stays base64)."""
    found = []
    for index, item in enumerate(data["attachments"]):
        try:
            check_base64(item["contentBase64"])
        except ValidationError as exc:
            raise ValidationFailed({"attachments": {str(index): {"contentBase64": ["must be base64"]}}}) from exc
        found.append(
            Attachment(item["name"], item["contentType"], item["contentBase64"], decoded_size(item["contentBase64"]))
        )
    return found


# RFC 9110 §8.8.3: an entity tag is visible ASCII (other than the quote) or obs-text; Dataverse's are W/"<digits>".
ETAG = re.compile(r'^(\*|(W/)?"[\x21\x23-\x7e]{1,100}")$')


def if_match() -> str:
    """The client's `If-Match` (an ETag from the tracked view, or `*` when absent); 422 when malformed."""
    value = request.headers.get("If-Match", "*").strip()
    if not ETAG.match(value):
        raise ValidationFailed({"If-Match": ["must be an ETag from the tracked view, or *"]})
    return value


def description(data: dict[str, Any]) -> str:
    """The activity's HTML description from the item body (plain text is escaped)."""
    body = str(data.get("body") or "")
    if data.get("bodyType") == "text":
        return html.escape(body).replace("\r\n", "\n").replace("\n", "<br>\n")
    return body


def activity_blueprint(
    name: str, kind: ActivityKind, track_schema: Schema, status_schema: Schema, key_arg: str, build: ItemBuilder
) -> Blueprint:
    """The blueprint of one activity type under `/api/v1/<name>`."""
    bp = Blueprint(name, __name__, url_prefix=f"/api/v1/{name}")

    @bp.get("")
    @require_user
    def status() -> Response:
        """Tracking status of one item."""
        args = parse(status_schema, query_args())
        dv, environment_url = dataverse()
        return jsonify(tracking.status(dv, environment_url, kind, args[key_arg]))

    @bp.post("")
    @require_user
    def track() -> tuple[Response, int]:
        """Track an item (idempotent): 201 when created, 200 when it was already tracked."""
        item = build(parse(track_schema, json_body()))
        dv, environment_url = dataverse()
        info = me(dv)
        info.require_add_in()
        found = collaborators()
        limit = found.settings.max_attachment_bytes
        view, created = tracking.track(dv, environment_url, info, item, limit, found.activity_id_key)
        return jsonify(view), 201 if created else 200

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
        return jsonify(regarding_service.set_regarding(dv, environment_url, kind, record_id, ref, condition))

    @bp.delete("/<raw_id>/regarding")
    @require_user
    def clear_regarding(raw_id: str) -> Response:
        """Clear the regarding record."""
        record_id = activity_id(raw_id)
        dv, environment_url = dataverse()
        me(dv).require_add_in()
        return jsonify(regarding_service.clear_regarding(dv, environment_url, kind, record_id))

    @bp.delete("/<raw_id>")
    @require_user
    def untrack(raw_id: str) -> Response:
        """Untrack: delete the activity in Dataverse."""
        record_id = activity_id(raw_id)
        dv, _ = dataverse()
        me(dv).require_add_in()
        regarding_service.untrack(dv, kind, record_id)
        return Response(status=204)

    return bp
