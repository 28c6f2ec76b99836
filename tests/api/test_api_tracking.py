"""Track, status, regarding and untrack through the HTTP API, against the devstack (real MSAL, real signatures)."""

from __future__ import annotations

import base64
import threading
from typing import Any

from conftest import ALICE, Api

from addin_api.devstack import seed

ACCOUNT = {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID}


def email(message_id: str = "<q3-review-1@mail.fabrikam.example>", **overrides: Any) -> dict[str, Any]:
    """A received email from Dana to Alice."""
    body: dict[str, Any] = {
        "internetMessageId": message_id,
        "subject": "Quarterly review",
        "body": "<p>See you Thursday.</p>",
        "bodyType": "html",
        "from": {"address": seed.DANA_EMAIL, "name": "Dana Smith"},
        "to": [{"address": ALICE}],
        "cc": [],
        "sentAt": "2026-11-20T09:30:00Z",
    }
    body.update(overrides)
    return body


def dataverse_email(api: Api, activity_id: str) -> dict[str, Any]:
    """Read a tracked email straight from the emulated Dataverse, as a third party would."""
    token = api.devstack.token(ALICE, audience="dataverse")
    response = api.devstack.http.get(
        f"{api.devstack.api}emails({activity_id})",
        params={"$expand": "email_activity_parties($select=participationtypemask,addressused,_partyid_value)"},
        headers={"Authorization": f"Bearer {token}", "Prefer": 'odata.include-annotations="*"'},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def warm(api: Api, user: str = ALICE) -> None:
    """Load `me` (as the pane does on open) and clear the request log."""
    assert api.get("/api/v1/me", user).status_code == 200
    api.devstack.clear_log()


def test_track_email_creates_received_activity_in_two_round_trips(api: Api) -> None:
    """A first track answers 201 and costs 2 Dataverse round trips: one $batch, one deep insert."""
    warm(api)
    response = api.post("/api/v1/emails", email(regarding=ACCOUNT))
    assert response.status_code == 201, response.get_json()
    view = response.get_json()
    assert (True, False) == (view["tracked"], view["alreadyTracked"])
    assert {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID, "name": "Fabrikam, Inc."} == view["regarding"]
    assert 2 == len(api.dataverse_trips())
    stored = dataverse_email(api, view["activityId"])
    assert (False, 1, 4) == (stored["directioncode"], stored["statecode"], stored["statuscode"])
    assert seed.FABRIKAM_ACCOUNT_ID == stored["_regardingobjectid_value"]
    assert "<q3-review-1@mail.fabrikam.example>" == stored["messageid"]


def test_sender_resolves_to_contact_before_lead(api: Api) -> None:
    """Dana is a contact and a lead; the sender resolves to the contact (systemuser, contact, account, lead)."""
    view = api.post("/api/v1/emails", email()).get_json()
    sender = view["parties"][0]
    assert ("from", seed.DANA_EMAIL) == (sender["role"], sender["address"])
    assert [{"table": "contact", "id": seed.DANA_CONTACT_ID, "name": "Dana Smith"}] == sender["resolved"]
    to = view["parties"][1]
    assert "systemuser" == to["resolved"][0]["table"]


def test_recipient_lists_every_matching_record(api: Api) -> None:
    """A recipient address shared by two contacts (and the Northwind account) resolves to all of them."""
    view = api.post("/api/v1/emails", email(cc=[{"address": seed.SHARED_CONTACT_ADDRESS}])).get_json()
    cc = next(p for p in view["parties"] if p["role"] == "cc")
    expected = {*seed.SHARED_CONTACT_IDS, seed.NORTHWIND_ACCOUNT_ID}
    assert expected == {r["id"] for r in cc["resolved"]}


def test_track_with_fifty_recipients_is_still_two_round_trips(api: Api) -> None:
    """The number of recipients does not change the number of Dataverse round trips."""
    warm(api)
    recipients = [{"address": f"person{i}@example.org"} for i in range(50)]
    response = api.post("/api/v1/emails", email(to=recipients))
    assert 201 == response.status_code
    assert 2 == len(api.dataverse_trips())
    assert 51 == len(response.get_json()["parties"])


def test_track_again_answers_200_in_one_round_trip(api: Api) -> None:
    """Tracking the same message again finds it and creates nothing."""
    first = api.post("/api/v1/emails", email()).get_json()
    api.devstack.clear_log()
    again = api.post("/api/v1/emails", email())
    assert 200 == again.status_code
    assert (first["activityId"], True) == (again.get_json()["activityId"], again.get_json()["alreadyTracked"])
    assert 1 == len(api.dataverse_trips())


def test_email_tracked_by_server_side_sync_is_reported_as_tracked(api: Api) -> None:
    """An email already in Dataverse with the same messageid (seeded, as server-side sync would) is not duplicated."""
    status = api.get("/api/v1/emails", query_string={"internetMessageId": seed.TRACKED_EMAIL_MESSAGE_ID})
    assert (True, seed.TRACKED_EMAIL_ID) == (status.get_json()["tracked"], status.get_json()["activityId"])
    response = api.post("/api/v1/emails", email(seed.TRACKED_EMAIL_MESSAGE_ID))
    assert (200, seed.TRACKED_EMAIL_ID) == (response.status_code, response.get_json()["activityId"])


def test_status_of_untracked_message(api: Api) -> None:
    """A message nobody tracked reports tracked false."""
    response = api.get("/api/v1/emails", query_string={"internetMessageId": "<never@example.org>"})
    assert (200, {"tracked": False}) == (response.status_code, response.get_json())


def test_twenty_concurrent_tracks_leave_exactly_one_activity(api: Api) -> None:
    """Double clicks and retries racing each other create one activity: one 201, the rest 200."""
    warm(api)
    statuses: list[int] = []
    ids: set[str] = set()
    lock = threading.Lock()
    app = api.client.application

    def track() -> None:
        with app.test_client() as client:
            response = client.post("/api/v1/emails", json=email("<race@example.org>"), headers=api.headers(ALICE))
        with lock:
            statuses.append(response.status_code)
            ids.add(response.get_json()["activityId"])

    threads = [threading.Thread(target=track) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (1, 19) == (statuses.count(201), statuses.count(200))
    assert 1 == len(ids)
    token = api.devstack.token(ALICE, audience="dataverse")
    found = api.devstack.http.get(
        f"{api.devstack.api}emails",
        params={"$filter": "messageid eq '<race@example.org>'", "$select": "activityid"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["value"]
    assert 1 == len(found)


def test_outgoing_when_sender_is_the_caller(api: Api) -> None:
    """An email from the caller's own mailbox is tracked as sent (directioncode true, status Sent)."""
    body = email("<sent-1@contoso.example>", **{"from": {"address": ALICE}, "to": [{"address": seed.DANA_EMAIL}]})
    view = api.post("/api/v1/emails", body).get_json()
    stored = dataverse_email(api, view["activityId"])
    assert (True, 1, 3) == (stored["directioncode"], stored["statecode"], stored["statuscode"])


def test_attachments_over_the_limit_are_skipped_not_failed(api: Api) -> None:
    """A small attachment is saved; one over ADDIN_API_MAX_ATTACHMENT_BYTES is reported in `skipped`."""
    small = base64.b64encode(b"%PDF-1.4 small").decode()
    limit = api.client.application.extensions["addin_api"].settings.max_attachment_bytes
    big = base64.b64encode(b"x" * (limit + 1)).decode()
    attachments = [
        {"name": "q3.pdf", "contentType": "application/pdf", "contentBase64": small},
        {"name": "big.zip", "contentType": "application/zip", "contentBase64": big},
    ]
    response = api.post("/api/v1/emails", email("<att-1@example.org>", attachments=attachments))
    assert 201 == response.status_code
    assert {"saved": 1, "skipped": [{"name": "big.zip", "reason": "too_large"}]} == response.get_json()["attachments"]


def test_create_missing_contact_for_unknown_sender(api: Api) -> None:
    """An unresolved sender with createMissing=contact becomes a contact, set as the regarding."""
    body = email("<new-person@example.org>", **{"from": {"address": "zoe@newco.example", "name": "Zoe Quinn"}})
    body["createMissing"] = "contact"
    view = api.post("/api/v1/emails", body).get_json()
    created = view["created"]
    assert ("contact", "Zoe Quinn") == (created["table"], created["name"])
    assert created == view["regarding"]
    stored = dataverse_email(api, view["activityId"])
    assert created["id"] == stored["_regardingobjectid_value"]
    people = api.get("/api/v1/people", query_string={"email": "zoe@newco.example"}).get_json()
    assert [created["id"]] == [m["id"] for m in people["matches"]]


def test_set_change_and_clear_regarding(api: Api) -> None:
    """Set regarding costs one round trip; it can be changed and cleared."""
    view = api.post("/api/v1/emails", email()).get_json()
    path = f"/api/v1/emails/{view['activityId']}/regarding"
    api.devstack.clear_log()
    response = api.put(path, ACCOUNT)
    assert 200 == response.status_code, response.get_json()
    assert "Fabrikam, Inc." == response.get_json()["regarding"]["name"]
    assert 1 == len(api.dataverse_trips())
    changed = api.put(path, {"table": "opportunity", "id": seed.FABRIKAM_OPPORTUNITY_ID}).get_json()
    assert ("opportunity", seed.FABRIKAM_OPPORTUNITY_ID) == (changed["regarding"]["table"], changed["regarding"]["id"])
    cleared = api.delete(path)
    assert (200, None) == (cleared.status_code, cleared.get_json()["regarding"])
    assert dataverse_email(api, view["activityId"]).get("_regardingobjectid_value") is None


def test_set_regarding_to_missing_record_is_404(api: Api) -> None:
    """A regarding record that does not exist answers 404 not_found."""
    view = api.post("/api/v1/emails", email()).get_json()
    missing = {"table": "account", "id": "00000000-0000-4000-8000-000000000000"}
    response = api.put(f"/api/v1/emails/{view['activityId']}/regarding", missing)
    assert (404, "not_found") == (response.status_code, response.get_json()["code"])


def test_track_with_missing_regarding_is_404_and_writes_nothing(api: Api) -> None:
    """Tracking regarding a record that does not exist fails before anything is written."""
    missing = {"table": "contact", "id": "00000000-0000-4000-8000-000000000001"}
    response = api.post("/api/v1/emails", email("<nothing@example.org>", regarding=missing))
    assert (404, "not_found") == (response.status_code, response.get_json()["code"])
    status = api.get("/api/v1/emails", query_string={"internetMessageId": "<nothing@example.org>"})
    assert {"tracked": False} == status.get_json()


def test_untrack_deletes_the_activity(api: Api) -> None:
    """Untrack answers 204 and the activity is gone; a second untrack is 404."""
    view = api.post("/api/v1/emails", email()).get_json()
    assert 204 == api.delete(f"/api/v1/emails/{view['activityId']}").status_code
    status = api.get("/api/v1/emails", query_string={"internetMessageId": "<q3-review-1@mail.fabrikam.example>"})
    assert {"tracked": False} == status.get_json()
    assert 404 == api.delete(f"/api/v1/emails/{view['activityId']}").status_code


def test_track_appointment_with_attendees(api: Api) -> None:
    """An appointment is tracked with organizer and attendees, then reported by globalObjectId."""
    body = {
        "globalObjectId": "040000008200E00074C5B7101A82E00800000000ABC",
        "subject": "Fabrikam kickoff",
        "start": "2026-12-01T15:00:00Z",
        "end": "2026-12-01T16:00:00Z",
        "location": "Teams",
        "organizer": {"address": ALICE},
        "requiredAttendees": [{"address": seed.DANA_EMAIL}],
        "optionalAttendees": [{"address": "someone@else.example"}],
        "regarding": {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID},
    }
    response = api.post("/api/v1/appointments", body)
    assert 201 == response.status_code, response.get_json()
    roles = [p["role"] for p in response.get_json()["parties"]]
    assert ["organizer", "required", "optional"] == roles
    status = api.get("/api/v1/appointments", query_string={"globalObjectId": body["globalObjectId"]}).get_json()
    assert (True, response.get_json()["activityId"]) == (status["tracked"], status["activityId"])
    again = api.post("/api/v1/appointments", body)
    assert 200 == again.status_code


def test_email_created_directly_in_dataverse_is_not_tracked_twice(api: Api) -> None:
    """An email another client created in Dataverse with the same messageid is reported, not duplicated."""
    token = api.devstack.token(ALICE, audience="dataverse")
    created = api.devstack.http.post(
        f"{api.devstack.api}emails",
        json={"subject": "Synced by server-side sync", "messageid": "<ssync-1@example.org>", "directioncode": False},
        headers={"Authorization": f"Bearer {token}", "Prefer": "return=representation"},
        timeout=10,
    )
    assert 201 == created.status_code, created.text
    response = api.post("/api/v1/emails", email("<ssync-1@example.org>"))
    assert (200, True) == (response.status_code, response.get_json()["alreadyTracked"])
    assert created.json()["activityid"] == response.get_json()["activityId"]


def test_set_regarding_with_a_stale_etag_is_409(api: Api) -> None:
    """With If-Match from the tracked view, a change made by someone else in between answers 409 conflict."""
    view = api.post("/api/v1/emails", email()).get_json()
    path = f"/api/v1/emails/{view['activityId']}/regarding"
    first = api.put(path, ACCOUNT, headers={"If-Match": view["etag"]})
    assert 200 == first.status_code, first.get_json()
    stale = api.put(path, {"table": "contact", "id": seed.DANA_CONTACT_ID}, headers={"If-Match": view["etag"]})
    assert (409, "conflict") == (stale.status_code, stale.get_json()["code"])
    fresh = api.put(
        path, {"table": "contact", "id": seed.DANA_CONTACT_ID}, headers={"If-Match": first.get_json()["etag"]}
    )
    assert 200 == fresh.status_code
    assert 422 == api.put(path, ACCOUNT, headers={"If-Match": "no quotes"}).status_code


def test_body_over_the_limit_is_413(api: Api, service_settings: Any) -> None:
    """A request body over ADDIN_API_MAX_REQUEST_BYTES answers 413 payload_too_large as problem+json."""
    from dataclasses import replace

    from addin_api import create_app

    small = create_app(replace(service_settings, max_request_bytes=1024)).test_client()
    response = small.post("/api/v1/emails", json=email(body="x" * 4096), headers=api.headers(ALICE))
    assert (413, "payload_too_large") == (response.status_code, response.get_json()["code"])
    assert "application/problem+json" == response.mimetype
