"""Tracking against hostile colleagues: ids pre-claimed in Dataverse, collisions inside the create, races.

The colleague (Bob) acts straight against the emulated Dataverse with his own Dataverse token, as anyone with
ordinary create rights can; the owner (Alice) tracks through the service.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import requests
from conftest import ALICE, Api, Devstack
from flask import Flask
from test_api_tracking import email, warm

from addin_api import create_app
from addin_api.dataverse.activities import APPOINTMENT, EMAIL, ActivityKind
from addin_api.model import TrackPolicy
from addin_api.schemas import TrackAppointmentSchema, TrackEmailSchema
from addin_api.schemas.responses import TrackedSchema
from addin_api.services import tracking
from addin_api.services.me import MeInfo
from addin_api.services.tracking import FALLBACK_IDS, MAX_CREATES
from addin_api.settings import Settings, SettingsError

BOB = "bob@contoso.example"
ZOE = "zoe@newco.example"
DECOY_MESSAGE_ID = "<decoy-from-bob@contoso.example>"


def dataverse(devstack: Devstack, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Call the emulated Dataverse straight, as `user` (a third-party client, not the service)."""
    token = devstack.token(user, audience="dataverse")
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return devstack.http.request(method, f"{devstack.api}{path}", headers=headers, timeout=10, **kwargs)


def squat(devstack: Devstack, entity_set: str, activity_id: str, **columns: Any) -> dict[str, Any]:
    """Bob creates a record of his own at `activity_id` and returns it as stored."""
    body = {"activityid": activity_id, "subject": "Bob's own record", **columns}
    created = dataverse(devstack, BOB, "POST", entity_set, json=body, headers={"Prefer": "return=representation"})
    assert 201 == created.status_code, created.text
    record: dict[str, Any] = created.json()
    return record


def squat_email(devstack: Devstack, activity_id: str) -> dict[str, Any]:
    """Bob pre-claims an email id with another Message-ID."""
    return squat(devstack, "emails", activity_id, messageid=DECOY_MESSAGE_ID, directioncode=False)


def read(devstack: Devstack, path: str) -> dict[str, Any]:
    """One record straight from Dataverse (as Alice)."""
    response = dataverse(devstack, ALICE, "GET", path)
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def ids_with_key(devstack: Devstack, kind: ActivityKind, key: str) -> list[str]:
    """The activityids of every activity whose key column is `key`."""
    params = {"$filter": f"{kind.key_column} eq '{key}'", "$select": "activityid"}
    rows = dataverse(devstack, ALICE, "GET", kind.entity_set, params=params).json()["value"]
    return [str(r["activityid"]) for r in rows]


def records_with_address(devstack: Devstack, entity_set: str, address: str) -> list[dict[str, Any]]:
    """Every contact or lead whose emailaddress1 is `address`."""
    params = {"$filter": f"emailaddress1 eq '{address}'"}
    rows: list[dict[str, Any]] = dataverse(devstack, ALICE, "GET", entity_set, params=params).json()["value"]
    return rows


def environment(devstack: Devstack) -> str:
    """The emulated environment's URL, as the service's settings name it."""
    return str(devstack.config["environmentUrl"]).rstrip("/")


def key_of(app: Flask) -> bytes:
    """The deployment's activity-id key (what an attacker who learned the fallback ids would have derived)."""
    key: bytes = app.extensions["addin_api"].activity_id_key
    return key


def appointment(global_object_id: str = "040000008200E00074C5B7101A82E008000000005QUAT") -> dict[str, Any]:
    """An appointment Alice organizes with Dana."""
    return {
        "globalObjectId": global_object_id,
        "subject": "Fabrikam kickoff",
        "start": "2026-12-01T15:00:00Z",
        "end": "2026-12-01T16:00:00Z",
        "organizer": {"address": ALICE},
        "requiredAttendees": [{"address": "dana@fabrikam.example"}],
    }


