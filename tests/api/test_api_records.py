"""`me`, regarding search (with hostile input), create record and the sender card, through the HTTP API."""

from __future__ import annotations

import pytest
from conftest import ALICE, Api

from addin_api.devstack import seed


def test_me_describes_the_caller_and_is_cached(api: Api) -> None:
    """`me` names the systemuser and the privilege; a warm call costs no Dataverse round trip."""
    api.devstack.clear_log()
    me = api.get("/api/v1/me").get_json()
    assert ("Alice Wong", ALICE, True) == (me["name"], me["email"], me["canUseAddIn"])
    assert 2 == len(api.dataverse_trips())
    api.devstack.clear_log()
    assert me == api.get("/api/v1/me").get_json()
    assert [] == api.dataverse_trips()


def test_warm_requests_make_no_identity_calls(api: Api) -> None:
    """After readiness warmed the keys and metadata, 100 requests by one user cost one token request."""
    assert 200 == api.get("/readyz", user=None).status_code
    api.devstack.clear_log()
    for _ in range(100):
        assert 200 == api.get("/api/v1/me").status_code
    assert 1 == len(api.devstack.requests_log("identity"))


def test_search_spans_five_tables_in_one_round_trip(api: Api) -> None:
    """A search over all regarding tables is one $batch and finds records of each kind."""
    api.get("/api/v1/me")
    api.devstack.clear_log()
    response = api.get("/api/v1/regarding", query_string={"search": "Fab"})
    assert 200 == response.status_code
    tables = {r["table"] for r in response.get_json()["results"]}
    assert {"account", "opportunity"} <= tables
    assert 1 == len(api.dataverse_trips())
    assert "$batch" in api.dataverse_trips()[0]["path"]


def test_search_filters_tables_and_top(api: Api) -> None:
    """`tables` limits where to look and `top` how many per table."""
    results = api.get("/api/v1/regarding", query_string={"search": "a", "tables": "account", "top": 2}).get_json()
    assert {"account"} == {r["table"] for r in results["results"]}
    assert len(results["results"]) <= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("O'Brien", {seed.OBRIEN_ACCOUNT_ID}),
        ("100%", {seed.NATURAL_FOODS_ACCOUNT_ID}),
        ("x' or 1 eq 1 or '", set()),
        ("%", set()),
        ("_", set()),
        ("[", set()),
        ("&$expand=x", set()),
    ],
)
def test_hostile_search_strings_keep_their_meaning(api: Api, text: str, expected: set[str]) -> None:
    """Quotes and wildcards are escaped: each string matches only names that literally start with it."""
    response = api.get("/api/v1/regarding", query_string={"search": text, "tables": "account"})
    assert 200 == response.status_code, response.get_json()
    assert expected == {r["id"] for r in response.get_json()["results"]}


@pytest.mark.parametrize("text", ["a\r\nb", "x" * 10_000, "", "nul\x00"])
def test_unsafe_search_strings_are_rejected(api: Api, text: str) -> None:
    """Control characters, empty and over-long searches are 422 before any Dataverse call."""
    api.devstack.clear_log()
    response = api.get("/api/v1/regarding", query_string={"search": text})
    assert (422, "validation_failed") == (response.status_code, response.get_json()["code"])
    assert [] == api.dataverse_trips()


def test_hostile_addresses_are_rejected(api: Api) -> None:
    """An address that would break out of a filter literal is refused."""
    response = api.get("/api/v1/people", query_string={"email": "x' or 1 eq 1 or '@example.org"})
    assert 422 == response.status_code


def test_create_contact_with_parent_account_in_one_round_trip(api: Api) -> None:
    """A contact is created as the caller with its parent account; one Dataverse round trip."""
    api.get("/api/v1/me")
    api.devstack.clear_log()
    body = {
        "table": "contact",
        "fields": {
            "firstname": "Zoe",
            "lastname": "Quinn",
            "emailaddress1": "zoe@fabrikam.example",
            "parentcustomerid": {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID},
        },
    }
    response = api.post("/api/v1/records", body)
    assert 201 == response.status_code, response.get_json()
    created = response.get_json()
    assert ("contact", "Zoe Quinn") == (created["table"], created["name"])
    assert created["url"].endswith(f"etn=contact&pagetype=entityrecord&id={created['id']}")
    assert 1 == len(api.dataverse_trips())


@pytest.mark.parametrize(
    ("table", "fields"),
    [
        ("lead", {"lastname": "Lee", "companyname": "Lee Ltd", "subject": "Bikes"}),
        ("account", {"name": "Graphic Design Institute", "telephone1": "+1 555 0199"}),
        (
            "opportunity",
            {
                "name": "Bikes for 2027",
                "estimatedvalue": 12000,
                "customerid": {"table": "account", "id": seed.ADVENTURE_WORKS_ACCOUNT_ID},
            },
        ),
        (
            "incident",
            {
                "title": "Broken pedal",
                "caseorigincode": "email",
                "customerid": {"table": "contact", "id": seed.DANA_CONTACT_ID},
            },
        ),
    ],
)
def test_create_each_table(api: Api, table: str, fields: dict[str, object]) -> None:
    """Leads, accounts, opportunities and cases can be created with their allowlisted fields."""
    response = api.post("/api/v1/records", {"table": table, "fields": fields})
    assert (201, table) == (response.status_code, response.get_json()["table"]), response.get_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"table": "contact", "fields": {"firstname": "No last name"}}, "fields.lastname"),
        ({"table": "contact", "fields": {"lastname": "X", "ownerid": "x"}}, "fields.ownerid"),
        ({"table": "incident", "fields": {"title": "No customer"}}, "fields.customerid"),
        ({"table": "systemuser", "fields": {"lastname": "X"}}, "table"),
        ({"table": "account", "fields": {"name": "x" * 161}}, "fields.name"),
    ],
)
def test_create_record_rejects_what_is_not_allowed(api: Api, body: dict[str, object], field: str) -> None:
    """Missing required, unknown or over-long fields and other tables are 422, never sent to Dataverse."""
    api.devstack.clear_log()
    response = api.post("/api/v1/records", body)
    assert (422, "validation_failed") == (response.status_code, response.get_json()["code"])
    assert field in response.get_json()["errors"]
    assert [] == [t for t in api.dataverse_trips() if t["method"] != "GET"]


def test_people_card_for_a_known_sender(api: Api) -> None:
    """Dana is a contact and a lead; the card lists both and her recent activities."""
    card = api.get("/api/v1/people", query_string={"email": seed.DANA_EMAIL}).get_json()
    assert [("contact", seed.DANA_CONTACT_ID), ("lead", seed.DANA_LEAD_ID)] == [
        (m["table"], m["id"]) for m in card["matches"]
    ]
    assert seed.TRACKED_EMAIL_ID in {a["id"] for a in card["recentActivities"]}


def test_people_card_for_an_unknown_sender(api: Api) -> None:
    """An address nobody owns has no matches and no activities."""
    assert {"matches": [], "recentActivities": []} == api.get(
        "/api/v1/people", query_string={"email": "nobody@nowhere.example"}
    ).get_json()
