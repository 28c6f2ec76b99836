"""FetchXML on the emulated Web API over real HTTPS, and the query languages it cannot run failing as Dataverse does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest
import requests
from dataverse_support import WebApi

from addin_api.devstack.config import DEMO_USERS
from addin_api.devstack.seed import (
    ADVENTURE_WORKS_ACCOUNT_ID,
    DANA_CONTACT_ID,
    FABRIKAM_ACCOUNT_ID,
    NATURAL_FOODS_ACCOUNT_ID,
    SHARED_CONTACT_IDS,
)

PAGING = 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"'


Dv = WebApi


def fetch_xml(dv: Dv, entity_set: str, xml: str, prefer: str | None = None) -> requests.Response:
    """GET `<entity_set>?fetchXml=<xml>`."""
    path = f"{entity_set}?fetchXml={quote(xml, safe='')}"
    return dv.call("GET", path, Prefer=prefer) if prefer else dv.call("GET", path)


def fetched_rows(dv: Dv, entity_set: str, xml: str) -> list[dict[str, Any]]:
    """The `value` of a FetchXML query that must succeed."""
    response = fetch_xml(dv, entity_set, xml)
    assert 200 == response.status_code, response.text
    result: list[dict[str, Any]] = response.json()["value"]
    return result


def create(dv: Dv, entity_set: str, body: dict[str, Any]) -> str:
    """Create a record and return its id."""
    response = dv.call("POST", entity_set, body)
    assert 204 == response.status_code, response.text
    return str(response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def error_code(response: requests.Response) -> tuple[int, str]:
    """(status, Dataverse error code) of a failed answer."""
    return response.status_code, response.json()["error"]["code"]


def test_attributes_and_condition(dv: Dv) -> None:
    """Only the asked attributes come back (with the primary key), for the rows the condition matches."""
    rows = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" />'
        '<filter><condition attribute="accountid" operator="eq" value="{' + FABRIKAM_ACCOUNT_ID.upper() + '}" />'
        "</filter></entity></fetch>",
    )
    assert 1 == len(rows)
    assert {"@odata.etag", "name", "accountid"} == set(rows[0])
    assert ("Fabrikam, Inc.", FABRIKAM_ACCOUNT_ID) == (rows[0]["name"], rows[0]["accountid"])


def test_no_attributes_means_every_column(dv: Dv) -> None:
    """A fetch without attribute elements returns every column; lookups under their `_x_value` names."""
    rows = fetched_rows(
        dv,
        "contacts",
        '<fetch><entity name="contact"><filter><condition attribute="contactid" operator="eq" value="'
        + DANA_CONTACT_ID
        + '" /></filter></entity></fetch>',
    )
    assert FABRIKAM_ACCOUNT_ID == rows[0]["_parentcustomerid_value"]
    assert "Dana Smith" == rows[0]["fullname"]


def test_like_in_null_and_or(dv: Dv) -> None:
    """`like` is SQL LIKE, `in` takes value elements, `null` tests emptiness, and `or` filters combine."""
    like = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" />'
        '<filter><condition attribute="name" operator="like" value="100[%]%" /></filter></entity></fetch>',
    )
    assert [NATURAL_FOODS_ACCOUNT_ID] == [r["accountid"] for r in like]
    in_rows = fetched_rows(
        dv,
        "contacts",
        '<fetch><entity name="contact"><attribute name="contactid" /><filter>'
        '<condition attribute="contactid" operator="in">'
        + "".join(f"<value>{i}</value>" for i in SHARED_CONTACT_IDS)
        + "</condition></filter></entity></fetch>",
    )
    assert set(SHARED_CONTACT_IDS) == {r["contactid"] for r in in_rows}
    either = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" /><filter type="or">'
        f'<condition attribute="accountid" operator="eq" value="{FABRIKAM_ACCOUNT_ID}" />'
        f'<condition attribute="accountid" operator="eq" value="{ADVENTURE_WORKS_ACCOUNT_ID}" />'
        "</filter></entity></fetch>",
    )
    assert {FABRIKAM_ACCOUNT_ID, ADVENTURE_WORKS_ACCOUNT_ID} == {r["accountid"] for r in either}
    create(dv, "accounts", {"name": "No phone Ltd"})
    no_phone = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" /><filter>'
        '<condition attribute="telephone2" operator="null" /><condition attribute="name" operator="begins-with" '
        'value="No phone" /></filter></entity></fetch>',
    )
    assert ["No phone Ltd"] == [r["name"] for r in no_phone]
    nulls = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" /><attribute name="telephone2" /><filter>'
        '<condition attribute="name" operator="eq" value="No phone Ltd" /></filter></entity></fetch>',
    )
    assert "telephone2" not in nulls[0]  # a null column has no property in FetchXML results


def test_eq_userid(dv: Dv) -> None:
    """`eq-userid` matches the caller's own records."""
    mine = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="ownerid" /><filter>'
        '<condition attribute="ownerid" operator="eq-userid" /></filter></entity></fetch>',
    )
    alice = next(u for u in DEMO_USERS if u.upn == "alice@contoso.example")
    assert mine and {alice.systemuserid} == {r["_ownerid_value"] for r in mine}