def from_zoe(message_id: str, create_missing: str = "contact") -> dict[str, Any]:
    """An email from a sender Dataverse does not know, asking to create the missing record."""
    body = email(message_id, **{"from": {"address": ZOE, "name": "Zoe Quinn"}})
    body["createMissing"] = create_missing
    return body


def worker_track(app: Flask, devstack: Devstack, user: str, kind: ActivityKind, body: dict[str, Any]) -> Any:
    """Track as `user` through the tracking service directly, as another process (the mailbox-sync worker) would."""
    collaborators = app.extensions["addin_api"]
    principal = collaborators.validator.validate("Bearer " + devstack.token(user))
    dv = collaborators.dataverse(principal)
    who = dv.get("WhoAmI")
    me = MeInfo(str(who["UserId"]), str(who["BusinessUnitId"]), str(who["OrganizationId"]), None, user, True)
    item = TrackEmailSchema().load(body) if kind is EMAIL else TrackAppointmentSchema().load(body)
    policy = TrackPolicy(collaborators.settings.max_attachment_bytes, collaborators.activity_id_key)
    result = tracking.track(dv, environment(devstack), me, item, policy)
    return TrackedSchema().dump(result), result.created_now


def race(jobs: list[Callable[[], tuple[str, bool]]]) -> list[tuple[str, bool]]:
    """Run the jobs at once; return each one's (activity id, created)."""
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], tuple[str, bool]]) -> None:
        start.wait()
        try:
            result = job()
        except BaseException as exc:  # reported below, in the test's thread
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    return results


