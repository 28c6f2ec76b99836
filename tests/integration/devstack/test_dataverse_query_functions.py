"""The emulated Dataverse's query functions, lookup paths in $filter and nested $expand, over real HTTPS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests
from dataverse_support import WebApi

from addin_api.devstack.seed import (
    ADVENTURE_WORKS_ACCOUNT_ID,
    BUSINESS_UNIT_ID,
    COLLEAGUE_IDS,
    DANA_CONTACT_ID,
    FABRIKAM_ACCOUNT_ID,
    NORTHWIND_ACCOUNT_ID,
    seed_id,
)

ALICE_ID = "5e7a0001-0000-4000-8000-00000000a11c"
CRM = "Microsoft.Dynamics.CRM."


class Dv(WebApi):
    """A tiny Web API client for Alice."""

    def query(self, entity_set: str, expression: str, extra: str = "") -> requests.Response:
        """GET `entity_set` with `$filter=expression` (URL-encoded) and more query text."""
        return self.call("GET", f"{entity_set}?$filter={quote(expression, safe='')}{extra}")

    def ids(self, entity_set: str, key: str, expression: str, extra: str = "") -> set[str]:
        """The keys of the rows a filter matches."""
        response = self.query(entity_set, expression, extra)
        assert 200 == response.status_code, response.text
        return {row[key] for row in response.json()["value"]}


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def contact(name: str) -> str:
    """The id of a seeded contact."""
    return seed_id("contact", name)


def test_in_matches_any_listed_value(dv: Dv) -> None:
    """In(PropertyName, PropertyValues) matches rows whose column is one of the values, ignoring case."""
    ids = dv.ids(
        "accounts", "accountid", f"{CRM}In(PropertyName='name',PropertyValues=['fabrikam, inc.','Northwind Traders'])"
    )
    assert {FABRIKAM_ACCOUNT_ID, NORTHWIND_ACCOUNT_ID} == ids


def test_in_with_parameter_aliases_and_json_quotes(dv: Dv) -> None:
    """The documented alias form, with double-quoted values (the way to pass an apostrophe), works."""
    names = quote('["Smith","O\'Brien"]')
    query = f"contacts?$select=fullname&$filter={CRM}In(PropertyName=@p1,PropertyValues=@p2)&@p1='lastname'&@p2={names}"
    response = dv.call("GET", query)
    assert 200 == response.status_code, response.text
    assert {DANA_CONTACT_ID, contact("Sean O'Brien")} == {r["contactid"] for r in response.json()["value"]}


def test_not_in_excludes_the_values(dv: Dv) -> None:
    """NotIn is the complement of In over rows with a value."""
    every = dv.ids("accounts", "accountid", "name ne null")
    excluded = dv.ids("accounts", "accountid", f"{CRM}NotIn(PropertyName='accountnumber',PropertyValues=['ACC-1000'])")
    assert every - {FABRIKAM_ACCOUNT_ID} == excluded


def test_between_is_inclusive(dv: Dv) -> None:
    """Between(PropertyName, [low, high]) includes both ends; NotBetween the rest."""
    for value, name in ((10, "Low"), (20, "Mid"), (30, "High")):
        assert 204 == dv.call("POST", "accounts", {"name": f"Revenue {name}", "revenue": value}).status_code
    inside = dv.query("accounts", f"{CRM}Between(PropertyName='revenue',PropertyValues=['10','20'])", "&$select=name")
    outside = dv.query(
        "accounts", f"{CRM}NotBetween(PropertyName='revenue',PropertyValues=['10','20'])", "&$select=name"
    )
    assert ["Revenue High"] == [r["name"] for r in outside.json()["value"]]
    assert {"Revenue Low", "Revenue Mid"} == {r["name"] for r in inside.json()["value"]}


def test_between_needs_two_values(dv: Dv) -> None:
    """Between with one value is refused."""
    response = dv.query("accounts", f"{CRM}Between(PropertyName='revenue',PropertyValues=['10'])")
    assert 400 == response.status_code


def test_date_functions_see_new_rows_but_not_seeded_ones(dv: Dv) -> None:
    """A row created now is created Today and in the last 3 days; seeded rows (2025) are older than 30 days."""
    assert 204 == dv.call("POST", "accounts", {"name": "Fresh Account"}).status_code
    today = dv.query("accounts", f"{CRM}Today(PropertyName='createdon')", "&$select=name")
    recent = dv.query("accounts", f"{CRM}LastXDays(PropertyName='createdon',PropertyValue=3)", "&$select=name")
    coming = dv.query("accounts", f"{CRM}NextXDays(PropertyName='createdon',PropertyValue=3)", "&$select=name")
    old = dv.ids("accounts", "accountid", f"{CRM}OlderThanXDays(PropertyName='createdon',PropertyValue=30)")
    assert ["Fresh Account"] == [r["name"] for r in today.json()["value"]]
    assert ["Fresh Account"] == [r["name"] for r in recent.json()["value"]]
    assert [] == coming.json()["value"]
    assert FABRIKAM_ACCOUNT_ID in old and len(old) == 16


@pytest.mark.parametrize(("function", "fresh"), [("ThisMonth", True), ("ThisYear", True), ("LastYear", False)])
def test_calendar_functions(dv: Dv, function: str, fresh: bool) -> None:
    """ThisMonth and ThisYear match a row created now; LastYear does not."""
    assert 204 == dv.call("POST", "accounts", {"name": "Fresh Account"}).status_code
    names = {r["name"] for r in dv.query("accounts", f"{CRM}{function}(PropertyName='createdon')").json()["value"]}
    assert fresh == ("Fresh Account" in names)


def test_on_or_before_takes_a_date(dv: Dv) -> None:
    """OnOrBefore compares whole days with the date given."""
    ids = dv.ids("accounts", "accountid", f"{CRM}OnOrBefore(PropertyName='createdon',PropertyValue='2025-01-06')")
    assert FABRIKAM_ACCOUNT_ID in ids


def test_date_function_on_a_text_column_is_refused(dv: Dv) -> None:
    """A date function on a string column fails instead of matching nothing."""
    assert 400 == dv.query("accounts", f"{CRM}Today(PropertyName='name')").status_code


def test_equal_user_id_matches_the_callers_rows(dv: Dv) -> None:
    """EqualUserId on ownerid matches the rows the caller owns; NotEqualUserId the others."""
    mine = dv.ids("accounts", "accountid", f"{CRM}EqualUserId(PropertyName='ownerid')", "&$select=_ownerid_value")
    others = dv.ids("accounts", "accountid", f"{CRM}NotEqualUserId(PropertyName='ownerid')")
    response = dv.call("GET", "accounts?$select=_ownerid_value")
    owners = {r["accountid"]: r["_ownerid_value"] for r in response.json()["value"]}
    assert {i for i, owner in owners.items() if owner == ALICE_ID} == mine
    assert set(owners) - mine == others
    assert mine and others


def test_equal_user_id_on_the_primary_key(dv: Dv) -> None:
    """EqualUserId(PropertyName='systemuserid') finds the caller's own systemuser row (documented example)."""
    assert {ALICE_ID} == dv.ids("systemusers", "systemuserid", f"{CRM}EqualUserId(PropertyName='systemuserid')")


