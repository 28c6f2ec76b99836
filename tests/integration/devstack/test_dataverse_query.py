"""The emulated Dataverse's query options over real HTTPS: $select, $filter, $orderby, $top, $expand, $count, paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from dataverse_support import WebApi

from addin_api.devstack.seed import (
    DANA_CONTACT_ID,
    DANA_EMAIL,
    DANA_LEAD_ID,
    FABRIKAM_ACCOUNT_ID,
    NATURAL_FOODS_ACCOUNT_ID,
    OBRIEN_ACCOUNT_ID,
    SHARED_CONTACT_ADDRESS,
    SHARED_CONTACT_IDS,
    TRACKED_EMAIL_ID,
)

Dv = WebApi


def values(dv: Dv, path: str) -> list[dict[str, Any]]:
    """GET a collection and return its `value`."""
    result: list[dict[str, Any]] = dv.json(path)["value"]
    return result


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def f(expression: str) -> str:
    """URL-encode a $filter expression."""
    return "$filter=" + quote(expression, safe="")


def test_filter_eq_is_case_insensitive(dv: Dv) -> None:
    """String equality ignores case."""
    query = f("emailaddress1 eq 'DANA@fabrikam.example'")
    ids = [c["contactid"] for c in values(dv, f"contacts?$select=fullname&{query}")]
    assert [DANA_CONTACT_ID] == ids


def test_two_contacts_share_an_address(dv: Dv) -> None:
    """The seed has two contacts with the same address and a contact and a lead sharing another."""
    shared_query = f(f"emailaddress1 eq '{SHARED_CONTACT_ADDRESS}'")
    lead_query = f(f"emailaddress1 eq '{DANA_EMAIL}'")
    shared = values(dv, f"contacts?$select=fullname&{shared_query}")
    leads = values(dv, f"leads?$select=fullname&{lead_query}")
    assert sorted(SHARED_CONTACT_IDS) == sorted(c["contactid"] for c in shared)
    assert [DANA_LEAD_ID] == [lead["leadid"] for lead in leads]


def test_quote_doubling(dv: Dv) -> None:
    """'O''Brien & Sons' matches the account with an apostrophe."""
    query = f("name eq 'O''Brien & Sons'")
    rows = values(dv, f"accounts?$select=name&{query}")
    assert [OBRIEN_ACCOUNT_ID] == [r["accountid"] for r in rows]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("contains(name,'100[%]')", [NATURAL_FOODS_ACCOUNT_ID]),
        ("startswith(name,'100%')", [NATURAL_FOODS_ACCOUNT_ID]),
        ("contains(name,'%Natural%')", [NATURAL_FOODS_ACCOUNT_ID]),
        ("endswith(name,'Foods')", [NATURAL_FOODS_ACCOUNT_ID]),
        ("startswith(name,'F_brikam')", [FABRIKAM_ACCOUNT_ID]),
        ("startswith(name,'F[_]brikam')", []),
        ("startswith(name,'[EF]abrikam')", [FABRIKAM_ACCOUNT_ID]),
    ],
)
def test_like_wildcards(dv: Dv, expression: str, expected: list[str]) -> None:
    """contains/startswith/endswith treat % _ [ ] as SQL LIKE does."""
    assert expected == [r["accountid"] for r in values(dv, f"accounts?$select=name&{f(expression)}")]


def test_and_or_not_parentheses(dv: Dv) -> None:
    """Logical operators and parentheses combine as expected."""
    expression = (
        "(emailaddress1 eq 'dana@fabrikam.example' or emailaddress1 eq 'ravi.kumar@fabrikam.example') "
        "and not (firstname eq 'Ravi')"
    )
    assert [DANA_CONTACT_ID] == [r["contactid"] for r in values(dv, f"contacts?$select=fullname&{f(expression)}")]


def test_lookup_guid_and_null(dv: Dv) -> None:
    """_x_value compares with unquoted GUIDs, and eq null finds empty columns."""
    expression = f"_parentcustomerid_value eq {FABRIKAM_ACCOUNT_ID} and mobilephone eq null"
    rows = values(dv, f"contacts?$select=fullname&$orderby=fullname&{f(expression)}")
    assert ["Dana Smith", "Ravi Kumar"] == [r["fullname"] for r in rows]


def test_numbers_dates_and_booleans(dv: Dv) -> None:
    """Numeric, date and boolean literals compare with typed columns."""
    big = values(dv, f"opportunities?$select=name&{f('estimatedvalue ge 125000')}&$orderby=estimatedvalue desc")
    recent = values(dv, f"emails?$select=subject&{f('actualend gt 2025-01-01T00:00:00Z and directioncode eq false')}")
    assert ["Woodgrove branch kiosks", "Fabrikam laptop refresh"] == [o["name"] for o in big]
    assert [TRACKED_EMAIL_ID] == [e["activityid"] for e in recent]


def test_orderby_several_columns_and_top(dv: Dv) -> None:
    """$orderby sorts by several columns and $top limits."""
    rows = values(dv, "contacts?$select=lastname,firstname&$orderby=lastname asc,firstname desc&$top=3")
    assert [("Abercrombie", "Kim"), ("Andersen", "Thomas"), ("Bonifaz", "Luis")] == [
        (r["lastname"], r["firstname"]) for r in rows
    ]


@pytest.mark.parametrize("query", ["$select=nickname", f("nickname eq 'x'"), "$orderby=nickname"])
def test_unknown_column_in_query(dv: Dv, query: str) -> None:
    """Unknown columns in query options answer 400 0x80060888."""
    response = dv.call("GET", f"accounts?{query}")
    assert (
        400,
        "0x80060888",
        "Could not find a property named 'nickname' on type 'Microsoft.Dynamics.CRM.account'.",
    ) == (
        response.status_code,
        response.json()["error"]["code"],
        response.json()["error"]["message"],
    )


def test_malformed_filter(dv: Dv) -> None:
    """A filter that does not parse answers 400."""
    assert 400 == dv.call("GET", f"accounts?{f('name eq')}").status_code


def test_expand_parties_and_regarding(dv: Dv) -> None:
    """$expand renders the party collection and a single-valued lookup with their own $select."""
    body = dv.call(
        "GET",
        f"emails({TRACKED_EMAIL_ID})?$select=subject"
        "&$expand=email_activity_parties($select=participationtypemask,addressused;$orderby=participationtypemask),"
        "regardingobjectid_account_email($select=name)",
    ).json()
    assert [(1, DANA_EMAIL), (2, "alice@contoso.example")] == [
        (p["participationtypemask"], p["addressused"]) for p in body["email_activity_parties"]
    ]
    assert "Fabrikam, Inc." == body["regardingobjectid_account_email"]["name"]


def test_expand_parent_customer(dv: Dv) -> None:
    """parentcustomerid_account expands a contact's account."""
    body = dv.call(
        "GET", f"contacts({DANA_CONTACT_ID})?$select=fullname&$expand=parentcustomerid_account($select=name)"
    ).json()
    assert "Fabrikam, Inc." == body["parentcustomerid_account"]["name"]