def http_track(app: Flask, api: Api, path: str, body: dict[str, Any]) -> Callable[[], tuple[str, bool]]:
    """A job that tracks through the HTTP API as Alice."""
    headers = api.headers(ALICE)

    def job() -> tuple[str, bool]:
        with app.test_client() as client:
            response = client.post(path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.get_json()
        return str(response.get_json()["activityId"]), response.status_code == 201

    return job


# -- a colleague pre-claims the activity id ---------------------------------------------------------------------


def test_squatted_email_id_is_not_adopted_and_the_owner_still_tracks(api: Api) -> None:
    """Bob's email at the message's deterministic id is left alone; Alice's message is tracked at another id."""
    message_id = "<squat-1@mail.fabrikam.example>"
    primary = EMAIL.activity_id(environment(api.devstack), message_id)
    decoy = squat_email(api.devstack, primary)
    warm(api)

    response = api.post("/api/v1/emails", email(message_id, subject="Quarterly review"))

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    assert view["activityId"] != primary
    assert ("Quarterly review", False) == (view["subject"], view["alreadyTracked"])
    # The lookup, the create that collided, the read of the id, the create at the fallback id.
    assert 4 == len(api.dataverse_trips())
    stored = read(api.devstack, f"emails({view['activityId']})")
    assert (message_id, "Quarterly review") == (stored["messageid"], stored["subject"])
    status = api.get("/api/v1/emails", query_string={"internetMessageId": message_id}).get_json()
    assert (True, view["activityId"], "Quarterly review") == (
        status["tracked"],
        status["activityId"],
        status["subject"],
    )
    after = read(api.devstack, f"emails({primary})")
    assert (decoy["messageid"], decoy["subject"], decoy["versionnumber"]) == (
        after["messageid"],
        after["subject"],
        after["versionnumber"],
    )


def test_track_again_after_a_squat_finds_the_owners_activity_in_one_round_trip(api: Api) -> None:
    """Once tracked at the fallback id, a second track answers 200 with it and creates nothing."""
    message_id = "<squat-2@mail.fabrikam.example>"
    squat_email(api.devstack, EMAIL.activity_id(environment(api.devstack), message_id))
    first = api.post("/api/v1/emails", email(message_id)).get_json()
    api.devstack.clear_log()
    again = api.post("/api/v1/emails", email(message_id))
    assert (200, first["activityId"], True) == (
        again.status_code,
        again.get_json()["activityId"],
        again.get_json()["alreadyTracked"],
    )
    assert 1 == len(api.dataverse_trips())
    assert [first["activityId"]] == ids_with_key(api.devstack, EMAIL, message_id)


def test_squatted_appointment_id_is_not_adopted_and_the_owner_still_tracks(api: Api) -> None:
    """Bob's appointment at the item's deterministic id (another globalObjectId) is left alone; Alice's is tracked."""
    body = appointment()
    primary = APPOINTMENT.activity_id(environment(api.devstack), body["globalObjectId"])
    decoy = squat(
        api.devstack,
        "appointments",
        primary,
        globalobjectid="040000008200E00074C5B7101A82E00800000000DECOY",
        scheduledstart="2026-12-24T09:00:00Z",
        scheduledend="2026-12-24T10:00:00Z",
    )

    response = api.post("/api/v1/appointments", body)

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    assert (view["activityId"] != primary, "Fabrikam kickoff") == (True, view["subject"])
    stored = read(api.devstack, f"appointments({view['activityId']})")
    assert body["globalObjectId"] == stored["globalobjectid"]
    status = api.get("/api/v1/appointments", query_string={"globalObjectId": body["globalObjectId"]}).get_json()
    assert (True, view["activityId"]) == (status["tracked"], status["activityId"])
    after = read(api.devstack, f"appointments({primary})")
    assert (decoy["globalobjectid"], decoy["subject"]) == (after["globalobjectid"], after["subject"])
    assert 200 == api.post("/api/v1/appointments", body).status_code


def test_another_activity_type_at_the_email_id_is_not_adopted(api: Api) -> None:
    """An appointment Bob made at the email's deterministic id (activity ids are shared by all activity tables)."""
    message_id = "<squat-other-type@mail.fabrikam.example>"
    primary = EMAIL.activity_id(environment(api.devstack), message_id)
    squat(
        api.devstack,
        "appointments",
        primary,
        globalobjectid=message_id,
        scheduledstart="2026-12-24T09:00:00Z",
        scheduledend="2026-12-24T10:00:00Z",
    )

    warm(api)

    response = api.post("/api/v1/emails", email(message_id))

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    # The lookup, then create and read at the deterministic id twice (no email there), then the keyed id.
    assert 6 == len(api.dataverse_trips())
    assert [view["activityId"]] == ids_with_key(api.devstack, EMAIL, message_id)
    assert "Bob's own record" == read(api.devstack, f"appointments({primary})")["subject"]
    status = api.get("/api/v1/emails", query_string={"internetMessageId": message_id}).get_json()
    assert (True, view["activityId"]) == (status["tracked"], status["activityId"])


def test_concurrent_tracks_after_a_squat_leave_exactly_one_activity(api: Api) -> None:
    """Alice's racing clicks and a second process tracking as another user all meet at one fallback id."""
    message_id = "<squat-race@mail.fabrikam.example>"
    squat_email(api.devstack, EMAIL.activity_id(environment(api.devstack), message_id))
    app = api.client.application
    other_process = create_app(app.extensions["addin_api"].settings)
    body = email(message_id)

    def worker() -> tuple[str, bool]:
        view, created = worker_track(other_process, api.devstack, BOB, EMAIL, body)
        return str(view["activityId"]), bool(created)

    results = race([http_track(app, api, "/api/v1/emails", body) for _ in range(8)] + [worker, worker])

    assert 1 == sum(created for _, created in results)
    assert 1 == len({activity_id for activity_id, _ in results})
    assert [results[0][0]] == ids_with_key(api.devstack, EMAIL, message_id)
    status = api.get("/api/v1/emails", query_string={"internetMessageId": message_id}).get_json()
    assert results[0][0] == status["activityId"]


def test_concurrent_appointment_tracks_after_a_squat_leave_exactly_one_activity(api: Api) -> None:
    """The same race for an appointment (with a second process as another user) ends in one activity."""
    body = appointment("040000008200E00074C5B7101A82E00800000000RACE")
    squat(
        api.devstack,
        "appointments",
        APPOINTMENT.activity_id(environment(api.devstack), body["globalObjectId"]),
        globalobjectid="040000008200E00074C5B7101A82E00800000000DECOY2",
        scheduledstart="2026-12-24T09:00:00Z",
        scheduledend="2026-12-24T10:00:00Z",
    )
    app = api.client.application
    other_process = create_app(app.extensions["addin_api"].settings)

    def worker() -> tuple[str, bool]:
        view, created = worker_track(other_process, api.devstack, BOB, APPOINTMENT, body)
        return str(view["activityId"]), bool(created)

    results = race([http_track(app, api, "/api/v1/appointments", body) for _ in range(8)] + [worker])
    assert (1, 1) == (sum(created for _, created in results), len({i for i, _ in results}))
    assert [results[0][0]] == ids_with_key(api.devstack, APPOINTMENT, body["globalObjectId"])


def test_fallback_ids_learned_and_squatted_too_still_track(api: Api) -> None:
    """Even with the deterministic id and every keyed fallback id claimed, the owner's item is tracked."""
    message_id = "<squat-all@mail.fabrikam.example>"
    env = environment(api.devstack)
    key = key_of(api.client.application)
    taken = [EMAIL.activity_id(env, message_id)]
    taken += [EMAIL.fallback_id(key, env, message_id, n) for n in range(1, FALLBACK_IDS + 1)]
    for activity_id in taken:
        squat_email(api.devstack, activity_id)

    response = api.post("/api/v1/emails", email(message_id))

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    assert view["activityId"] not in taken
    assert [view["activityId"]] == ids_with_key(api.devstack, EMAIL, message_id)
    assert {DECOY_MESSAGE_ID} == {read(api.devstack, f"emails({i})")["messageid"] for i in taken}


def test_a_collision_whose_record_the_owner_cannot_read_is_not_adopted(api: Api) -> None:
    """A 412 duplicate with nothing readable at the id, twice, moves on to the keyed id instead of answering 404."""
    message_id = "<unreadable-holder@mail.fabrikam.example>"
    env = environment(api.devstack)
    api.devstack.fault(target="dataverse", method="POST", path=r"/emails$", status=412, code="0x80040237", count=2)
    warm(api)

    response = api.post("/api/v1/emails", email(message_id))

    assert 201 == response.status_code, response.get_json()
    expected = EMAIL.fallback_id(key_of(api.client.application), env, message_id, 1)
    assert expected == response.get_json()["activityId"]
    # The lookup, then create and read at the deterministic id twice, then the create at the keyed id.
    assert 6 == len(api.dataverse_trips())
    assert [expected] == ids_with_key(api.devstack, EMAIL, message_id)


def test_a_collision_that_vanished_retries_at_the_same_id(api: Api) -> None:
    """A 412 duplicate with nothing at the id once (an untrack raced the track) tracks at the deterministic id."""
    message_id = "<vanished-holder@mail.fabrikam.example>"
    api.devstack.fault(target="dataverse", method="POST", path=r"/emails$", status=412, code="0x80040237", count=1)

    response = api.post("/api/v1/emails", email(message_id))

    assert 201 == response.status_code, response.get_json()
    assert EMAIL.activity_id(environment(api.devstack), message_id) == response.get_json()["activityId"]
    assert [response.get_json()["activityId"]] == ids_with_key(api.devstack, EMAIL, message_id)


def test_persistent_collisions_are_bounded_and_write_nothing(api: Api) -> None:
    """When every create collides, the track stops after a bounded number of attempts with 409 and no activity."""
    message_id = "<always-collides@mail.fabrikam.example>"
    api.devstack.fault(target="dataverse", method="POST", path=r"/emails$", status=412, code="0x80040237")
    warm(api)

    response = api.post("/api/v1/emails", email(message_id))

    assert (409, "conflict") == (response.status_code, response.get_json()["code"])
    assert 1 + 2 * MAX_CREATES == len(api.dataverse_trips())
    api.devstack.http.delete(f"{api.devstack.url}/_devstack/faults", timeout=10).raise_for_status()
    assert [] == ids_with_key(api.devstack, EMAIL, message_id)


def test_activity_id_key_is_shared_by_processes_and_depends_on_a_secret(service_settings: Settings) -> None:
    """Two processes of one deployment derive the same key; another secret gives another key and other ids."""
    first = key_of(create_app(service_settings))
    second = key_of(create_app(service_settings))
    other = key_of(create_app(replace(service_settings, activity_id_secret="s" * 32)))
    assert (first, True) == (second, first != other)
    assert service_settings.client_secret is not None
    assert service_settings.client_secret.encode() not in first
    env, key = "https://org.example", "<m@example.org>"
    assert EMAIL.fallback_id(first, env, key, 1) != EMAIL.fallback_id(other, env, key, 1)


def test_activity_id_secret_setting_is_parsed_and_checked(service_settings: Settings) -> None:
    """ADDIN_API_ACTIVITY_ID_SECRET is optional; when set it must be long enough, and it is never shown."""
    # (service_settings: this folder's log scan reads the service's client secret after every test.)
    tenant = "7a3c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e"
    env = {
        "ADDIN_API_CLIENT_ID": "4d7e2b9a-6c1f-4e3d-a8b5-9f0e1d2c3b4a",
        "ADDIN_API_CLIENT_SECRET": "s3cret",
        "ADDIN_API_TENANTS": tenant,
        "ADDIN_API_DATAVERSE_URLS": f"{tenant}=https://contoso.crm.dynamics.com",
        "ADDIN_API_PUBLIC_URL": "https://addin.contoso.example",
    }
    assert Settings.from_env(env).activity_id_secret is None
    secret = "k" * 40
    parsed = Settings.from_env({**env, "ADDIN_API_ACTIVITY_ID_SECRET": secret})
    assert (secret, False) == (parsed.activity_id_secret, secret in repr(parsed))
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**env, "ADDIN_API_ACTIVITY_ID_SECRET": "short"})
    assert ["ADDIN_API_ACTIVITY_ID_SECRET must be at least 32 characters"] == refused.value.problems


