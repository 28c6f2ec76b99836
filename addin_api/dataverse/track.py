"""The Dataverse round trips of a track: the lookup `$batch`, the create (alone or with the sender's new record in
one change set), reading the activity at an id, and deleting it (untrack).

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from addin_api.dataverse.activities import ANNOTATED, ActivityKind, Draft
from addin_api.dataverse.batch import BatchRequest, ChangeSet
from addin_api.dataverse.parties import Match, collect_matches, resolution_queries
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.records import NewRecord
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.errors import DataverseError, DataverseForbidden, NotFound

REPRESENTATION = "return=representation"


@dataclass(frozen=True)
class Lookup:
    """What the lookup `$batch` found: the item's activity if tracked, else each address's records and the
    regarding's name."""

    existing: Mapping[str, Any] | None
    matches: Mapping[str, list[Match]]
    regarding_name: str | None = None


def look_up(dv: Dataverse, draft: Draft) -> Lookup:
    """One `$batch`: is the item already tracked (by us or by server-side synchronization, same key)? which
    systemusers, contacts, accounts and leads own each address? does the regarding exist?"""
    kind = draft.kind
    queries = resolution_queries(list(dict.fromkeys(p.address for p in draft.parties)))
    requests: list[BatchRequest | ChangeSet] = [
        BatchRequest("GET", kind.lookup_query(draft.key), headers=dict(ANNOTATED))
    ]
    requests += [query for _, query in queries]
    if draft.regarding is not None:
        table = REGARDING_TABLES[draft.regarding.table]
        requests.append(BatchRequest("GET", f"{table.entity_set}({draft.regarding.id})?$select={table.primary_name}"))
    responses = dv.batch(requests, continue_on_error=True)
    if len(responses) != len(requests):
        raise DataverseError()
    dv.raise_for(responses[0])
    existing = (responses[0].body or {}).get("value") or []
    if existing:
        return Lookup(existing[0], {})
    for response in responses[1:]:
        dv.raise_for(response)
    matches = collect_matches(queries, responses[1 : 1 + len(queries)])
    if draft.regarding is None:
        return Lookup(None, matches)
    name = (responses[-1].body or {}).get(REGARDING_TABLES[draft.regarding.table].primary_name)
    return Lookup(None, matches, name)


def find(dv: Dataverse, kind: ActivityKind, key: str) -> dict[str, Any] | None:
    """The activity holding the item with `key`, read with annotations, or None (one round trip)."""
    rows = dv.get(kind.lookup_query(key), annotations=True).get("value") or []
    return dict(rows[0]) if rows else None


def activity_at(dv: Dataverse, kind: ActivityKind, activity_id: str) -> dict[str, Any] | None:
    """The activity at `activity_id` as the caller reads it, or None when there is none they can see."""
    try:
        return dv.get(kind.by_id_query(activity_id), annotations=True)
    except (NotFound, DataverseForbidden):
        return None


def create_activity(
    dv: Dataverse, kind: ActivityKind, body: Mapping[str, Any], new_record: NewRecord | None
) -> str | None:
    """Create the activity (in one change set after the sender's new record, if any); its ETag.

    Raises `DuplicateRecord` when its id (or the new record's) is taken: the body carries its own `activityid`.
    """
    if new_record is None:
        return dv.create(kind.entity_set, body, select=["activityid"], idempotent=True).get("@odata.etag")
    change_set = ChangeSet(
        [
            BatchRequest("POST", new_record.table.entity_set, body=new_record.body),
            BatchRequest(
                "POST", f"{kind.entity_set}?$select=activityid", body=dict(body), headers={"Prefer": REPRESENTATION}
            ),
        ]
    )
    etag = None
    for response in dv.batch([change_set], idempotent=True):
        dv.raise_for(response)
        if isinstance(response.body, dict) and "@odata.etag" in response.body:
            etag = response.body["@odata.etag"]
    return etag


def untrack(dv: Dataverse, kind: ActivityKind, activity_id: str) -> None:
    """Delete the activity (its parties and attachments go with it)."""
    dv.delete(kind.entity_set, activity_id)