def test_equal_business_id(dv: Dv) -> None:
    """EqualBusinessId matches rows of the caller's business unit."""
    ids = dv.ids("systemusers", "systemuserid", f"{CRM}EqualBusinessId(PropertyName='businessunitid')")
    assert ALICE_ID in ids and set(COLLEAGUE_IDS) <= ids
    assert set() == dv.ids("systemusers", "systemuserid", f"{CRM}NotEqualBusinessId(PropertyName='businessunitid')")
    assert {BUSINESS_UNIT_ID} == {r["_businessunitid_value"] for r in dv.call("GET", "systemusers").json()["value"]}


def test_query_functions_combine_with_and(dv: Dv) -> None:
    """A query function combines with ordinary comparisons."""
    ids = dv.ids("accounts", "accountid", f"{CRM}EqualUserId(PropertyName='ownerid') and name eq 'Fabrikam, Inc.'")
    assert {FABRIKAM_ACCOUNT_ID} == ids


@pytest.mark.parametrize(
    "expression",
    [f"not {CRM}EqualUserId(PropertyName='ownerid')", f"not ({CRM}Today(PropertyName='createdon'))"],
)
def test_query_functions_cannot_be_negated(dv: Dv, expression: str) -> None:
    """`not` before a query function fails with Dataverse's documented message."""
    response = dv.query("accounts", expression)
    assert 400 == response.status_code
    assert (
        "Not operator along with the Custom Named Condition operators is not allowed"
        == response.json()["error"]["message"]
    )


