"""`GET /api/v1/mailbox` through the HTTP API: each seeded user's mailbox state, the reason codes, and the cost."""

from __future__ import annotations

from typing import Any

from conftest import ALICE, Api

from addin_api.devstack.config import DEMO_USERS
from addin_api.devstack.dataverse.mail_rows import mailbox_id

BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
MEGAN = "megan@contoso.example"


def systemuserid(upn: str) -> str:
    """The seeded systemuserid of a demo user."""
    return next(u.systemuserid for u in DEMO_USERS if u.upn == upn)


def admin_patch_mailbox(api: Api, upn: str, values: dict[str, Any]) -> None:
    """Write `upn`'s mailbox row as megan, the mailbox administrator, straight through the emulated Dataverse."""
    token = api.devstack.token(MEGAN, audience="dataverse")
    response = api.devstack.http.patch(
        f"{api.devstack.api}mailboxes({mailbox_id(systemuserid(upn))})",
        json=values,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert 204 == response.status_code, response.text


def mailbox(api: Api, user: str = ALICE) -> dict[str, Any]:
    """The caller's mailbox answer (asserting 200)."""
    response = api.get("/api/v1/mailbox", user)
    assert 200 == response.status_code, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_alice_is_approved_enabled_and_can_track(api: Api) -> None:
    """Alice's seeded mailbox is approved, every direction's test succeeded: tracking enabled, no reasons."""
    body = mailbox(api)
    assert {
        "approved": True,
        "incoming": "success",
        "outgoing": "success",
        "appointments": "success",
        "trackingEnabled": True,
        "reasons": [],
        "lastSync": None,
    } == {k: v for k, v in body.items() if k != "environment"}
    me = api.get("/api/v1/me").get_json()
    assert {"url": me["environmentUrl"], "organizationId": me["organizationId"], "name": "Contoso"} == body[
        "environment"
    ]


def test_bob_is_not_approved_untested_and_lacks_the_add_in_privilege(api: Api) -> None:
    """Bob's address is pending approval, his tests never ran, and he has no prvUseOfficeApps."""
    body = mailbox(api, BOB)
    assert (False, "notRun", "notRun", "notRun", False) == (
        body["approved"],
        body["incoming"],
        body["outgoing"],
        body["appointments"],
        body["trackingEnabled"],
    )
    assert ["not_approved", "test_not_run", "add_in_not_allowed"] == body["reasons"]


def test_carol_has_incoming_synchronization_off(api: Api) -> None:
    """Carol is approved but her incoming email is not delivered by server-side synchronization."""
    body = mailbox(api, CAROL)
    assert (True, "disabled", "success", "success") == (
        body["approved"],
        body["incoming"],
        body["outgoing"],
        body["appointments"],
    )
    assert (["incoming_disabled"], False) == (body["reasons"], body["trackingEnabled"])


def test_a_failed_incoming_test_is_test_failed(api: Api) -> None:
    """After Test & Enable fails for incoming email in the environment that holds the mailbox: test_failed only."""
    admin_patch_mailbox(api, ALICE, {"incomingemailstatus": 2, "lastsuccessfulsynccompletedon": "2026-11-30T10:00:00Z"})
    body = mailbox(api)
    assert ("failure", "success", ["test_failed"], False) == (
        body["incoming"],
        body["outgoing"],
        body["reasons"],
        body["trackingEnabled"],
    )
    assert body["lastSync"].startswith("2026-11-30T10:00:00")


def test_a_failed_test_without_this_environments_mark_is_other_environment(api: Api) -> None:
    """A failed incoming test while this environment does not hold the "sync with this org only" mark also says
    other_environment."""
    admin_patch_mailbox(api, ALICE, {"incomingemailstatus": 2, "orgmarkedasprimaryforexchangesync": False})
    assert ["test_failed", "other_environment"] == mailbox(api)["reasons"]


def test_delivery_methods_map_each_numbering(api: Api) -> None:
    """actdeliverymethod 2 (None) disables appointments, outgoing method 1 (Dynamics 365 for Outlook) disables
    outgoing; neither stops tracking, which needs only incoming email."""
    admin_patch_mailbox(api, ALICE, {"actdeliverymethod": 2, "outgoingemaildeliverymethod": 1})
    body = mailbox(api)
    assert ("success", "disabled", "disabled", True) == (
        body["incoming"],
        body["outgoing"],
        body["appointments"],
        body["trackingEnabled"],
    )


def test_an_untested_approved_mailbox_is_test_not_run(api: Api) -> None:
    """An approved mailbox whose incoming test has not run yet: test_not_run alone."""
    admin_patch_mailbox(api, ALICE, {"incomingemailstatus": 0})
    assert (["test_not_run"], "notRun") == (mailbox(api)["reasons"], mailbox(api)["incoming"])


def test_mailbox_costs_one_dataverse_round_trip(api: Api) -> None:
    """With the caller's identity cached, the mailbox state is one Dataverse request (a $batch)."""
    assert 200 == api.get("/api/v1/me").status_code
    api.devstack.clear_log()
    mailbox(api)
    trips = api.dataverse_trips()
    assert 1 == len(trips)
    assert trips[0]["path"].endswith("$batch")


def test_mailbox_needs_a_bearer(api: Api) -> None:
    """Without a token the mailbox is 401, problem+json."""
    response = api.get("/api/v1/mailbox", None)
    assert (401, "application/problem+json") == (response.status_code, response.mimetype)


def test_users_see_only_their_own_mailbox(api: Api) -> None:
    """Bob's failed test shows in his answer and leaves alice's as it was."""
    before = mailbox(api)
    admin_patch_mailbox(api, BOB, {"incomingemailstatus": 2})
    assert before == mailbox(api)
    assert "failure" == mailbox(api, BOB)["incoming"]


def test_a_user_without_a_mailbox_is_no_mailbox(api: Api) -> None:
    """When the administrator deleted alice's mailbox row: not approved, every direction disabled, no_mailbox."""
    token = api.devstack.token(MEGAN, audience="dataverse")
    deleted = api.devstack.http.delete(
        f"{api.devstack.api}mailboxes({mailbox_id(systemuserid(ALICE))})",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert 204 == deleted.status_code, deleted.text
    body = mailbox(api)
    assert (False, "disabled", "disabled", "disabled", ["no_mailbox"], False) == (
        body["approved"],
        body["incoming"],
        body["outgoing"],
        body["appointments"],
        body["reasons"],
        body["trackingEnabled"],
    )


def test_a_dataverse_outage_is_503_with_retry_after(api: Api) -> None:
    """Dataverse answering 503 to the batch (after bounded retries) gives 503 dataverse_unavailable, problem+json,
    with Retry-After."""
    assert 200 == api.get("/api/v1/me").status_code
    api.devstack.fault(target="dataverse", path=r"\$batch", status=503)
    response = api.get("/api/v1/mailbox")
    assert (503, "dataverse_unavailable", "application/problem+json") == (
        response.status_code,
        response.get_json()["code"],
        response.mimetype,
    )
    assert "Retry-After" in response.headers
