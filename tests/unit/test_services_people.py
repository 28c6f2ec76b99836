"""The sender card, record creation, me and mailbox services against a fake Dataverse client."""

from __future__ import annotations

import pytest
from fake_dataverse import FakeDataverse, failed, ok, rows

from addin_api.errors import ValidationFailed
from addin_api.model import (
    NO_MAILBOX,
    CreatedRecord,
    CreateRecord,
    Features,
    LookupPerson,
    MeInfo,
    PersonMatch,
)
from addin_api.services import mailbox, me, people, records

ENV = "https://org.example.crm.dynamics.com"
CONTACT = "c0000000-0000-4000-8000-000000000001"
ACCOUNT = "a0000000-0000-4000-8000-000000000001"


def test_the_card_shows_a_contacts_company_and_the_latest_activities_each_once() -> None:
    """One batch: the contact with its parent account; activities newest first, a repeated one once."""
    contact = {
        "contactid": CONTACT,
        "fullname": "Zoe Quinn",
        "emailaddress1": "zoe@fabrikam.example",
        "jobtitle": "Buyer",
        "_parentcustomerid_value": ACCOUNT,
        "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "Fabrikam",
        "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
    }
    old = {"activityid_activitypointer": {"activityid": "a1", "subject": "Old", "createdon": "2026-01-01T00:00:00Z"}}
    new = {"activityid_activitypointer": {"activityid": "a2", "subject": "New", "createdon": "2026-02-01T00:00:00Z"}}
    dv = FakeDataverse(batch=[[rows(), rows(contact), rows(), rows(), rows(old, new, old)]])

    result = people.lookup(dv, ENV, LookupPerson("zoe@fabrikam.example"))

    url = f"{ENV}/main.aspx?etn=contact&pagetype=entityrecord&id={CONTACT}"
    expected = PersonMatch(
        "contact", CONTACT, "Zoe Quinn", "zoe@fabrikam.example", None, "Fabrikam", ACCOUNT, "Buyer", url
    )
    assert (expected,) == result.matches
    assert ["a2", "a1"] == [a.id for a in result.recent_activities]


def test_the_card_has_no_activities_when_the_caller_may_not_read_them() -> None:
    """A 403 on the activity parties leaves the activities out, not the card."""
    dv = FakeDataverse(batch=[[rows(), rows(), rows(), rows(), failed(403)]])

    assert () == people.lookup(dv, ENV, LookupPerson("nobody@example.com")).recent_activities


def test_a_record_is_created_from_allowed_fields_only() -> None:
    """Allowed fields are written; the result names the record and its form."""
    dv = FakeDataverse(create=[{"accountid": ACCOUNT, "name": "Fabrikam"}])

    result = records.create_record(dv, ENV, CreateRecord("account", {"name": " Fabrikam "}))

    url = f"{ENV}/main.aspx?etn=account&pagetype=entityrecord&id={ACCOUNT}"
    assert CreatedRecord("account", ACCOUNT, "Fabrikam", url) == result
    assert {"name": "Fabrikam"} == dv.calls[0][1]["body"]


def test_a_record_with_a_field_off_the_allowlist_is_refused_before_any_call() -> None:
    """422 naming the field; Dataverse is never called."""
    dv = FakeDataverse()

    with pytest.raises(ValidationFailed) as raised:
        records.create_record(dv, ENV, CreateRecord("account", {"name": "F", "ownerid": "x"}))
    assert "fields.ownerid" in raised.value.errors
    assert [] == dv.calls


def test_me_reads_whoami_then_the_user_and_both_privileges_in_one_batch() -> None:
    """Two round trips; a granted prvUseOfficeApps and no prvCreateActivity: may use the add-in, not track."""
    who = {"UserId": "u1", "BusinessUnitId": "b1", "OrganizationId": "o1"}
    user = ok({"fullname": "Alice", "internalemailaddress": "Alice@Contoso.example"})
    dv = FakeDataverse(get=[who], batch=[[user, ok({"RolePrivileges": [{}]}), ok({"RolePrivileges": []})]])

    info = me.current_me(dv, me.MeCache(60), ("t", "u", ENV))
    shown = me.me(info, "t1", ENV)

    assert 2 == dv.round_trips
    assert ("alice@contoso.example", True, False) == (info.email, info.can_use_add_in, info.can_create_activities)
    assert Features(track=False, set_regarding=False) == shown.features


def test_a_user_without_a_mailbox_cannot_track() -> None:
    """No default mailbox: every direction disabled, and the reason says so."""
    dv = FakeDataverse(batch=[[ok({"systemuserid": "u1"}), ok({"organizationid": "o1", "name": "Contoso"})]])
    caller = MeInfo("u1", "b1", "o1", "Alice", "alice@contoso.example", True)

    state = mailbox.mailbox_state(dv, ENV, caller)

    assert ((NO_MAILBOX,), "disabled", False) == (state.reasons, state.incoming, state.tracking_enabled)
    assert (ENV, "o1", "Contoso") == (state.environment.url, state.environment.organization_id, state.environment.name)