def test_activity_id_key_from_a_certificate_credential(service_settings: Settings, tmp_path: Any) -> None:
    """With a certificate instead of a client secret, the key comes from the certificate file; no secret, no key."""
    pem = tmp_path / "cert.pem"
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    with_cert = replace(service_settings, client_secret=None, client_cert_path=pem, client_cert_thumbprint="AB" * 20)
    first = key_of(create_app(with_cert))
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nanother key\n-----END PRIVATE KEY-----\n")
    assert (first != key_of(create_app(with_cert)), first != key_of(create_app(service_settings))) == (True, True)
    with pytest.raises(ValueError):
        replace(service_settings, client_secret=None).activity_id_key()


# -- records made by createMissing --------------------------------------------------------------------------------


def test_create_missing_untrack_edit_address_track_again_tracks(api: Api) -> None:
    """Track with createMissing, untrack, edit the contact's address in Dataverse, track again: it tracks, each time."""
    message_id = "<zoe-again@newco.example>"
    seen: list[str] = []
    for round_number in range(3):
        response = api.post("/api/v1/emails", from_zoe(message_id))
        assert 201 == response.status_code, response.get_json()
        view = response.get_json()
        assert view["created"]["id"] not in seen
        seen.append(view["created"]["id"])
        status = api.get("/api/v1/emails", query_string={"internetMessageId": message_id}).get_json()
        assert (True, view["activityId"]) == (status["tracked"], status["activityId"])
        assert view["created"]["id"] == read(api.devstack, f"emails({view['activityId']})")["_regardingobjectid_value"]
        assert 204 == api.delete(f"/api/v1/emails/{view['activityId']}").status_code
        edited = dataverse(
            api.devstack,
            ALICE,
            "PATCH",
            f"contacts({view['created']['id']})",
            json={"emailaddress1": f"zoe.{round_number}@newco.example"},
            headers={"If-Match": "*"},
        )
        assert 204 == edited.status_code, edited.text


