"""The sender card's reads: who owns an address (with company and job title) and the activities it took part in.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/activityparty-entity
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import ANNOTATED
from addin_api.dataverse.batch import BatchRequest, BatchResponse
from addin_api.dataverse.parties import Match, collect_matches, resolution_queries
from addin_api.dataverse.port import Dataverse
from addin_api.errors import DataverseForbidden
from addin_api.model import PersonMatch, RecentActivity

# What the card shows of each match beside its name: the company and the job title.
CARD_COLUMNS: dict[str, tuple[str, ...]] = {
    "systemuser": ("jobtitle",),
    "contact": ("jobtitle", "_parentcustomerid_value"),
    "lead": ("jobtitle", "companyname"),
}


def activities_query(address: str) -> BatchRequest:
    """The GET of the activity parties that used `address`, with each party's activity."""
    params = {
        "$select": "activitypartyid,participationtypemask,_activityid_value",
        "$filter": f"addressused eq {odata.literal(address)}",
        "$expand": "activityid_activitypointer($select=activityid,subject,activitytypecode,createdon,actualend)",
        "$top": "50",
    }
    return BatchRequest("GET", f"activityparties?{odata.query_string(params)}", headers=dict(ANNOTATED))


def card(match: Match, row: Mapping[str, Any], address: str, environment_url: str) -> PersonMatch:
    """One match as the card shows it: who, where they work, and the record's form in Dynamics 365."""
    table = match.table.logical_name
    company = company_id = None
    if table == "contact" and row.get("_parentcustomerid_value"):
        # A contact's company is its parent customer, an account (or, rarely, another contact).
        company = row.get("_parentcustomerid_value" + odata.FORMATTED)
        if row.get("_parentcustomerid_value" + odata.LOGICAL_NAME) == "account":
            company_id = row["_parentcustomerid_value"]
    elif table == "lead":
        company = row.get("companyname")
    return PersonMatch(
        table=table,
        id=match.id,
        name=match.name,
        email=address,
        detail="User" if table == "systemuser" else None,
        company=company or None,
        company_id=company_id,
        job_title=row.get("jobtitle") or None,
        url=f"{environment_url}/main.aspx?etn={table}&pagetype=entityrecord&id={match.id}",
    )


def look_up(dv: Dataverse, address: str, environment_url: str) -> tuple[list[PersonMatch], list[RecentActivity]]:
    """The records owning `address` and the activities it took part in (newest first, each once): one `$batch`."""
    queries = resolution_queries([address], CARD_COLUMNS, ANNOTATED)
    responses = dv.batch([q for _, q in queries] + [activities_query(address)], continue_on_error=True)
    for response in responses[:-1]:
        dv.raise_for(response)
    matches = collect_matches(queries, responses[:-1]).get(address, [])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for (table, _), response in zip(queries, responses[:-1], strict=True):
        for row in (response.body or {}).get("value", []):
            found[(table.logical_name, str(row.get(table.primary_id)))] = row
    cards = [card(m, found.get((m.table.logical_name, m.id), {}), address, environment_url) for m in matches]
    return cards, recent_activities(dv, responses[-1])


def recent_activities(dv: Dataverse, response: BatchResponse) -> list[RecentActivity]:
    """The activities of the activity-party rows, each once, newest first (none when the caller may not read them)."""
    try:
        dv.raise_for(response)
        rows: Sequence[dict[str, Any]] = (response.body or {}).get("value", [])
    except DataverseForbidden:
        rows = []
    recent: dict[str, RecentActivity] = {}
    for row in rows:
        activity = row.get("activityid_activitypointer") or {}
        activity_id = activity.get("activityid")
        if activity_id and activity_id not in recent:
            recent[activity_id] = RecentActivity(
                type=activity.get("activitytypecode"),
                id=activity_id,
                subject=activity.get("subject"),
                when=activity.get("actualend") or activity.get("createdon"),
                when_text=activity.get("createdon" + odata.FORMATTED),
            )
    return sorted(recent.values(), key=lambda a: str(a.when or ""), reverse=True)