def test_count(dv: Dv) -> None:
    """$count=true adds @odata.count and /$count answers the number."""
    body = dv.call("GET", "accounts?$select=name&$count=true&$top=2").json()
    plain = dv.call("GET", "accounts/$count")
    assert (16, 2) == (body["@odata.count"], len(body["value"]))
    assert "16" == plain.text


def test_paging_with_maxpagesize_and_nextlink(dv: Dv) -> None:
    """odata.maxpagesize pages the result and @odata.nextLink walks every page."""
    names: list[str] = []
    url = dv.api + "accounts?$select=name&$orderby=name"
    pages = 0
    applied = ""
    while url:
        response = dv.stack.http.get(url, headers={**dv.headers, "Prefer": "odata.maxpagesize=5"}, timeout=10)
        body = response.json()
        applied = response.headers.get("Preference-Applied", "")
        names += [r["name"] for r in body["value"]]
        url = body.get("@odata.nextLink", "")
        pages += 1
    assert (4, 16, "odata.maxpagesize=5") == (pages, len(names), applied)
    assert sorted(names, key=str.casefold) == names


def test_formatted_values_and_lookup_annotations(dv: Dv) -> None:
    """odata.include-annotations="*" adds FormattedValue and the lookup annotations."""
    body = dv.call(
        "GET",
        f"emails({TRACKED_EMAIL_ID})?$select=statuscode,directioncode,_regardingobjectid_value,actualend",
        Prefer='odata.include-annotations="*"',
    ).json()
    assert ("Received", "Incoming", "Fabrikam, Inc.", "account", "regardingobjectid_account_email") == (
        body["statuscode@OData.Community.Display.V1.FormattedValue"],
        body["directioncode@OData.Community.Display.V1.FormattedValue"],
        body["_regardingobjectid_value@OData.Community.Display.V1.FormattedValue"],
        body["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        body["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
    )
    assert "1/6/2025 8:55 AM" == body["actualend@OData.Community.Display.V1.FormattedValue"]


def test_annotations_only_when_asked(dv: Dv) -> None:
    """Without the preference (or with a narrower list) only the asked annotations appear."""
    plain = dv.call("GET", f"emails({TRACKED_EMAIL_ID})?$select=statuscode").json()
    narrow = dv.call(
        "GET",
        f"emails({TRACKED_EMAIL_ID})?$select=statuscode,_regardingobjectid_value",
        Prefer='odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"',
    ).json()
    assert not [k for k in plain if "@" in k and not k.startswith("@")]
    assert ["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == [
        k for k in narrow if "@" in k and not k.startswith("@")
    ]


def test_activitypointers_view(dv: Dv) -> None:
    """activitypointers lists emails and appointments together, regarding included."""
    rows = values(
        dv,
        f"activitypointers?$select=subject,activitytypecode&$orderby=subject&{f('_regardingobjectid_value ne null')}",
    )
    assert [("Adventure Works quarterly review", "appointment"), ("Re: Laptop refresh quote", "email")] == [
        (r["subject"], r["activitytypecode"]) for r in rows
    ]


def test_context_and_etag_on_collections(dv: Dv) -> None:
    """Collections carry @odata.context and every record an ETag."""
    body = dv.call("GET", "leads?$select=fullname&$top=2").json()
    assert body["@odata.context"] == dv.api + "$metadata#leads(fullname)"
    assert all(r["@odata.etag"].startswith('W/"') for r in body["value"])
