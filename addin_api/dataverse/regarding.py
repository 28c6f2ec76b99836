"""An activity's regarding record: setting and clearing it, and finding candidates across the regarding tables.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.activities import ANNOTATED, ActivityKind, read_regarding
from addin_api.dataverse.batch import BatchRequest, BatchResponse
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.tables import REGARDING_TABLES, Table
from addin_api.errors import DataverseForbidden
from addin_api.model import Candidate, RecordRef, RegardingCleared, RegardingRef, RegardingSet


def set_regarding(
    dv: Dataverse, environment_url: str, kind: ActivityKind, activity_id: str, ref: RegardingRef, if_match: str
) -> RegardingSet:
    """Point the activity at `ref` (one round trip); 404 when either record does not exist, 409 on a stale ETag."""
    table = REGARDING_TABLES[ref.table]
    record = dv.update(
        kind.entity_set,
        activity_id,
        {kind.regarding_property(table) + "@odata.bind": table.bind(ref.id)},
        if_match=if_match,
        select=["activityid", "_regardingobjectid_value"],
        annotations=True,
    )
    regarding = read_regarding(record or {}) or RecordRef(ref.table, ref.id, None)
    url = kind.record_url(environment_url, activity_id)
    return RegardingSet(activity_id, regarding, url, (record or {}).get("@odata.etag"))


def clear_regarding(dv: Dataverse, environment_url: str, kind: ActivityKind, activity_id: str) -> RegardingCleared:
    """Remove the activity's regarding (read which table it points to, then disassociate)."""
    record = dv.get(f"{kind.entity_set}({activity_id})?$select=activityid,_regardingobjectid_value", annotations=True)
    table_name = record.get("_regardingobjectid_value" + odata.LOGICAL_NAME)
    if record.get("_regardingobjectid_value") and table_name in REGARDING_TABLES:
        dv.delete_ref(kind.entity_set, activity_id, kind.regarding_property(REGARDING_TABLES[table_name]))
    return RegardingCleared(activity_id, kind.record_url(environment_url, activity_id))


# A second line for a search result: where or who the record is (the first two of these that have a value).
DETAIL_COLUMNS: dict[str, tuple[str, ...]] = {
    "account": ("address1_city", "emailaddress1"),
    "contact": ("_parentcustomerid_value" + odata.FORMATTED, "emailaddress1", "jobtitle"),
    "lead": ("companyname", "emailaddress1"),
    "opportunity": ("_customerid_value" + odata.FORMATTED,),
    "incident": ("ticketnumber", "_customerid_value" + odata.FORMATTED),
}


def _detail(table: Table, row: Mapping[str, Any]) -> str | None:
    values = [str(row[c]) for c in DETAIL_COLUMNS.get(table.logical_name, ()) if row.get(c)]
    return " · ".join(values[:2]) or None


def candidate(table: Table, row: Mapping[str, Any], default_id: str | None = None) -> Candidate:
    """A row read by a search or account query as a regarding candidate."""
    record_id = row.get(table.primary_id, default_id) if default_id is not None else row[table.primary_id]
    return Candidate(table.logical_name, record_id, row.get(table.primary_name), _detail(table, row))


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
    return BatchRequest("GET", f"{table.entity_set}?{odata.query_string(params)}", headers=dict(ANNOTATED))


def related_query(table: Table, account_id: str, top: int) -> BatchRequest:
    """The GET of `table`'s active rows whose customer is the account (open opportunities, active cases)."""
    params = {
        "$select": ",".join(table.select),
        "$filter": f"_customerid_value eq {odata.guid(account_id)} and {table.active_filter}",
        "$orderby": f"{table.primary_name} asc",
        "$top": str(top),
    }
    return BatchRequest("GET", f"{table.entity_set}?{odata.query_string(params)}", headers=dict(ANNOTATED))


def search(dv: Dataverse, text: str, contains: bool, tables: Sequence[Table], top: int) -> list[Candidate]:
    """Candidates across `tables` in one `$batch`; tables the user cannot read are left out."""
    responses = dv.batch([search_query(t, text, top, contains=contains) for t in tables], continue_on_error=True)
    return candidates(dv, tables, responses)


def for_account(dv: Dataverse, account_id: str, tables: Sequence[Table], top: int) -> list[Candidate]:
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
        headers=dict(ANNOTATED),
    )
    responses = dv.batch([own, *(related_query(t, account_id, top) for t in wanted)], continue_on_error=True)
    dv.raise_for(responses[0])
    first = candidate(account, responses[0].body or {}, default_id=account_id)
    return [first, *candidates(dv, wanted, responses[1:])]


def candidates(dv: Dataverse, tables: Sequence[Table], responses: Sequence[BatchResponse]) -> list[Candidate]:
    """The rows of each table's response as candidates, skipping the tables the caller may not read."""
    results: list[Candidate] = []
    for table, response in zip(tables, responses, strict=True):
        try:
            dv.raise_for(response)
        except DataverseForbidden:
            continue
        results.extend(candidate(table, row) for row in (response.body or {}).get("value", []))
    return results
