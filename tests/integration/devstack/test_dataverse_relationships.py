"""Common columns, collection-valued navigation properties, collection `$ref` and lambda filters over real HTTPS."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from dataverse_support import WebApi

from addin_api.devstack.seed import (
    ADVENTURE_WORKS_ACCOUNT_ID,
    DANA_CONTACT_ID,
    FABRIKAM_ACCOUNT_ID,
    TRACKED_EMAIL_ID,
)

Dv = WebApi


def create(dv: Dv, entity_set: str, body: dict[str, Any]) -> str:
    """Create a record and return its id."""
    response = dv.call("POST", entity_set, body)
    assert 204 == response.status_code, response.text
    return str(response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def test_common_columns_are_written_and_read(dv: Dv) -> None:
    """description, telephone2, address1_*, numberofemployees and contact.birthdate exist with their types."""
    account = create(
        dv,
        "accounts",
        {
            "name": "Columns Ltd",
            "description": "Long text",
            "telephone2": "555-0102",
            "address1_line1": "1 Main St",
            "address1_postalcode": "98052",
            "numberofemployees": 250,
        },
    )
    row = dv.json(
        f"accounts({account})?$select=description,telephone2,address1_line1,address1_postalcode,numberofemployees"
    )
    assert ("Long text", "555-0102", "1 Main St", "98052", 250) == (
        row["description"],
        row["telephone2"],
        row["address1_line1"],
        row["address1_postalcode"],
        row["numberofemployees"],
    )
    contact = create(dv, "contacts", {"lastname": "Born", "birthdate": "1990-04-01", "description": "c"})
    assert "1990-04-01" == dv.json(f"contacts({contact})?$select=birthdate")["birthdate"]
    for entity_set, body in (
        ("leads", {"lastname": "L", "description": "l"}),
        ("opportunities", {"name": "O", "description": "o"}),
    ):
        created = create(dv, entity_set, body)
        assert body["description"] == dv.json(f"{entity_set}({created})?$select=description")["description"]


def test_column_limits_still_apply(dv: Dv) -> None:
    """description is a 2000-character memo on account, and numberofemployees takes whole numbers only."""
    too_long = dv.call("POST", "accounts", {"name": "x", "description": "d" * 2001})
    assert 400 == too_long.status_code
    wrong_type = dv.call("POST", "accounts", {"name": "x", "numberofemployees": "many"})
    assert 400 == wrong_type.status_code


def test_collection_navigation_properties(dv: Dv) -> None:
    """`accounts(id)/contact_customer_accounts`, `Account_Emails` and `Account_ActivityPointers` list related rows."""
    contacts = dv.json(f"accounts({FABRIKAM_ACCOUNT_ID})/contact_customer_accounts?$select=fullname")["value"]
    assert DANA_CONTACT_ID in {c["contactid"] for c in contacts}
    emails = dv.json(f"accounts({FABRIKAM_ACCOUNT_ID})/Account_Emails?$select=subject")["value"]
    assert [TRACKED_EMAIL_ID] == [e["activityid"] for e in emails]
    activities = dv.json(f"accounts({FABRIKAM_ACCOUNT_ID})/Account_ActivityPointers?$select=activitytypecode")["value"]
    assert {(TRACKED_EMAIL_ID, "email")} <= {(a["activityid"], a["activitytypecode"]) for a in activities}


def test_expand_collections(dv: Dv) -> None:
    """`$expand` of a collection-valued navigation property inlines the related rows with nested options."""
    body = dv.json(
        f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name&$expand=contact_customer_accounts($select=fullname;"
        "$orderby=fullname),Account_Emails($select=subject)"
    )
    assert "Dana Smith" in [c["fullname"] for c in body["contact_customer_accounts"]]
    assert [TRACKED_EMAIL_ID] == [e["activityid"] for e in body["Account_Emails"]]


def test_partner_collections_of_lookups(dv: Dv) -> None:
    """Every lookup can be navigated back: a user's `user_accounts` are the accounts they own."""
    alice = dv.json("WhoAmI")["UserId"]
    owned = dv.json(f"systemusers({alice})/user_accounts?$select=name")["value"]
    assert owned
    assert all(a["_ownerid_value"] == alice for a in dv.json(f"systemusers({alice})/user_accounts")["value"])