def test_query_function_names_the_logical_column(dv: Dv) -> None:
    """PropertyName is the column's logical name; `_ownerid_value` is no attribute."""
    response = dv.query("accounts", f"{CRM}EqualUserId(PropertyName='_ownerid_value')")
    assert 400 == response.status_code
    assert "0x80041103" == response.json()["error"]["code"]


def test_unknown_query_function_fails(dv: Dv) -> None:
    """A function the emulator does not evaluate fails rather than matching wrongly."""
    response = dv.query("accounts", f"{CRM}InFiscalYear(PropertyName='createdon',PropertyValue=2025)")
    assert 400 == response.status_code
    assert "unknown function" in response.json()["error"]["message"]


def test_missing_parameter_alias_fails(dv: Dv) -> None:
    """An alias the query string does not define is an error."""
    response = dv.call("GET", f"accounts?$filter={CRM}In(PropertyName=@p1,PropertyValues=@p2)&@p1='name'")
    assert 400 == response.status_code


def test_filter_on_a_lookup_column_property(dv: Dv) -> None:
    """`parentcustomerid_account/name eq …` matches the contacts of that account."""
    ids = dv.ids("contacts", "contactid", "parentcustomerid_account/name eq 'fabrikam, inc.'")
    assert {DANA_CONTACT_ID, contact("Ravi Kumar")} == ids


def test_lookup_path_inside_string_functions(dv: Dv) -> None:
    """A lookup path works as the argument of startswith."""
    ids = dv.ids("contacts", "contactid", "startswith(parentcustomerid_account/name,'Adventure')")
    assert {contact("Maria Garcia"), contact("John Chen")} == ids


def test_filter_two_lookups_up(dv: Dv) -> None:
    """`parentcustomerid_account/ownerid/fullname` follows two lookups."""
    owner = dv.call("GET", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})?$select=_ownerid_value").json()["_ownerid_value"]
    name = dv.call("GET", f"systemusers({owner})?$select=fullname").json()["fullname"]
    ids = dv.ids("contacts", "contactid", f"parentcustomerid_account/ownerid/fullname eq '{name}'")
    accounts = dv.call("GET", "accounts?$select=_ownerid_value").json()["value"]
    theirs = {a["accountid"] for a in accounts if a["_ownerid_value"] == owner}
    contacts = dv.call("GET", "contacts?$select=_parentcustomerid_value").json()["value"]
    assert {c["contactid"] for c in contacts if c["_parentcustomerid_value"] in theirs} == ids
    assert {contact("Maria Garcia"), contact("John Chen")} <= ids


def test_lookup_path_depth_is_bounded(dv: Dv) -> None:
    """A path through more than 15 lookups is refused instead of joining without end."""
    response = dv.query("accounts", "createdby/" * 16 + "fullname eq 'x'")
    assert 400 == response.status_code
    assert "more than 15" in response.json()["error"]["message"]
    assert 200 == dv.query("accounts", "createdby/" * 15 + "fullname eq 'x'").status_code


def test_lookup_path_of_the_other_target_does_not_match(dv: Dv) -> None:
    """A contact whose parent is an account has no parentcustomerid_contact."""
    assert set() == dv.ids("contacts", "contactid", "parentcustomerid_contact/fullname eq 'Dana Smith'")


def test_lookup_path_with_unknown_property(dv: Dv) -> None:
    """An unknown property on the related table is the usual 400."""
    response = dv.query("contacts", "parentcustomerid_account/nosuch eq 'x'")
    assert 400 == response.status_code
    assert "Microsoft.Dynamics.CRM.account" in response.json()["error"]["message"]


