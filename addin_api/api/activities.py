"""Routes shared by tracked emails and appointments: status, track, set/clear regarding, untrack."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from flask import Blueprint
from marshmallow import Schema

from addin_api.api import sync_view
from addin_api.api.common import dataverse, me
from addin_api.api.declare import WRITE, Auth, Param, declare
from addin_api.errors import ValidationFailed
from addin_api.model import (
    Activity,
    ClearRegarding,
    RegardingCleared,
    RegardingRef,
    RegardingSet,
    SetRegarding,
    TrackCommand,
    Tracked,
    TrackingStatus,
    TrackingStatusQuery,
    TrackPolicy,
    Untrack,
)
from addin_api.schemas import MAX_REGARDING_BODY_BYTES, RegardingSchema
from addin_api.schemas.responses import RegardingChangedSchema, TrackedSchema, TrackingStatusSchema
from addin_api.services import regarding as regarding_service
from addin_api.services import tracking
from addin_api.wiring import collaborators

# Schemas are built once: they hold no per-request state.
REGARDING = RegardingSchema()
TRACKED = TrackedSchema()
STATUS = TrackingStatusSchema()
REGARDING_CHANGED = RegardingChangedSchema()


def activity_id(raw: str | None) -> str:
    """Parse the `{activityId}` path segment (422 unless a GUID)."""
    try:
        return str(uuid.UUID(raw or ""))
    except ValueError as exc:
        raise ValidationFailed({"activityId": ["must be a GUID"]}) from exc


# RFC 9110 §8.8.3: an entity tag is visible ASCII (other than the quote) or obs-text; Dataverse's are W/"<digits>".
ETAG = re.compile(r'^(\*|(W/)?"[\x21\x23-\x7e]{1,100}")$')


def if_match(raw: str | None) -> str:
    """The client's `If-Match` (an ETag from the tracked view, or `*` when absent); 422 when malformed."""
    value = ("*" if raw is None else raw).strip()
    if not ETAG.match(value):
        raise ValidationFailed({"If-Match": ["must be an ETag from the tracked view, or *"]})
    return value


ACTIVITY_ID = Param(
    "activityId",
    "path",
    "record_id",
    activity_id,
    "The activity's id (a GUID)",
    schema={"type": "string", "format": "uuid"},
)
IF_MATCH = Param(
    "If-Match",
    "header",
    "condition",
    if_match,
    "The `etag` of the tracked view: the change is refused with 409 if the activity changed since",
    required=False,
)


def policy() -> TrackPolicy:
    """The deployment's tracking policy: the attachment size limit and the activity-id key."""
    wired = collaborators()
    return TrackPolicy(wired.settings.max_attachment_bytes, wired.activity_id_key)


def activity_blueprint(
    name: str, activity: Activity, track_schema: Schema, status_schema: Schema, key_arg: str
) -> Blueprint:
    """The blueprint of one activity type under `/api/v1/<name>`; `track_schema` loads its track command."""
    bp = Blueprint(name, __name__, url_prefix=f"/api/v1/{name}")
    _add_tracking(bp, activity, track_schema, status_schema, key_arg)
    _add_changes(bp, activity)
    return bp


def _add_tracking(bp: Blueprint, activity: Activity, track_schema: Schema, status_schema: Schema, key_arg: str) -> None:
    """`GET` the tracking status and `POST` to track."""
    article = "an" if activity[0] in "aeiou" else "a"

    @bp.get("")
    @declare(f"Tracking status of one {activity} (by {key_arg})", Auth.USER, response=STATUS, query=status_schema)
    def status(args: dict[str, Any]) -> TrackingStatus:
        """Tracking status of one item."""
        dv, environment_url = dataverse()
        found = tracking.status(dv, environment_url, TrackingStatusQuery(activity, args[key_arg]))
        synced = sync_view.item_state(environment_url, args[key_arg])
        return found if synced is None else replace(found, sync_state=synced.state, reason=synced.reason)

    @bp.post("")
    @declare(
        f"Track {article} {activity}",
        Auth.ADD_IN,
        status=201,
        also=(200,),
        response=TRACKED,
        body=track_schema,
        errors=WRITE,
        description="Idempotent: 201 when created, 200 when it was already tracked (by us or server-side sync).",
    )
    def track(body: TrackCommand) -> tuple[Tracked, int]:
        """Track an item (idempotent): 201 when created, 200 when it was already tracked."""
        dv, environment_url = dataverse()
        result = tracking.track(dv, environment_url, me(dv), body, policy())
        return result, 201 if result.created_now else 200


def _add_changes(bp: Blueprint, activity: Activity) -> None:
    """Set or clear the regarding of a tracked activity, and untrack it."""

    @bp.put("/<activityId>/regarding")
    @declare(
        "Set or change the regarding record",
        Auth.ADD_IN,
        response=REGARDING_CHANGED,
        params=(ACTIVITY_ID, IF_MATCH),
        body=REGARDING,
        body_limit=MAX_REGARDING_BODY_BYTES,
        errors=WRITE,
    )
    def set_regarding(record_id: str, condition: str, body: RegardingRef) -> RegardingSet:
        """Set or change the regarding record."""
        dv, environment_url = dataverse()
        command = SetRegarding(activity, record_id, body, condition)
        return regarding_service.set_regarding(dv, environment_url, command)

    @bp.delete("/<activityId>/regarding")
    @declare("Clear the regarding record", Auth.ADD_IN, response=REGARDING_CHANGED, params=(ACTIVITY_ID,), errors=WRITE)
    def clear_regarding(record_id: str) -> RegardingCleared:
        """Clear the regarding record."""
        dv, environment_url = dataverse()
        command = ClearRegarding(activity, record_id)
        return regarding_service.clear_regarding(dv, environment_url, command)

    @bp.delete("/<activityId>")
    @declare(
        f"Untrack: delete the {activity} activity in Dataverse",
        Auth.ADD_IN,
        status=204,
        params=(ACTIVITY_ID,),
        errors=WRITE,
    )
    def untrack(record_id: str) -> None:
        """Untrack: delete the activity in Dataverse."""
        dv, _ = dataverse()
        regarding_service.untrack(dv, Untrack(activity, record_id))