def test_order_top_and_alias(dv: Dv) -> None:
    """`order` sorts, `top` limits, and an attribute alias renames the column."""
    for n in (3, 1, 2):
        create(dv, "accounts", {"name": f"Ordered {n}", "numberofemployees": n})
    rows = fetched_rows(
        dv,
        "accounts",
        '<fetch top="2"><entity name="account"><attribute name="name" alias="n" />'
        '<filter><condition attribute="name" operator="begins-with" value="Ordered" /></filter>'
        '<order attribute="numberofemployees" descending="true" /></entity></fetch>',
    )
    assert ["Ordered 3", "Ordered 2"] == [r["n"] for r in rows]


def test_link_entity_inner_and_outer(dv: Dv) -> None:
    """An inner link-entity drops rows without a match and adds `alias.column`; an outer one keeps them."""
    lonely = create(dv, "contacts", {"firstname": "Lonely", "lastname": "Linked"})
    create(
        dv,
        "contacts",
        {
            "firstname": "Lonely",
            "lastname": "Joined",
            "parentcustomerid_account@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
        },
    )
    xml = (
        '<fetch><entity name="contact"><attribute name="fullname" />'
        '<filter><condition attribute="firstname" operator="eq" value="Lonely" /></filter>'
        '<order attribute="lastname" />'
        '<link-entity name="account" from="accountid" to="parentcustomerid" alias="acc" link-type="{}">'
        '<attribute name="name" /></link-entity></entity></fetch>'
    )
    inner = fetched_rows(dv, "contacts", xml.format("inner"))
    assert [("Lonely Joined", "Fabrikam, Inc.")] == [(r["fullname"], r["acc.name"]) for r in inner]
    outer = fetched_rows(dv, "contacts", xml.format("outer"))
    assert ["Lonely Joined", "Lonely Linked"] == [r["fullname"] for r in outer]
    assert "acc.name" not in next(r for r in outer if r["contactid"] == lonely)


def test_link_entity_one_to_many_with_a_filter_and_entityname(dv: Dv) -> None:
    """Linking accounts to their contacts filters on the contact; `entityname` finds accounts with no contact."""
    with_dana = fetched_rows(
        dv,
        "accounts",
        '<fetch distinct="true"><entity name="account"><attribute name="name" />'
        '<link-entity name="contact" from="parentcustomerid" to="accountid" alias="c">'
        '<filter><condition attribute="emailaddress1" operator="eq" value="dana@fabrikam.example" /></filter>'
        "</link-entity></entity></fetch>",
    )
    assert ["Fabrikam, Inc."] == [r["name"] for r in with_dana]
    empty = create(dv, "accounts", {"name": "No contacts Ltd"})
    without = fetched_rows(
        dv,
        "accounts",
        '<fetch><entity name="account"><attribute name="name" />'
        '<link-entity name="contact" from="parentcustomerid" to="accountid" alias="c" link-type="outer" />'
        '<filter><condition entityname="c" attribute="contactid" operator="null" /></filter></entity></fetch>',
    )
    ids = {r["accountid"] for r in without}
    assert empty in ids and FABRIKAM_ACCOUNT_ID not in ids