def test_nested_expand_on_single_valued_navigation(dv: Dv) -> None:
    """`$expand=parentcustomerid_account($select=name;$expand=ownerid($select=fullname))` nests the rows."""
    response = dv.call(
        "GET",
        f"contacts({DANA_CONTACT_ID})?$select=fullname"
        "&$expand=parentcustomerid_account($select=name;$expand=ownerid($select=fullname))",
    )
    assert 200 == response.status_code, response.text
    body = response.json()
    account = body["parentcustomerid_account"]
    assert "Fabrikam, Inc." == account["name"]
    assert {"@odata.etag", "fullname", "systemuserid"} == set(account["ownerid"])
    assert body["@odata.context"].endswith(
        "$metadata#contacts(fullname,parentcustomerid_account(name,ownerid(fullname)))/$entity"
    )


def test_expand_single_valued_refuses_filter(dv: Dv) -> None:
    """$filter inside a single-valued expansion is refused, not ignored."""
    response = dv.call("GET", f"contacts({DANA_CONTACT_ID})?$expand=parentcustomerid_account($filter=name eq 'x')")
    assert 400 == response.status_code


def test_nested_expand_inside_collection_expansion(dv: Dv, devstack: Any) -> None:
    """A collection expansion takes $filter and a nested single-valued $expand."""
    email = {
        "subject": "Nested",
        "email_activity_parties": [
            {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"},
            {"participationtypemask": 1, "partyid_systemuser@odata.bind": f"/systemusers({ALICE_ID})"},
        ],
    }
    created = dv.call("POST", "emails", email)
    assert 204 == created.status_code, created.text
    email_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    expand = quote(
        "email_activity_parties($select=participationtypemask;$filter=participationtypemask eq 2;"
        "$expand=partyid_contact($select=fullname))",
        safe="=$();,",
    )
    response = dv.call("GET", f"emails({email_id})?$select=subject&$expand={expand}")
    assert 200 == response.status_code, response.text
    parties = response.json()["email_activity_parties"]
    assert 1 == len(parties)
    assert "Dana Smith" == parties[0]["partyid_contact"]["fullname"]


REFUSED = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested "
    "one-to-many relationship."
)


@pytest.mark.parametrize(
    "expand",
    [
        "parentcustomerid_account($select=name;$top=1)",
        "parentcustomerid_account($orderby=name)",
    ],
)
def test_top_and_orderby_are_refused_on_single_valued_expand(dv: Dv, expand: str) -> None:
    """$top/$orderby on a many-to-one expansion fail with Dataverse's documented error, even with no rows."""
    response = dv.call("GET", f"contacts?$filter=fullname eq 'nobody'&$expand={quote(expand, safe='=$();,')}")
    assert 400 == response.status_code
    assert ("0x80060888", REFUSED) == (response.json()["error"]["code"], response.json()["error"]["message"])


def test_top_is_refused_in_a_collection_expand_when_any_expand_is_nested(dv: Dv) -> None:
    """With a nested $expand anywhere, $top on a collection expansion is refused; without one it applies."""
    nested = "email_activity_parties($top=1;$expand=partyid_contact($select=fullname))"
    flat = "email_activity_parties($select=participationtypemask;$top=1)"
    refused = dv.call("GET", f"emails?$expand={quote(nested, safe='=$();,')}")
    allowed = dv.call("GET", f"emails?$expand={quote(flat, safe='=$();,')}")
    assert 400 == refused.status_code
    assert REFUSED == refused.json()["error"]["message"]
    assert 200 == allowed.status_code
    assert all(len(e["email_activity_parties"]) <= 1 for e in allowed.json()["value"])


