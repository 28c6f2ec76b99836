"""`GET` / `PATCH /api/v1/settings`: the caller's personal options, in their own `usersettings` row."""

from __future__ import annotations

from conftest import ALICE, Api

from addin_api.devstack.config import DEMO_USERS

BOB = "bob@contoso.example"
MEGAN = "megan@contoso.example"


def test_alice_tracks_replies_to_dynamics_email_and_creates_no_records(api: Api) -> None:
    """Her seeded options: Dynamics' default filter ("in response to Dynamics 365 email"), auto-create off."""
    response = api.get("/api/v1/settings")
    assert (200, {"trackIncoming": "replies", "autoCreate": "none"}) == (response.status_code, response.get_json())


def test_a_change_is_kept_in_dataverse_and_is_the_callers_alone(api: Api) -> None:
    """PATCH answers the new options; GET reads them back; Dataverse holds them; another user's stay as they were."""
    options = {"trackIncoming": "fromRecords", "autoCreate": "contact"}
    changed = api.call("PATCH", "/api/v1/settings", json=options)
    assert (200, options) == (changed.status_code, changed.get_json())
    assert options == api.get("/api/v1/settings").get_json()
    assert "fromRecords" != api.get("/api/v1/settings", MEGAN).get_json()["trackIncoming"]
    alice = next(u.systemuserid for u in DEMO_USERS if u.upn == ALICE)
    row = api.devstack.http.get(
        f"{api.devstack.api}usersettingscollection({alice})?$select=incomingemailfilteringmethod,"
        "autocreatecontactonpromote",
        headers={"Authorization": f"Bearer {api.devstack.token(ALICE, audience='dataverse')}"},
        timeout=10,
    ).json()
    assert (2, 1) == (row["incomingemailfilteringmethod"], row["autocreatecontactonpromote"])


def test_an_unknown_or_missing_option_is_refused_with_the_field_named(api: Api) -> None:
    """422 validation_failed naming the field; nothing is written."""
    refused = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "everything", "autoCreate": "none"})
    assert (422, True) == (refused.status_code, "trackIncoming" in refused.get_json()["errors"])
    lead = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "all", "autoCreate": "lead"})
    assert (422, True) == (lead.status_code, "autoCreate" in lead.get_json()["errors"])
    partial = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "all"})
    assert 422 == partial.status_code
    assert {"trackIncoming": "replies", "autoCreate": "none"} == api.get("/api/v1/settings").get_json()


def test_changing_options_needs_the_add_in_privilege(api: Api) -> None:
    """Bob lacks prvUseOfficeApps: he may read his options, not change them through the add-in."""
    assert 200 == api.get("/api/v1/settings", BOB).status_code
    refused = api.call("PATCH", "/api/v1/settings", BOB, json={"trackIncoming": "all", "autoCreate": "none"})
    assert (403, "add_in_not_allowed") == (refused.status_code, refused.get_json()["code"])
