"""The tracking services against a fake Dataverse client: the steps of a track, its round trips, its results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fake_dataverse import FakeDataverse, failed, ok, rows

from addin_api.dataverse.activities import EMAIL
from addin_api.dataverse.batch import BatchRequest, ChangeSet
from addin_api.dataverse.client import DuplicateRecord
from addin_api.errors import NotFound
from addin_api.model import (
    Address,
    Attachment,
    MeInfo,
    NotTracked,
    PartyResult,
    RecordRef,
    RegardingRef,
    SkippedAttachment,
    TrackEmail,
    TrackingStatusQuery,
    TrackPolicy,
)
from addin_api.services import tracking

ENV = "https://org.example.crm.dynamics.com"
CALLER = MeInfo("u-1", "bu-1", "org-1", "Alice", "alice@contoso.example", True)
POLICY = TrackPolicy(max_attachment_bytes=4, activity_id_key=b"k" * 32)
CONTACT_ID = "c0000000-0000-4000-8000-000000000001"
ACCOUNT_ID = "a0000000-0000-4000-8000-000000000001"
MESSAGE_ID = "<m1@fabrikam.example>"
NOBODY = [rows(), rows(), rows(), rows()]  # systemuser, contact, account, lead: no owner for any address


def email(**changes: Any) -> TrackEmail:
    """An email from Zoe to Alice."""
    fields: dict[str, Any] = {
        "internet_message_id": MESSAGE_ID,
        "subject": "Quote",
        "sender": Address("Zoe@Fabrikam.example", "Zoe Quinn"),
        "sent_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        "to": (Address("alice@contoso.example"),),
    }
    return TrackEmail(**{**fields, **changes})


def zoe_is_a_contact() -> list[Any]:
    """The resolution parts when Zoe's address belongs to a contact."""
    contact = {"contactid": CONTACT_ID, "fullname": "Zoe Quinn", "emailaddress1": "zoe@fabrikam.example"}
    return [rows(), rows(contact), rows(), rows()]


def created_body(dv: FakeDataverse) -> dict[str, Any]:
    """The body of the (single) create."""
    [body] = [request["body"] for method, request in dv.calls if method == "create"]
    return dict(body)


def test_a_new_email_is_tracked_in_two_round_trips_with_its_sender_resolved() -> None:
    """One lookup batch, one create; the result names the resolved sender and the new ETag."""
    dv = FakeDataverse(batch=[[rows(), *zoe_is_a_contact()]], create=[{"@odata.etag": 'W/"7"'}])

    result = tracking.track(dv, ENV, CALLER, email(), POLICY)

    assert 2 == dv.round_trips
    assert (False, 'W/"7"', "Quote") == (result.already_tracked, result.etag, result.subject)
    assert EMAIL.activity_id(ENV, MESSAGE_ID) == result.activity_id
    assert (
        PartyResult("from", "zoe@fabrikam.example", (RecordRef("contact", CONTACT_ID, "Zoe Quinn"),)),
        PartyResult("to", "alice@contoso.example", ()),
    ) == result.parties
    body = created_body(dv)
    assert f"/contacts({CONTACT_ID})" == body["email_activity_parties"][0]["partyid_contact@odata.bind"]
    assert (False, 4) == (body["directioncode"], body["statuscode"])  # received
    assert "zoe@fabrikam.example" == body["sender"]


def test_an_email_already_tracked_costs_one_round_trip_and_writes_nothing() -> None:
    """The lookup finds the activity: its result comes back, already tracked."""
    existing = {"activityid": "e1", "subject": "Quote", "@odata.etag": 'W/"3"', "messageid": MESSAGE_ID}
    dv = FakeDataverse(batch=[[rows(existing), *NOBODY]])

    result = tracking.track(dv, ENV, CALLER, email(), POLICY)

    assert (1, True, "e1", 'W/"3"') == (dv.round_trips, result.already_tracked, result.activity_id, result.etag)


def test_an_email_the_caller_sent_is_written_as_sent() -> None:
    """A sender equal to the caller's address makes the email outgoing (Completed / Sent)."""
    dv = FakeDataverse(batch=[[rows(), *NOBODY]], create=[{}])

    tracking.track(dv, ENV, CALLER, email(sender=Address("alice@contoso.example")), POLICY)

    body = created_body(dv)
    assert (True, 1, 3) == (body["directioncode"], body["statecode"], body["statuscode"])


def test_attachments_over_the_limit_are_skipped_and_named() -> None:
    """The policy's limit keeps small attachments and reports the others."""
    small, large = Attachment("a.txt", "text/plain", "YWJj"), Attachment("b.bin", "application/pdf", "YWJjZGVm")
    dv = FakeDataverse(batch=[[rows(), *NOBODY]], create=[{}])

    result = tracking.track(dv, ENV, CALLER, email(attachments=(small, large)), POLICY)

    assert result.attachments is not None
    assert (1, (SkippedAttachment("b.bin"),)) == (result.attachments.saved, result.attachments.skipped)
    assert ["a.txt"] == [a["filename"] for a in created_body(dv)["email_activity_mime_attachment"]]


def test_the_regarding_is_read_in_the_lookup_and_bound_in_the_create() -> None:
    """A chosen regarding costs no extra round trip: its name comes from the lookup batch."""
    dv = FakeDataverse(batch=[[rows(), *NOBODY, ok({"name": "Fabrikam"})]], create=[{}])

    result = tracking.track(dv, ENV, CALLER, email(regarding=RegardingRef("account", ACCOUNT_ID)), POLICY)

    assert 2 == dv.round_trips
    assert RecordRef("account", ACCOUNT_ID, "Fabrikam") == result.regarding
    assert f"/accounts({ACCOUNT_ID})" == created_body(dv)["regardingobjectid_account_email@odata.bind"]