def email_with_parties(dv: Dv) -> str:
    """Create an email with three parties; return its id."""
    parties = [
        {"participationtypemask": 1, "partyid_systemuser@odata.bind": f"/systemusers({ALICE_ID})"},
        {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"},
        {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({contact('Ravi Kumar')})"},
    ]
    created = dv.call("POST", "emails", {"subject": "Paged", "email_activity_parties": parties})
    assert 204 == created.status_code, created.text
    return str(created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))


def test_single_expand_gives_an_unpaged_next_link(dv: Dv) -> None:
    """A collection expansion comes with `<nav>@odata.nextLink`, the related collection with the same options."""
    email_id = email_with_parties(dv)
    headers = {**dv.headers, "Prefer": "odata.maxpagesize=1"}
    url = f"{dv.api}emails({email_id})?$expand=email_activity_parties($select=participationtypemask)"
    body = dv.stack.http.get(url, headers=headers, timeout=10).json()
    link = body["email_activity_parties@odata.nextLink"]
    assert f"{dv.api}emails({email_id})/email_activity_parties?$select=participationtypemask" == link
    assert 3 == len(body["email_activity_parties"])
    followed = dv.stack.http.get(link, headers=dv.headers, timeout=10).json()["value"]
    assert sorted(p["activitypartyid"] for p in body["email_activity_parties"]) == sorted(
        p["activitypartyid"] for p in followed
    )


def test_nested_expand_pages_expanded_collections(dv: Dv) -> None:
    """With a nested $expand and odata.maxpagesize, each expanded collection is paged and its link pages on."""
    email_id = email_with_parties(dv)
    headers = {**dv.headers, "Prefer": "odata.maxpagesize=1"}
    expand = "email_activity_parties($select=participationtypemask;$expand=partyid_contact($select=fullname))"
    url = f"{dv.api}emails({email_id})?$expand={quote(expand, safe='=$();,')}"
    body = dv.stack.http.get(url, headers=headers, timeout=10).json()
    assert 1 == len(body["email_activity_parties"])
    link = body["email_activity_parties@odata.nextLink"]
    assert "$skiptoken=" in link
    second = dv.stack.http.get(link, headers=headers, timeout=10).json()["value"]
    assert 1 == len(second)
    assert second[0]["activitypartyid"] != body["email_activity_parties"][0]["activitypartyid"]


def nest(levels: int) -> str:
    """`createdby($select=fullname;$expand=createdby(…))` nested `levels` deep."""
    inner = "createdby($select=fullname;$expand=" * (levels - 1)
    return inner + "createdby($select=fullname)" + ")" * (levels - 1)


def test_expand_options_are_limited_to_15(dv: Dv) -> None:
    """Up to 15 $expand options, nested ones counted, are served; a deeper nesting is a 400, not a crash."""
    path = f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name&$expand="
    allowed = dv.call("GET", path + quote(nest(15), safe="=$();,"))
    refused = dv.call("GET", path + quote(nest(1500), safe="=$();,"))
    assert 200 == allowed.status_code, allowed.text
    assert 400 == refused.status_code
    assert "more than 15" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "expression",
    ["(" * 150 + "name eq 'x'" + ")" * 150, "not " * 150 + "name eq 'x'"],
)
def test_deeply_nested_filters_are_refused(dv: Dv, expression: str) -> None:
    """A $filter nested deeper than 100 levels is a 400, not a server error."""
    response = dv.query("accounts", expression)
    assert 400 == response.status_code
    assert "nests more than 100 levels" in response.json()["error"]["message"]


def test_long_or_chains_are_evaluated(dv: Dv) -> None:
    """A filter of 1500 `or` terms matches like a short one (no recursion per term)."""
    terms = " or ".join(f"accountnumber eq 'ACC-{n}'" for n in range(-1499, 1))
    assert set() == dv.ids("accounts", "accountid", terms)
    assert {FABRIKAM_ACCOUNT_ID} == dv.ids("accounts", "accountid", terms + " or accountnumber eq 'ACC-1000'")


@pytest.mark.parametrize("function", ["Today", "LastXDays", "NextXDays", "ThisMonth"])
def test_date_functions_on_a_date_only_column_hold_today(dv: Dv, function: str) -> None:
    """On a date-only column (opportunity.estimatedclosedate) a window that holds now holds today's date."""
    today = datetime.now(UTC).date().isoformat()
    created = dv.call("POST", "opportunities", {"name": "Closing today", "estimatedclosedate": today})
    assert 204 == created.status_code, created.text
    value = "" if function in ("Today", "ThisMonth") else ",PropertyValue=1"
    response = dv.query("opportunities", f"{CRM}{function}(PropertyName='estimatedclosedate'{value})")
    assert 200 == response.status_code, response.text
    assert "Closing today" in {r["name"] for r in response.json()["value"]}
