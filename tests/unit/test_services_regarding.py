"""Regarding, untrack and search services against a fake Dataverse client."""

from __future__ import annotations

from fake_dataverse import FakeDataverse, failed, ok, rows

from addin_api.model import (
    Candidate,
    ClearRegarding,
    RecordRef,
    RegardingCleared,
    RegardingRef,
    RegardingSet,
    SearchRegarding,
    SetRegarding,
    Untrack,
)
from addin_api.services import regarding

ENV = "https://org.example.crm.dynamics.com"
ACTIVITY = "e0000000-0000-4000-8000-000000000001"
ACCOUNT = "a0000000-0000-4000-8000-000000000001"
URL = f"{ENV}/main.aspx?etn=email&pagetype=entityrecord&id={ACTIVITY}"
ANNOTATED_ACCOUNT = {
    "_regardingobjectid_value": ACCOUNT,
    "_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
    "_regardingobjectid_value@OData.Community.Display.V1.FormattedValue": "Fabrikam",
}


def test_setting_the_regarding_binds_it_under_the_clients_etag() -> None:
    """One PATCH with the bind and If-Match; the result carries the record's name and the new ETag."""
    dv = FakeDataverse(update=[{**ANNOTATED_ACCOUNT, "@odata.etag": 'W/"5"'}])

    result = regarding.set_regarding(
        dv, ENV, SetRegarding("email", ACTIVITY, RegardingRef("account", ACCOUNT), 'W/"4"')
    )

    assert RegardingSet(ACTIVITY, RecordRef("account", ACCOUNT, "Fabrikam"), URL, 'W/"5"') == result
    [(_, request)] = dv.calls
    assert ({"regardingobjectid_account_email@odata.bind": f"/accounts({ACCOUNT})"}, 'W/"4"') == (
        request["body"],
        request["if_match"],
    )


def test_clearing_the_regarding_disassociates_the_table_it_points_to() -> None:
    """Read which table the regarding is, then DELETE that navigation property's $ref."""
    dv = FakeDataverse(get=[ANNOTATED_ACCOUNT])

    result = regarding.clear_regarding(dv, ENV, ClearRegarding("email", ACTIVITY))

    assert RegardingCleared(ACTIVITY, URL) == result
    assert ("delete_ref", {"entity_set": "emails", "id": ACTIVITY, "property": "regardingobjectid_account_email"}) == (
        dv.calls[-1]
    )


def test_clearing_an_activity_without_regarding_writes_nothing() -> None:
    """Nothing to disassociate: one read, no delete."""
    dv = FakeDataverse(get=[{"activityid": ACTIVITY}])

    regarding.clear_regarding(dv, ENV, ClearRegarding("appointment", ACTIVITY))

    assert ["get"] == [method for method, _ in dv.calls]


def test_untrack_deletes_the_activity_of_its_table() -> None:
    """An appointment is deleted from appointments."""
    dv = FakeDataverse()

    regarding.untrack(dv, Untrack("appointment", ACTIVITY))

    assert [("delete", {"entity_set": "appointments", "id": ACTIVITY})] == dv.calls


def test_search_skips_tables_the_caller_cannot_read() -> None:
    """A 403 part leaves its table out; the others' rows become candidates with their detail line."""
    account = {"accountid": ACCOUNT, "name": "Fabrikam", "address1_city": "Oslo", "emailaddress1": "hi@fabrikam"}
    dv = FakeDataverse(batch=[[rows(account), failed(403)]])

    result = regarding.search(dv, SearchRegarding(("account", "contact"), 5, search="*fab"))

    assert (Candidate("account", ACCOUNT, "Fabrikam", "Oslo · hi@fabrikam"),) == result.results
    first = dv.calls[0][1][0]
    assert "contains(name" in first.url.replace("%28", "(") and "$top=5" in first.url


def test_an_account_search_lists_the_account_then_its_open_work() -> None:
    """`account` mode: the account first (named even when its row lacks the id), then opportunities."""
    opportunity = {"opportunityid": "o1", "name": "Deal"}
    dv = FakeDataverse(batch=[[ok({"name": "Fabrikam"}), rows(opportunity)]])

    result = regarding.search(dv, SearchRegarding(("account", "opportunity"), 10, account=ACCOUNT))

    assert [("account", ACCOUNT, "Fabrikam"), ("opportunity", "o1", "Deal")] == [
        (c.table, c.id, c.name) for c in result.results
    ]