def test_a_missing_sender_is_created_with_the_activity_in_one_change_set() -> None:
    """createMissing: the contact and the email go in one change set; the party row points at the contact."""
    dv = FakeDataverse(batch=[[rows(), *NOBODY], [ok(status=204), ok({"@odata.etag": 'W/"9"'}, 201)]])

    result = tracking.track(dv, ENV, CALLER, email(create_missing="contact"), POLICY)

    [change_set] = dv.calls[1][1]
    assert isinstance(change_set, ChangeSet)
    contact, activity = change_set.requests
    contact_id = contact.body["contactid"]
    assert ("contacts", "Quinn", "Zoe") == (contact.url, contact.body["lastname"], contact.body["firstname"])
    assert f"/contacts({contact_id})" == activity.body["email_activity_parties"][0]["partyid_contact@odata.bind"]
    assert RecordRef("contact", contact_id, "Zoe Quinn") == result.created == result.regarding
    assert (RecordRef("contact", contact_id, "Zoe Quinn"),) == result.parties[0].resolved
    assert 'W/"9"' == result.etag


def test_a_twin_that_won_the_race_is_answered_as_already_tracked() -> None:
    """A 412 at the id, and the activity there holds this item: the twin's record is the answer."""
    holder = {"activityid": EMAIL.activity_id(ENV, MESSAGE_ID), "messageid": MESSAGE_ID.upper(), "subject": "Quote"}
    dv = FakeDataverse(batch=[[rows(), *NOBODY]], create=[DuplicateRecord()], get=[holder])

    result = tracking.track(dv, ENV, CALLER, email(), POLICY)

    assert (3, True, holder["activityid"]) == (dv.round_trips, result.already_tracked, result.activity_id)


def test_a_record_someone_else_put_at_the_id_is_never_adopted() -> None:
    """A 412 at the id, held by another item: the next create goes to the deployment's first fallback id."""
    squatter = {"activityid": EMAIL.activity_id(ENV, MESSAGE_ID), "messageid": "<other@example>"}
    dv = FakeDataverse(batch=[[rows(), *NOBODY]], create=[DuplicateRecord(), {}], get=[squatter])

    result = tracking.track(dv, ENV, CALLER, email(), POLICY)

    fallback = EMAIL.fallback_id(POLICY.activity_id_key, ENV, MESSAGE_ID, 1)
    assert (False, fallback) == (result.already_tracked, result.activity_id)
    assert fallback == dv.calls[-1][1]["body"]["activityid"]


def test_a_failed_resolution_part_fails_the_track_before_any_write() -> None:
    """A lookup part that failed is raised, and nothing is created."""
    dv = FakeDataverse(batch=[[rows(), rows(), failed(404), rows(), rows()]])

    with pytest.raises(NotFound):
        tracking.track(dv, ENV, CALLER, email(), POLICY)
    assert ["batch"] == [method for method, _ in dv.calls]


def test_the_status_of_an_untracked_item_is_not_tracked() -> None:
    """No activity holds the key: one GET, and the answer is NotTracked."""
    dv = FakeDataverse(get=[{"value": []}])

    assert NotTracked() == tracking.status(dv, ENV, TrackingStatusQuery("email", MESSAGE_ID))
    assert dv.calls[0][1]["annotations"]


def test_the_status_of_a_tracked_item_lists_its_parties_sender_first() -> None:
    """Parties are grouped by role and address, the sender first, with the records they resolved to."""
    record = {
        "activityid": "e1",
        "subject": "Quote",
        "_regardingobjectid_value": ACCOUNT_ID,
        "_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
        "_regardingobjectid_value@OData.Community.Display.V1.FormattedValue": "Fabrikam",
        "email_activity_parties": [
            {"participationtypemask": 2, "addressused": "Alice@contoso.example"},
            {
                "participationtypemask": 1,
                "addressused": "zoe@fabrikam.example",
                "_partyid_value": CONTACT_ID,
                "_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
                "_partyid_value@OData.Community.Display.V1.FormattedValue": "Zoe Quinn",
            },
        ],
    }
    dv = FakeDataverse(get=[{"value": [record]}])

    result = tracking.status(dv, ENV, TrackingStatusQuery("email", MESSAGE_ID))

    assert not isinstance(result, NotTracked)
    assert ["from", "to"] == [p.role for p in result.parties]
    assert "alice@contoso.example" == result.parties[1].address
    assert RecordRef("account", ACCOUNT_ID, "Fabrikam") == result.regarding
    assert dv.calls[0][1]["path"].startswith("emails?")


def test_the_lookup_batch_asks_for_the_item_then_each_table_of_owners() -> None:
    """The first part finds the item with annotations; the next four resolve the addresses."""
    dv = FakeDataverse(batch=[[rows(), *NOBODY]], create=[{}])

    tracking.track(dv, ENV, CALLER, email(), POLICY)

    requests = dv.calls[0][1]
    assert all(isinstance(r, BatchRequest) for r in requests)
    assert [r.url.split("?")[0] for r in requests] == ["emails", "systemusers", "contacts", "accounts", "leads"]
    assert 'odata.include-annotations="*"' == requests[0].headers["Prefer"]