def test_create_missing_ignores_a_contact_at_the_old_predictable_id(api: Api) -> None:
    """A contact Bob made at the id the contact used to be derived from is neither reused nor touched."""
    message_id = "<zoe-preclaimed@newco.example>"
    activity_id = EMAIL.activity_id(environment(api.devstack), message_id)
    predictable = str(uuid.uuid5(uuid.UUID(activity_id), "contact"))
    planted = dataverse(
        api.devstack,
        BOB,
        "POST",
        "contacts",
        json={"contactid": predictable, "lastname": "Planted", "emailaddress1": "bob.alias@contoso.example"},
    )
    assert 204 == planted.status_code, planted.text

    response = api.post("/api/v1/emails", from_zoe(message_id))

    assert 201 == response.status_code, response.get_json()
    created = response.get_json()["created"]
    assert created["id"] != predictable
    assert ("Planted", "bob.alias@contoso.example") == (
        read(api.devstack, f"contacts({predictable})")["lastname"],
        read(api.devstack, f"contacts({predictable})")["emailaddress1"],
    )


def test_create_missing_with_a_squatted_activity_id_creates_one_lead(api: Api) -> None:
    """The change set that collided on the activity id rolled its lead back: one lead, regarding the new activity."""
    message_id = "<zoe-lead-squat@newco.example>"
    primary = EMAIL.activity_id(environment(api.devstack), message_id)
    squat_email(api.devstack, primary)

    response = api.post("/api/v1/emails", from_zoe(message_id, "lead"))

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    assert (view["activityId"] != primary, "lead") == (True, view["created"]["table"])
    leads = records_with_address(api.devstack, "leads", ZOE)
    assert [view["created"]["id"]] == [lead["leadid"] for lead in leads]
    assert view["created"]["id"] == read(api.devstack, f"emails({view['activityId']})")["_regardingobjectid_value"]


