"""`GET` / `PATCH /api/v1/settings`: the caller's personal options, in their own `usersettings` row."""

from __future__ import annotations

from conftest import ALICE, Api

from addin_api.devstack.config import DEMO_USERS

BOB = "bob@contoso.example"
MEGAN = "megan@contoso.example"


def test_a_new_user_tracks_replies_to_dynamics_email_by_default(api: Api) -> None:
    """Dynamics' default: "Email messages in response to Dynamics 365 email"."""
    response = api.get("/api/v1/settings")
    assert (200, {"trackIncoming": "replies"}) == (response.status_code, response.get_json())


def test_a_change_is_kept_in_dataverse_and_is_the_callers_alone(api: Api) -> None:
    """PATCH answers the new options; GET reads them back; another user's stay as they were."""
    changed = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "fromRecords"})
    assert (200, {"trackIncoming": "fromRecords"}) == (changed.status_code, changed.get_json())
    assert {"trackIncoming": "fromRecords"} == api.get("/api/v1/settings").get_json()
    assert {"trackIncoming": "replies"} == api.get("/api/v1/settings", MEGAN).get_json()
    token = api.devstack.token(ALICE, audience="dataverse")
    alice = next(u.systemuserid for u in DEMO_USERS if u.upn == ALICE)
    row = api.devstack.http.get(
        f"{api.devstack.api}usersettingscollection({alice})?$select=incomingemailfilteringmethod",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert 2 == row["incomingemailfilteringmethod"], "Dataverse's From Leads, Contacts and Accounts"


def test_an_unknown_option_is_refused_with_the_field_named(api: Api) -> None:
    """422 validation_failed naming trackIncoming; nothing is written."""
    refused = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "everything"})
    assert 422 == refused.status_code
    assert "trackIncoming" in refused.get_json()["errors"]
    extra = api.call("PATCH", "/api/v1/settings", json={"trackIncoming": "all", "autoTrack": True})
    assert 422 == extra.status_code
    assert {"trackIncoming": "replies"} == api.get("/api/v1/settings").get_json()


def test_changing_options_needs_the_add_in_privilege(api: Api) -> None:
    """Bob lacks prvUseOfficeApps: he may read his options, not change them through the add-in."""
    assert 200 == api.get("/api/v1/settings", BOB).status_code
    refused = api.call("PATCH", "/api/v1/settings", BOB, json={"trackIncoming": "all"})
    assert (403, "add_in_not_allowed") == (refused.status_code, refused.get_json()["code"])