def test_associate_and_disassociate_through_a_collection(dv: Dv) -> None:
    """POST …/contact_customer_accounts/$ref sets the contact's company; DELETE …(id)/$ref clears it."""
    contact = create(dv, "contacts", {"lastname": "Movable"})
    body = {"@odata.id": f"{dv.api}contacts({contact})"}
    associated = dv.call("POST", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})/contact_customer_accounts/$ref", body)
    assert 204 == associated.status_code, associated.text
    row = dv.json(f"contacts({contact})?$select=_parentcustomerid_value")
    assert ADVENTURE_WORKS_ACCOUNT_ID == row["_parentcustomerid_value"]
    related = dv.json(f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})/contact_customer_accounts?$select=lastname")["value"]
    assert contact in {c["contactid"] for c in related}

    removed = dv.call("DELETE", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})/contact_customer_accounts({contact})/$ref")
    assert 204 == removed.status_code
    assert dv.json(f"contacts({contact})?$select=_parentcustomerid_value")["_parentcustomerid_value"] is None


def test_associate_refuses_the_wrong_table(dv: Dv) -> None:
    """A collection of contacts cannot take an account reference."""
    body = {"@odata.id": f"{dv.api}accounts({FABRIKAM_ACCOUNT_ID})"}
    response = dv.call("POST", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})/contact_customer_accounts/$ref", body)
    assert 400 == response.status_code


def test_any_and_all(dv: Dv) -> None:
    """`any()` / `all()` filter on the related rows of a collection-valued navigation property."""
    dana = quote("contact_customer_accounts/any(c:c/emailaddress1 eq 'dana@fabrikam.example')")
    rows = dv.json(f"accounts?$select=name&$filter={dana}")["value"]
    assert [FABRIKAM_ACCOUNT_ID] == [r["accountid"] for r in rows]
    with_any = quote("Account_Emails/any()")
    assert FABRIKAM_ACCOUNT_ID in {
        r["accountid"] for r in dv.json(f"accounts?$select=name&$filter={with_any}")["value"]
    }
    empty = create(dv, "accounts", {"name": "Nobody works here"})
    # all() over no rows is true, as in OData
    all_dana = quote("contact_customer_accounts/all(c:c/lastname eq 'Smith') and startswith(name,'Nobody')")
    assert [empty] == [r["accountid"] for r in dv.json(f"accounts?$select=name&$filter={all_dana}")["value"]]
    bad = dv.call("GET", "accounts?$filter=" + quote("nosuchnav/any(x:x/name eq 'a')"))
    assert 400 == bad.status_code


@pytest.mark.parametrize(
    "path",
    [
        "/api/data/v9.2/nosuchset",
        "/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/nosuchnav",
        "/api/data/v9.2/Microsoft.Dynamics.CRM.NoSuchFunction()",
        "/api/data/v7.0/accounts",
        "/api/nothing",
    ],
)
def test_every_404_is_dataverse_json(dv: Dv, path: str) -> None:
    """Unknown routes, entity sets and functions answer Dataverse's JSON error, never an HTML page."""
    response = dv.stack.http.get(dv.stack.url + path, headers=dv.headers, timeout=10)
    assert 404 == response.status_code
    assert response.headers["Content-Type"].startswith("application/json")
    assert "0x8006088a" == response.json()["error"]["code"]
    assert "Resource not found for the segment" in response.json()["error"]["message"]


def test_deep_insert_through_a_new_collection(dv: Dv) -> None:
    """Creating an account with `contact_customer_accounts` creates the contacts pointing back at it."""
    account = create(
        dv, "accounts", {"name": "Deep Ltd", "contact_customer_accounts": [{"lastname": "One"}, {"lastname": "Two"}]}
    )
    contacts = dv.json(f"accounts({account})/contact_customer_accounts?$select=lastname&$orderby=lastname")["value"]
    assert ["One", "Two"] == [c["lastname"] for c in contacts]
    annotated = dv.stack.http.get(
        f"{dv.api}contacts({contacts[0]['contactid']})?$select=_parentcustomerid_value",
        headers={**dv.headers, "Prefer": 'odata.include-annotations="*"'},
        timeout=10,
    ).json()
    assert (
        "parentcustomerid_account"
        == annotated["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
    )