def test_collision_on_the_created_record_retries_with_fresh_ids(api: Api) -> None:
    """A duplicate-key answer to the create change set with no activity at the id retries once, same activity id."""
    message_id = "<zoe-retry@newco.example>"
    warm(api)
    api.devstack.fault(
        target="dataverse", method="POST", path=r"/\$batch$", status=412, code="0x80040237", count=1, skip=1
    )

    response = api.post("/api/v1/emails", from_zoe(message_id))

    assert 201 == response.status_code, response.get_json()
    view = response.get_json()
    assert EMAIL.activity_id(environment(api.devstack), message_id) == view["activityId"]
    # The lookup, the change set that collided, the read of the id, the change set again.
    assert 4 == len(api.dataverse_trips())
    assert [view["created"]["id"]] == [c["contactid"] for c in records_with_address(api.devstack, "contacts", ZOE)]


def test_concurrent_create_missing_tracks_leave_one_activity_and_one_contact(api: Api) -> None:
    """Racing createMissing tracks create one activity and one contact; the losers' contacts are rolled back."""
    message_id = "<zoe-race@newco.example>"
    app = api.client.application
    results = race([http_track(app, api, "/api/v1/emails", from_zoe(message_id)) for _ in range(8)])
    assert (1, 1) == (sum(created for _, created in results), len({i for i, _ in results}))
    assert [results[0][0]] == ids_with_key(api.devstack, EMAIL, message_id)
    assert 1 == len(records_with_address(api.devstack, "contacts", ZOE))


# -- the common path keeps its cost --------------------------------------------------------------------------------


def test_common_path_round_trips_are_unchanged(api: Api) -> None:
    """First track of an email 2, again 1; first track of an appointment 2; createMissing first track 2."""
    warm(api)
    counts: list[int] = []
    for path, body in (
        ("/api/v1/emails", email("<cost-1@mail.fabrikam.example>")),
        ("/api/v1/emails", email("<cost-1@mail.fabrikam.example>")),
        ("/api/v1/appointments", appointment("040000008200E00074C5B7101A82E00800000000COST")),
        ("/api/v1/emails", from_zoe("<cost-2@newco.example>")),
    ):
        api.devstack.clear_log()
        assert api.post(path, body).status_code in (200, 201)
        counts.append(len(api.dataverse_trips()))
    assert [2, 1, 2, 2] == counts
