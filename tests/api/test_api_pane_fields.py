"""What the task pane reads from the service: write features up front, the card's company and job title, an
account's open opportunities and cases, `*` contains search, and the pane's configuration."""

from __future__ import annotations

import pytest
from conftest import ALICE, Api

from addin_api.devstack import seed

CAROL = "carol@contoso.example"
BOB = "bob@contoso.example"


def test_read_only_user_cannot_track_up_front(api: Api) -> None:
    """Carol may use the add-in but her role cannot create activities: `features.track` is false from `me`."""
    api.devstack.clear_log()
    me = api.get("/api/v1/me", CAROL).get_json()
    assert (True, False, False) == (me["canUseAddIn"], me["features"]["track"], me["features"]["setRegarding"])
    assert 2 == len(api.dataverse_trips())


def test_full_rights_user_can_track_and_me_stays_two_round_trips(api: Api) -> None:
    """Alice may track; cold `me` is WhoAmI + one $batch of three parts + one token request, warm nothing."""
    api.devstack.clear_log()
    me = api.get("/api/v1/me", ALICE).get_json()
    assert {"track": True, "setRegarding": True} == me["features"]
    trips = api.dataverse_trips()
    assert ["WhoAmI", "$batch"] == [t["path"].rsplit("/", 1)[-1] for t in trips]
    assert 3 == len(trips[1]["parts"])
    assert 1 == len([r for r in api.devstack.requests_log("identity") if r["path"].endswith("/token")])
    api.devstack.clear_log()
    assert me == api.get("/api/v1/me", ALICE).get_json()
    assert [] == api.devstack.requests_log()


def test_user_without_office_apps_cannot_track_either(api: Api) -> None:
    """Bob can create activities but lacks prvUseOfficeApps: no track."""
    me = api.get("/api/v1/me", BOB).get_json()
    assert (False, False) == (me["canUseAddIn"], me["features"]["track"])


def test_people_card_carries_company_job_title_and_url(api: Api) -> None:
    """Dana's contact names Fabrikam (with its id) and her job title; her lead its company; each has its form URL."""
    api.get("/api/v1/me")
    api.devstack.clear_log()
    card = api.get("/api/v1/people", query_string={"email": seed.DANA_EMAIL}).get_json()
    assert 1 == len(api.dataverse_trips())
    contact, lead = card["matches"]
    environment = api.devstack.config["environmentUrl"]
    assert {
        "company": "Fabrikam, Inc.",
        "companyId": seed.FABRIKAM_ACCOUNT_ID,
        "jobTitle": "Purchasing Manager",
        "url": f"{environment}/main.aspx?etn=contact&pagetype=entityrecord&id={seed.DANA_CONTACT_ID}",
    } == {k: contact[k] for k in ("company", "companyId", "jobTitle", "url")}
    assert ("lead", "Fabrikam, Inc.", None) == (lead["table"], lead["company"], lead["companyId"])
    assert lead["url"].endswith(f"etn=lead&pagetype=entityrecord&id={seed.DANA_LEAD_ID}")


def test_people_card_of_a_user_has_no_company(api: Api) -> None:
    """A colleague resolves to a systemuser: no company, a URL to the user record."""
    card = api.get("/api/v1/people", query_string={"email": "bob@contoso.example"}).get_json()
    (user,) = card["matches"]
    assert ("systemuser", None, "User") == (user["table"], user["company"], user["detail"])
    assert "etn=systemuser" in user["url"]


def test_account_lists_its_open_opportunities_and_active_cases(api: Api) -> None:
    """`regarding?account=` gives Fabrikam first, then only its open opportunities and active cases, one $batch."""
    api.get("/api/v1/me")
    token = api.devstack.token(ALICE, audience="dataverse")
    for closed in (
        f"opportunities({seed.seed_id('opportunity', 'Fabrikam printer fleet')})",  # won
        f"incidents({seed.seed_id('incident', 'Laptop battery swelling')})",  # resolved
    ):
        response = api.devstack.http.patch(
            f"{api.devstack.api}{closed}",
            json={"statecode": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert 204 == response.status_code
    api.devstack.clear_log()
    results = api.get("/api/v1/regarding", query_string={"account": seed.FABRIKAM_ACCOUNT_ID}).get_json()["results"]
    assert 1 == len(api.dataverse_trips())
    assert ("account", seed.FABRIKAM_ACCOUNT_ID, "Fabrikam, Inc.") == tuple(
        results[0][k] for k in ("table", "id", "name")
    )
    assert {
        ("opportunity", "Fabrikam laptop refresh"),
        ("incident", "Printer jams on floor 3"),
    } == {(r["table"], r["name"]) for r in results[1:]}


def test_account_mode_respects_tables_and_unknown_accounts(api: Api) -> None:
    """`tables=opportunity` leaves cases out; an account that does not exist is 404 not_found."""
    results = api.get(
        "/api/v1/regarding", query_string={"account": seed.FABRIKAM_ACCOUNT_ID, "tables": "opportunity"}
    ).get_json()["results"]
    assert {"account", "opportunity"} == {r["table"] for r in results}
    missing = api.get("/api/v1/regarding", query_string={"account": "00000000-0000-4000-8000-000000000099"})
    assert (404, "not_found") == (missing.status_code, missing.get_json()["code"])


@pytest.mark.parametrize(
    "query",
    [
        {"account": "not-a-guid"},
        {"account": "x') or (1 eq 1"},
        {},
        {"search": "Fab", "account": seed.FABRIKAM_ACCOUNT_ID},
        {"search": "*"},
        {"search": " ** "},
    ],
)
def test_regarding_rejects_bad_modes(api: Api, query: dict[str, str]) -> None:
    """A bad account id, neither or both modes, or a bare `*` are 422 validation_failed, Dataverse untouched."""
    api.get("/api/v1/me")
    api.devstack.clear_log()
    response = api.get("/api/v1/regarding", query_string=query)
    assert (422, "validation_failed") == (response.status_code, response.get_json()["code"])
    assert [] == api.dataverse_trips()


def test_leading_star_finds_text_anywhere(api: Api) -> None:
    """`refresh` begins no name; `*refresh` finds "Fabrikam laptop refresh", in one round trip."""
    plain = api.get("/api/v1/regarding", query_string={"search": "refresh"}).get_json()["results"]
    assert [] == [r for r in plain if r["id"] == seed.FABRIKAM_OPPORTUNITY_ID]
    api.devstack.clear_log()
    found = api.get("/api/v1/regarding", query_string={"search": "*refresh"}).get_json()["results"]
    assert seed.FABRIKAM_OPPORTUNITY_ID in {r["id"] for r in found}
    assert 1 == len(api.dataverse_trips())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*Brien &", {seed.OBRIEN_ACCOUNT_ID}),
        ("*% Natural", {seed.NATURAL_FOODS_ACCOUNT_ID}),
        ("*x' or 1 eq 1 or '", set()),
        ("*%", {seed.NATURAL_FOODS_ACCOUNT_ID}),
        ("*_", set()),
        ("*[", set()),
    ],
)
def test_contains_search_keeps_wildcards_and_quotes_literal(api: Api, text: str, expected: set[str]) -> None:
    """Quotes, `%`, `_` and `[` in a contains search are literal characters, never wildcards or syntax."""
    results = api.get("/api/v1/regarding", query_string={"search": text, "tables": "account"}).get_json()
    assert expected == {r["id"] for r in results["results"]}