def test_paging_with_cookie(dv: Dv) -> None:
    """`count` pages; with the annotations asked for, morerecords and a double-encoded paging cookie come back."""
    for n in range(5):
        create(dv, "accounts", {"name": f"Page {n}"})
    xml = (
        '<fetch count="2"{}><entity name="account"><attribute name="name" />'
        '<filter><condition attribute="name" operator="begins-with" value="Page " /></filter>'
        '<order attribute="name" /></entity></fetch>'
    )
    first = fetch_xml(dv, "accounts", xml.format(""), prefer=PAGING).json()
    assert ["Page 0", "Page 1"] == [r["name"] for r in first["value"]]
    assert first["@Microsoft.Dynamics.CRM.morerecords"] is True
    cookie = ElementTree.fromstring(first["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"])
    assert "2" == cookie.get("pagenumber")
    inner = ElementTree.fromstring(unquote(unquote(cookie.get("pagingcookie") or "")))
    assert "1" == inner.get("page")
    last = fetch_xml(dv, "accounts", xml.format(' page="3"'), prefer=PAGING).json()
    assert ["Page 4"] == [r["name"] for r in last["value"]]
    assert last["@Microsoft.Dynamics.CRM.morerecords"] is False
    assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in last


def test_formatted_values(dv: Dv) -> None:
    """With FormattedValue asked for, choices and lookups carry their display text."""
    response = fetch_xml(
        dv,
        "contacts",
        '<fetch><entity name="contact"><attribute name="statecode" /><attribute name="parentcustomerid" />'
        f'<filter><condition attribute="contactid" operator="eq" value="{DANA_CONTACT_ID}" /></filter>'
        "</entity></fetch>",
        prefer='odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
    )
    row = response.json()["value"][0]
    assert "Active" == row["statecode@OData.Community.Display.V1.FormattedValue"]
    assert "Fabrikam, Inc." == row["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ('<fetch><entity name="account"><attribute name="nosuch" /></entity></fetch>', "0x80041103"),
        (
            '<fetch><entity name="account"><filter><condition attribute="name" operator="sounds-like" value="x" />'
            "</filter></entity></fetch>",
            "0x80040203",
        ),
        (
            '<fetch aggregate="true"><entity name="account"><attribute name="name" aggregate="count" alias="n" />'
            "</entity></fetch>",
            "0x80040203",
        ),
        ('<fetch top="5" page="2"><entity name="account" /></fetch>', "0x80040203"),
        ('<fetch><entity name="contact" /></fetch>', "0x80040203"),
        ("<fetch><entity name=", "0x80040203"),
        ('<!DOCTYPE fetch [<!ENTITY x "y">]><fetch><entity name="account" /></fetch>', "0x80040203"),
        ('<fetch><entity name="account"><attribute name="name" /></entity></fetch>&$select=name', "0x80060888"),
    ],
    ids=[
        "unknown-attribute",
        "unsupported-operator",
        "aggregate",
        "top-and-page",
        "wrong-entity",
        "malformed",
        "dtd",
        "with-odata-options",
    ],
)
def test_queries_the_emulator_refuses(dv: Dv, xml: str, code: str) -> None:
    """FetchXML it cannot run, or that Dataverse refuses, is a 400 with Dataverse's error body — never wrong rows."""
    if "&$select" in xml:
        fetch, _, extra = xml.partition("&")
        url = f"{dv.api}accounts?fetchXml={quote(fetch, safe='')}&{extra}"
        response = dv.stack.http.get(url, headers=dv.headers, timeout=10)
    else:
        response = fetch_xml(dv, "accounts", xml)
    assert (400, code) == error_code(response)


def test_sql_and_saved_queries_fail(dv: Dv) -> None:
    """`?sql=` is a 400; `?savedQuery=` / `?userQuery=` name views this environment does not have: 404."""
    base = f"{dv.api}accounts"
    sql = dv.stack.http.get(f"{base}?sql={quote('SELECT name FROM account')}", headers=dv.headers, timeout=10)
    assert (400, "0x80060888") == error_code(sql)
    for option in ("savedQuery", "userQuery"):
        response = dv.stack.http.get(
            f"{base}?{option}=00000000-0000-0000-00aa-000010001002", headers=dv.headers, timeout=10
        )
        assert (404, "0x80040217") == error_code(response)


def test_fetchxml_only_on_an_entity_set(dv: Dv) -> None:
    """A FetchXML sent to a single record or a navigation property is refused, not silently ignored."""
    xml = quote('<fetch><entity name="contact" /></fetch>', safe="")
    for path in (f"accounts({FABRIKAM_ACCOUNT_ID})", f"accounts({FABRIKAM_ACCOUNT_ID})/contact_customer_accounts"):
        response = dv.stack.http.get(f"{dv.api}{path}?fetchXml={xml}", headers=dv.headers, timeout=10)
        assert (400, "0x80060888") == error_code(response)
