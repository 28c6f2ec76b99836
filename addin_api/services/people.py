"""The sender card: who an address is in Dataverse and the latest activities with it, in one `$batch`."""

from __future__ import annotations

from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import FORMATTED, INCLUDE_ANNOTATIONS, LOGICAL_NAME
from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.parties import Match, collect_matches, resolution_queries
from addin_api.errors import DataverseForbidden
from addin_api.services.ports import Dataverse

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


# What the card shows of each match beside its name: the company and the job title.
CARD_COLUMNS: dict[str, tuple[str, ...]] = {
    "systemuser": ("jobtitle",),
    "contact": ("jobtitle", "_parentcustomerid_value"),
    "lead": ("jobtitle", "companyname"),
}


def _card(match: Match, row: dict[str, Any], address: str, environment_url: str) -> dict[str, Any]:
    """One match as the card shows it: who, where they work, and the record's form in Dynamics 365."""
    table = match.table.logical_name
    company = company_id = None
    if table == "contact" and row.get("_parentcustomerid_value"):
        # A contact's company is its parent customer, an account (or, rarely, another contact).
        company = row.get("_parentcustomerid_value" + FORMATTED)
        if row.get("_parentcustomerid_value" + LOGICAL_NAME) == "account":
            company_id = row["_parentcustomerid_value"]
    elif table == "lead":
        company = row.get("companyname")
    return {
        **match.view(),
        "email": address,
        "detail": "User" if table == "systemuser" else None,
        "company": company or None,
        "companyId": company_id,
        "jobTitle": row.get("jobtitle") or None,
        "url": f"{environment_url}/main.aspx?etn={table}&pagetype=entityrecord&id={match.id}",
    }


def lookup(dv: Dataverse, address: str, environment_url: str) -> dict[str, Any]:
    """Records owning `address` (systemuser, contact, account, lead) and the latest activities it took part in."""
    queries = resolution_queries([address], CARD_COLUMNS, INCLUDE_ANNOTATIONS)
    responses = dv.batch([q for _, q in queries] + [activities_query(address)], continue_on_error=True)
    for response in responses[:-1]:
        dv.raise_for(response)
    matches = collect_matches(queries, responses[:-1]).get(address, [])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for (table, _), response in zip(queries, responses[:-1], strict=True):
        for row in (response.body or {}).get("value", []):
            found[(table.logical_name, str(row.get(table.primary_id)))] = row
    cards = [_card(m, found.get((m.table.logical_name, m.id), {}), address, environment_url) for m in matches]
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
