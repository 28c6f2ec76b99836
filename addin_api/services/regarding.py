"""Set, change and clear an activity's regarding record; untrack; search regarding candidates across tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import FORMATTED, INCLUDE_ANNOTATIONS, LOGICAL_NAME, ActivityKind, regarding_view
from addin_api.dataverse.batch import BatchRequest, BatchResponse
from addin_api.dataverse.tables import REGARDING_TABLES, Table
from addin_api.errors import DataverseForbidden
from addin_api.services.ports import Dataverse
from addin_api.services.tracking import RegardingRef


def set_regarding(
    dv: Dataverse,
    environment_url: str,
    kind: ActivityKind,
    activity_id: str,
    ref: RegardingRef,
    if_match: str = "*",
) -> dict[str, Any]:
    """Point the activity at `ref` (one round trip); 404 when either record does not exist.

    `if_match` is the ETag the client last saw (`etag` of the tracked view): a change made since answers 409.
    """
    body = {kind.regarding_property(ref.table) + "@odata.bind": ref.table.bind(ref.id)}
    record = dv.update(
        kind.entity_set,
        activity_id,
        body,
        if_match=if_match,
        select=["activityid", "_regardingobjectid_value"],
        annotations=True,
    )
    regarding = regarding_view(record or {}) or {"table": ref.table.logical_name, "id": ref.id, "name": None}
    return {**_view(kind, environment_url, activity_id, regarding), "etag": (record or {}).get("@odata.etag")}


def clear_regarding(dv: Dataverse, environment_url: str, kind: ActivityKind, activity_id: str) -> dict[str, Any]:
    """Remove the activity's regarding (read which table it points to, then disassociate)."""
    record = dv.get(f"{kind.entity_set}({activity_id})?$select=activityid,_regardingobjectid_value", annotations=True)
    table_name = record.get("_regardingobjectid_value" + LOGICAL_NAME)
    if record.get("_regardingobjectid_value") and table_name in REGARDING_TABLES:
        dv.delete_ref(kind.entity_set, activity_id, kind.regarding_property(REGARDING_TABLES[table_name]))
    return _view(kind, environment_url, activity_id, None)


def untrack(dv: Dataverse, kind: ActivityKind, activity_id: str) -> None:
    """Delete the activity (its parties and attachments go with it)."""
    dv.delete(kind.entity_set, activity_id)


def _view(kind: ActivityKind, environment_url: str, activity_id: str, regarding: Any) -> dict[str, Any]:
    return {
        "activityId": activity_id,
        "tracked": True,
        "regarding": regarding,
        "url": kind.record_url(environment_url, activity_id),
    }


def _detail(table: Table, row: dict[str, Any]) -> str | None:
    """A second line for a search result: where or who the record is."""
    candidates: tuple[str, ...] = {
        "account": ("address1_city", "emailaddress1"),
        "contact": ("_parentcustomerid_value" + FORMATTED, "emailaddress1", "jobtitle"),
        "lead": ("companyname", "emailaddress1"),
        "opportunity": ("_customerid_value" + FORMATTED,),
        "incident": ("ticketnumber", "_customerid_value" + FORMATTED),
    }.get(table.logical_name, ())
    values = [str(row[c]) for c in candidates if row.get(c)]
    return " · ".join(values[:2]) or None


def search_query(table: Table, text: str, top: int, *, contains: bool = False) -> BatchRequest:
    """The GET that finds active records of `table` whose searchable columns start with (or contain) `text`."""
    like = odata.like_literal(text, max_length=100)
    function = "contains" if contains else "startswith"
    clauses = " or ".join(f"{function}({column},{like})" for column in table.search_columns)
    params = {
        "$select": ",".join(table.select),
        "$filter": f"({clauses}) and {table.active_filter}",
        "$orderby": f"{table.primary_name} asc",
        "$top": str(top),
    }
    return BatchRequest("GET", f"{table.entity_set}?{odata.query_string(params)}", headers=dict(INCLUDE_ANNOTATIONS))


def parse_search(raw: str) -> tuple[str, bool]:
    """The text to look for and whether it may sit anywhere: a leading `*` is Dynamics' wildcard for "contains".

    A trailing `*` adds nothing to a begins-with search, so it is dropped too.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/quick-find
    """
    text = raw.strip()
    contains = text.startswith("*")
    return text.strip("*").strip(), contains


def search(dv: Dataverse, raw: str, tables: Sequence[Table], top: int) -> list[dict[str, Any]]:
    """Regarding candidates across `tables` in one `$batch`; tables the user cannot read are left out."""
    text, contains = parse_search(raw)
    responses = dv.batch([search_query(t, text, top, contains=contains) for t in tables], continue_on_error=True)
    return _results(dv, tables, responses)


def related_query(table: Table, account_id: str, top: int) -> BatchRequest:
    """The GET of `table`'s active rows whose customer is the account (open opportunities, active cases)."""
    params = {
        "$select": ",".join(table.select),
        "$filter": f"_customerid_value eq {odata.guid(account_id)} and {table.active_filter}",
        "$orderby": f"{table.primary_name} asc",
        "$top": str(top),
    }
    return BatchRequest("GET", f"{table.entity_set}?{odata.query_string(params)}", headers=dict(INCLUDE_ANNOTATIONS))


def for_account(dv: Dataverse, account_id: str, tables: Sequence[Table], top: int) -> list[dict[str, Any]]:
    """The account itself, then its open opportunities and active cases (of `tables`), in one `$batch`.

    Open opportunities have statecode 0 (Open) and active cases statecode 0 (Active).
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/opportunity#BKMK_StateCode
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/incident#BKMK_StateCode
    404 when the account does not exist or the caller cannot see it.
    """
    account = REGARDING_TABLES["account"]
    wanted = [t for t in tables if t.logical_name in ("opportunity", "incident")]
    params = {"$select": ",".join(account.select)}
    own = BatchRequest(
        "GET",
        f"{account.entity_set}({odata.guid(account_id)})?{odata.query_string(params)}",
        headers=dict(INCLUDE_ANNOTATIONS),
    )
    responses = dv.batch([own, *(related_query(t, account_id, top) for t in wanted)], continue_on_error=True)
    dv.raise_for(responses[0])
    row = responses[0].body or {}
    first = {
        "table": "account",
        "id": row.get(account.primary_id, account_id),
        "name": row.get(account.primary_name),
        "detail": _detail(account, row),
    }
    return [first, *_results(dv, wanted, responses[1:])]


def _results(dv: Dataverse, tables: Sequence[Table], responses: Sequence[BatchResponse]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for table, response in zip(tables, responses, strict=True):
        try:
            dv.raise_for(response)
        except DataverseForbidden:
            continue
        for row in (response.body or {}).get("value", []):
            results.append(
                {
                    "table": table.logical_name,
                    "id": row[table.primary_id],
                    "name": row.get(table.primary_name),
                    "detail": _detail(table, row),
                }
            )
    return results
