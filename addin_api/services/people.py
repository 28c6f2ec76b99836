"""The sender card: who an address is in Dataverse and the latest activities with it, in one `$batch`."""

from __future__ import annotations

from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import FORMATTED, INCLUDE_ANNOTATIONS
from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.client import DataverseClient
from addin_api.dataverse.parties import collect_matches, resolution_queries
from addin_api.errors import DataverseForbidden

RECENT_ACTIVITIES = 5


def activities_query(address: str) -> BatchRequest:
    """The GET of the activity parties that used `address`, with each party's activity."""
    params = {
        "$select": "activitypartyid,participationtypemask,_activityid_value",
        "$filter": f"addressused eq {odata.literal(address)}",
        "$expand": "activityid_activitypointer($select=activityid,subject,activitytypecode,createdon,actualend)",
        "$top": "50",
    }
    return BatchRequest("GET", f"activityparties?{odata.query_string(params)}", headers=dict(INCLUDE_ANNOTATIONS))


def lookup(dv: DataverseClient, address: str) -> dict[str, Any]:
    """Records owning `address` (systemuser, contact, account, lead) and the latest activities it took part in."""
    queries = resolution_queries([address])
    responses = dv.batch([q for _, q in queries] + [activities_query(address)], continue_on_error=True)
    for response in responses[:-1]:
        dv.raise_for(response)
    matches = collect_matches(queries, responses[:-1]).get(address, [])
    cards = [
        {**m.view(), "email": address, "detail": None if m.table.logical_name != "systemuser" else "User"}
        for m in matches
    ]
    recent: dict[str, dict[str, Any]] = {}
    try:
        dv.raise_for(responses[-1])
        rows = (responses[-1].body or {}).get("value", [])
    except DataverseForbidden:
        rows = []
    for row in rows:
        activity = row.get("activityid_activitypointer") or {}
        activity_id = activity.get("activityid")
        if activity_id and activity_id not in recent:
            recent[activity_id] = {
                "type": activity.get("activitytypecode"),
                "id": activity_id,
                "subject": activity.get("subject"),
                "when": activity.get("actualend") or activity.get("createdon"),
                "whenText": activity.get("createdon" + FORMATTED),
            }
    latest = sorted(recent.values(), key=lambda a: str(a["when"] or ""), reverse=True)[:RECENT_ACTIVITIES]
    return {"matches": cards, "recentActivities": latest}
