"""The emulated Dataverse over real HTTPS: create, retrieve, update, upsert, delete, associations, errors, security."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dataverse_support import ALICE, WebApi

from addin_api.devstack.seed import (
    ADVENTURE_WORKS_ACCOUNT_ID,
    DANA_CONTACT_ID,
    FABRIKAM_ACCOUNT_ID,
    FABRIKAM_OPPORTUNITY_ID,
    TRACKED_EMAIL_ID,
)

BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
RETURN = {"Prefer": "return=representation"}


Dv = WebApi


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def new_email(**extra: Any) -> dict[str, Any]:
    """A minimal email body."""
    return {"subject": "Quarterly numbers", "description": "<p>Hi</p>", **extra}


def test_create_returns_204_and_entity_id(dv: Dv) -> None:
    """POST without return=representation answers 204 with OData-EntityId."""
    response = dv.call("POST", "accounts", {"name": "Trey Research"})
    assert 204 == response.status_code
    assert response.headers["OData-EntityId"].startswith(dv.api + "accounts(")


def test_create_with_representation_honours_select(dv: Dv) -> None:
    """return=representation answers 201 with the selected columns, the key and the ETag."""
    response = dv.call("POST", "accounts?$select=name", {"name": "Trey Research"}, **RETURN)
    body = response.json()
    assert 201 == response.status_code
    assert {"@odata.context", "@odata.etag", "name", "accountid"} == set(body)
    assert body["@odata.context"].endswith("$metadata#accounts(name)/$entity")


def test_system_columns_are_set_as_dataverse_sets_them(dv: Dv) -> None:
    """createdon/modifiedon are UTC `Z` timestamps and createdby/owner are the caller."""
    body = dv.call("POST", "contacts", {"firstname": "Ada", "lastname": "Byron"}, **RETURN).json()
    alice = dv.stack.config["users"][0]
    whoami = dv.call("GET", "WhoAmI").json()
    assert "Ada Byron" == body["fullname"]
    assert body["createdon"].endswith("Z") and body["createdon"] == body["modifiedon"]
    assert [whoami["UserId"]] * 3 == [body["_createdby_value"], body["_modifiedby_value"], body["_ownerid_value"]]
    assert alice["upn"] == ALICE
    assert f'W/"{body["versionnumber"]}"' == body["@odata.etag"]


def test_retrieve_by_key(dv: Dv) -> None:
    """GET accounts(<id>) answers the record with its context and ETag."""
    response = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name,emailaddress1")
    body = response.json()
    assert 200 == response.status_code
    assert ("Fabrikam, Inc.", "info@fabrikam.example") == (body["name"], body["emailaddress1"])
    assert response.headers["ETag"] == body["@odata.etag"]


def test_retrieve_missing_record_is_404(dv: Dv) -> None:
    """A missing record answers 404 0x80040217."""
    missing = str(uuid.uuid4())
    response = dv.call("GET", f"accounts({missing})")
    assert 404 == response.status_code
    assert {"code": "0x80040217", "message": f"Entity 'account' With Id = {missing} Does Not Exist"} == response.json()[
        "error"
    ]


def test_deep_insert_email_with_parties_regarding_and_attachment(dv: Dv) -> None:
    """An email is created with parties, a regarding account and an attachment in one POST."""
    activity_id = str(uuid.uuid4())
    body = new_email(
        activityid=activity_id,
        directioncode=False,
        messageid="<abc@fabrikam.example>",
        actualend="2025-02-01T10:00:00Z",
        statecode=1,
        statuscode=4,
        **{
            "regardingobjectid_account_email@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
            "email_activity_parties": [
                {"participationtypemask": 1, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"},
                {"participationtypemask": 2, "addressused": "unknown@example.com"},
            ],
            "email_activity_mime_attachment": [
                {"filename": "a.txt", "mimetype": "text/plain", "body": "aGVsbG8="},
            ],
        },
    )
    created = dv.call("POST", "emails", body)
    read = dv.call(
        "GET",
        f"emails({activity_id})?$select=statecode,statuscode,directioncode,_regardingobjectid_value"
        "&$expand=email_activity_parties($select=participationtypemask,_partyid_value,addressused),"
        "email_activity_mime_attachment($select=filename,filesize,objecttypecode)",
    ).json()
    parties = sorted((p["participationtypemask"], p["_partyid_value"]) for p in read["email_activity_parties"])
    assert 204 == created.status_code
    assert created.headers["OData-EntityId"] == f"{dv.api}emails({activity_id})"
    assert (1, 4, False, FABRIKAM_ACCOUNT_ID) == (
        read["statecode"],
        read["statuscode"],
        read["directioncode"],
        read["_regardingobjectid_value"],
    )
    assert [(1, DANA_CONTACT_ID), (2, None)] == parties
    assert [("a.txt", 5, "email")] == [
        (a["filename"], a["filesize"], a["objecttypecode"]) for a in read["email_activity_mime_attachment"]
    ]


def test_email_defaults(dv: Dv) -> None:
    """A new email is Open/Draft and outgoing unless told otherwise."""
    body = dv.call("POST", "emails", new_email(), **RETURN).json()
    assert (0, 1, True) == (body["statecode"], body["statuscode"], body["directioncode"])


def test_sent_email_state_on_create(dv: Dv) -> None:
    """statecode 1 / statuscode 3 (sent) are accepted on create."""
    body = dv.call("POST", "emails", new_email(statecode=1, statuscode=3), **RETURN).json()
    assert (1, 3) == (body["statecode"], body["statuscode"])


def test_appointment_defaults_to_scheduled_busy(dv: Dv) -> None:
    """A new appointment is Scheduled (3) / Busy (5)."""
    appointment = {
        "subject": "Review",
        "scheduledstart": "2025-03-01T10:00:00Z",
        "scheduledend": "2025-03-01T11:00:00Z",
        "regardingobjectid_account_appointment@odata.bind": f"/accounts({ADVENTURE_WORKS_ACCOUNT_ID})",
        "appointment_activity_parties": [
            {"participationtypemask": 5, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"}
        ],
    }
    body = dv.call("POST", "appointments", appointment, **RETURN).json()
    assert (3, 5, ADVENTURE_WORKS_ACCOUNT_ID) == (
        body["statecode"],
        body["statuscode"],
        body["_regardingobjectid_value"],
    )


def test_appointment_statecode_is_not_valid_on_create(dv: Dv) -> None:
    """Setting appointment statecode on create is refused with 400."""
    response = dv.call("POST", "appointments", {"subject": "x", "statecode": 1})
    assert 400 == response.status_code
    assert "statecode" in response.json()["error"]["message"]


@pytest.mark.parametrize("column", ["conversationindex", "inreplyto"])
def test_read_only_email_columns_are_refused(dv: Dv, column: str) -> None:
    """conversationindex and inreplyto cannot be written."""
    response = dv.call("POST", "emails", new_email(**{column: "x"}))
    assert 400 == response.status_code


def test_incident_gets_a_ticket_number(dv: Dv) -> None:
    """A new case gets a CAS- ticket number."""
    case = {"title": "Broken", "customerid_account@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})"}
    body = dv.call("POST", "incidents", case, **RETURN).json()
    assert body["ticketnumber"].startswith("CAS-")
    assert FABRIKAM_ACCOUNT_ID == body["_customerid_value"]


def test_incident_without_customer_is_refused(dv: Dv) -> None:
    """customerid is required on cases."""
    response = dv.call("POST", "incidents", {"title": "Broken"})
    assert (400, "You should specify a parent contact or account.") == (
        response.status_code,
        response.json()["error"]["message"],
    )


def test_attachment_requires_objectid(dv: Dv) -> None:
    """An attachment without its activity is refused."""
    response = dv.call("POST", "activitymimeattachments", {"filename": "a.txt", "objecttypecode": "email"})
    assert 400 == response.status_code


def test_attachment_binds_to_activitypointer(dv: Dv) -> None:
    """objectid_activitypointer binds an attachment to an existing email."""
    attachment = {
        "objectid_activitypointer@odata.bind": f"/activitypointers({TRACKED_EMAIL_ID})",
        "objecttypecode": "email",
        "filename": "quote.pdf",
        "mimetype": "application/pdf",
        "body": "JVBERi0=",
    }
    body = dv.call("POST", "activitymimeattachments", attachment, **RETURN).json()
    assert (TRACKED_EMAIL_ID, 5) == (body["_objectid_value"], body["filesize"])


def test_activityid_of_another_activity_type_is_412(dv: Dv) -> None:
    """An appointment cannot take an email's activityid: every activity has one activitypointer row."""
    body = {
        "activityid": TRACKED_EMAIL_ID,
        "subject": "Same id",
        "scheduledstart": "2026-12-24T09:00:00Z",
        "scheduledend": "2026-12-24T10:00:00Z",
    }
    response = dv.call("POST", "appointments", body)
    assert (412, "0x80040237") == (response.status_code, response.json()["error"]["code"])


def test_duplicate_activityid_is_412(dv: Dv) -> None:
    """POST with the id of an existing record answers 412 0x80040237."""
    response = dv.call("POST", "emails", new_email(activityid=TRACKED_EMAIL_ID))
    assert (412, "0x80040237") == (response.status_code, response.json()["error"]["code"])


def test_unknown_column_on_write(dv: Dv) -> None:
    """An unknown property in a body answers 400 0x80048d19 naming it."""
    response = dv.call("POST", "accounts", {"name": "x", "nickname": "y"})
    error = response.json()["error"]
    assert (400, "0x80048d19") == (response.status_code, error["code"])
    assert "The property 'nickname' does not exist on type 'Microsoft.Dynamics.CRM.account'" in error["message"]


def test_wrong_type(dv: Dv) -> None:
    """A number where a string is expected answers 400."""
    response = dv.call("POST", "accounts", {"name": 42})
    assert (400, "0x80048d19") == (response.status_code, response.json()["error"]["code"])


def test_over_long_string(dv: Dv) -> None:
    """A subject over 800 characters answers 0x80044331 naming the column and its max length."""
    response = dv.call("POST", "emails", new_email(subject="x" * 801))
    error = response.json()["error"]
    assert (400, "0x80044331") == (response.status_code, error["code"])
    assert "'subject' attribute of the 'email' entity exceeded the maximum allowed length of '800'" in error["message"]


def test_malformed_guid(dv: Dv) -> None:
    """A key that is not a GUID answers 400."""
    response = dv.call("GET", "accounts(not-a-guid)")
    assert (400, "0x80060888") == (response.status_code, response.json()["error"]["code"])


def test_malformed_body(dv: Dv) -> None:
    """A body that is not JSON answers 400."""
    response = dv.stack.http.post(
        dv.api + "accounts", data="{nope", headers={**dv.headers, "Content-Type": "application/json"}, timeout=10
    )
    assert (400, "0x80048d19") == (response.status_code, response.json()["error"]["code"])


def test_unknown_entity_set(dv: Dv) -> None:
    """An unknown entity set answers 404 naming the segment."""
    response = dv.call("GET", "widgets")
    assert (404, "Resource not found for the segment 'widgets'.") == (
        response.status_code,
        response.json()["error"]["message"],
    )


def test_bind_to_missing_record_is_404(dv: Dv) -> None:
    """Binding to a record that does not exist answers 404."""
    missing = str(uuid.uuid4())
    response = dv.call(
        "POST", "emails", new_email(**{"regardingobjectid_account_email@odata.bind": f"/accounts({missing})"})
    )
    assert (404, "0x80040217") == (response.status_code, response.json()["error"]["code"])


def test_patch_with_representation_returns_200(dv: Dv) -> None:
    """PATCH with return=representation answers 200 with the new values and a new ETag."""
    before = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name").json()
    response = dv.call("PATCH", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=telephone1", {"telephone1": "123"}, **RETURN)
    assert (200, "123") == (response.status_code, response.json()["telephone1"])
    assert before["@odata.etag"] != response.json()["@odata.etag"]


def test_patch_with_matching_etag(dv: Dv) -> None:
    """If-Match with the current ETag updates (204)."""
    etag = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name").json()["@odata.etag"]
    response = dv.call("PATCH", f"accounts({FABRIKAM_ACCOUNT_ID})", {"telephone1": "1"}, If_Match=etag)
    assert 204 == response.status_code


def test_patch_with_stale_etag_is_412(dv: Dv) -> None:
    """If-Match with an old ETag answers 412."""
    etag = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name").json()["@odata.etag"]
    dv.call("PATCH", f"accounts({FABRIKAM_ACCOUNT_ID})", {"telephone1": "1"})
    response = dv.call("PATCH", f"accounts({FABRIKAM_ACCOUNT_ID})", {"telephone1": "2"}, If_Match=etag)
    assert 412 == response.status_code


def test_if_match_star_on_missing_row_is_404(dv: Dv) -> None:
    """If-Match: * prevents an upsert: a missing row answers 404."""
    response = dv.call("PATCH", f"accounts({uuid.uuid4()})", {"name": "x"}, If_Match="*")
    assert 404 == response.status_code


def test_upsert_creates_a_missing_row(dv: Dv) -> None:
    """PATCH to a missing id creates the record with that id."""
    record_id = str(uuid.uuid4())
    response = dv.call("PATCH", f"emails({record_id})", new_email(), If_None_Match="*")
    read = dv.call("GET", f"emails({record_id})?$select=subject")
    assert (204, 200, "Quarterly numbers") == (response.status_code, read.status_code, read.json()["subject"])


def test_if_none_match_on_existing_row_is_412(dv: Dv) -> None:
    """If-None-Match: * on an existing row answers 412 with an empty code."""
    response = dv.call("PATCH", f"emails({TRACKED_EMAIL_ID})", new_email(), If_None_Match="*")
    assert (412, {"code": "", "message": "A record with matching key values already exists."}) == (
        response.status_code,
        response.json()["error"],
    )


def test_bind_null_clears_regarding(dv: Dv) -> None:
    """Setting the regarding navigation property to null clears it."""
    dv.call("PATCH", f"emails({TRACKED_EMAIL_ID})", {"regardingobjectid_account_email@odata.bind": None})
    body = dv.call("GET", f"emails({TRACKED_EMAIL_ID})?$select=_regardingobjectid_value").json()
    assert body["_regardingobjectid_value"] is None


def test_change_regarding_to_opportunity(dv: Dv) -> None:
    """PATCH with another regarding bind moves the email."""
    bind = {"regardingobjectid_opportunity_email@odata.bind": f"/opportunities({FABRIKAM_OPPORTUNITY_ID})"}
    dv.call("PATCH", f"emails({TRACKED_EMAIL_ID})", bind)
    body = dv.call(
        "GET",
        f"emails({TRACKED_EMAIL_ID})?$select=_regardingobjectid_value",
        Prefer='odata.include-annotations="*"',
    ).json()
    assert (FABRIKAM_OPPORTUNITY_ID, "opportunity", "regardingobjectid_opportunity_email") == (
        body["_regardingobjectid_value"],
        body["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        body["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
    )


def test_disassociate_and_associate_with_ref(dv: Dv) -> None:
    """DELETE …/$ref clears the regarding and PUT …/$ref sets it again."""
    removed = dv.call("DELETE", f"emails({TRACKED_EMAIL_ID})/regardingobjectid_account_email/$ref")
    cleared = dv.call("GET", f"emails({TRACKED_EMAIL_ID})?$select=_regardingobjectid_value").json()
    added = dv.call(
        "PUT",
        f"emails({TRACKED_EMAIL_ID})/regardingobjectid_account_email/$ref",
        {"@odata.id": f"{dv.api}accounts({ADVENTURE_WORKS_ACCOUNT_ID})"},
    )
    after = dv.call("GET", f"emails({TRACKED_EMAIL_ID})?$select=_regardingobjectid_value").json()
    assert (204, None, 204, ADVENTURE_WORKS_ACCOUNT_ID) == (
        removed.status_code,
        cleared["_regardingobjectid_value"],
        added.status_code,
        after["_regardingobjectid_value"],
    )


def test_delete_cascades_to_parties(dv: Dv) -> None:
    """Deleting an email deletes its parties."""
    response = dv.call("DELETE", f"emails({TRACKED_EMAIL_ID})")
    parties = dv.call("GET", f"activityparties?$filter=_activityid_value eq {TRACKED_EMAIL_ID}").json()["value"]
    assert (204, []) == (response.status_code, parties)
    assert 404 == dv.call("GET", f"emails({TRACKED_EMAIL_ID})").status_code


def test_delete_missing_is_404(dv: Dv) -> None:
    """Deleting a missing record answers 404."""
    assert 404 == dv.call("DELETE", f"accounts({uuid.uuid4()})").status_code


def test_whoami(dv: Dv) -> None:
    """WhoAmI answers the caller's systemuserid with business unit and organization."""
    body = dv.call("GET", "WhoAmI").json()
    me = dv.call("GET", f"systemusers({body['UserId']})?$select=internalemailaddress").json()
    assert dv.api + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse" == body["@odata.context"]
    assert {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"} == set(body)
    assert ALICE == me["internalemailaddress"]


@pytest.mark.parametrize(("user", "expected"), [(ALICE, 1), (BOB, 0)])
def test_retrieve_user_privilege_by_name(devstack: Any, user: str, expected: int) -> None:
    """RetrieveUserPrivilegeByPrivilegeName lists prvUseOfficeApps only for users who have it."""
    client = Dv(devstack, user)
    user_id = client.call("GET", "WhoAmI").json()["UserId"]
    body = client.call(
        "GET",
        f"systemusers({user_id})/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName"
        "(PrivilegeName='prvUseOfficeApps')",
    ).json()
    assert expected == len(body["RolePrivileges"])
    if expected:
        assert {"Depth": "Global", "PrivilegeName": "prvUseOfficeApps"}.items() <= body["RolePrivileges"][0].items()


def test_missing_token_is_401_with_challenge(devstack: Any) -> None:
    """No bearer token: 401, empty body and a WWW-Authenticate naming the resource."""
    response = devstack.http.get(devstack.api + "WhoAmI", timeout=10)
    challenge = response.headers["WWW-Authenticate"]
    assert (401, b"") == (response.status_code, response.content)
    assert challenge.startswith("Bearer authorization_uri=") and f"resource_id={devstack.url}/" in challenge


def test_invalid_token_is_401(devstack: Any) -> None:
    """A garbage or add-in token is refused."""
    addin = devstack.token(ALICE)
    for token in ("garbage", addin):
        response = devstack.http.get(devstack.api + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert 401 == response.status_code


def test_read_only_user_cannot_create(devstack: Any) -> None:
    """A user without create on email gets 403 0x80040220 naming prvCreateEmail."""
    response = Dv(devstack, CAROL).call("POST", "emails", new_email())
    error = response.json()["error"]
    assert (403, "0x80040220") == (response.status_code, error["code"])
    assert "is missing prvCreateEmail privilege" in error["message"]


def test_read_only_user_can_read(devstack: Any) -> None:
    """A read-only user reads accounts."""
    response = Dv(devstack, CAROL).call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name")
    assert 200 == response.status_code


def test_request_log_names_the_user(dv: Dv) -> None:
    """Each Web API request is logged with the caller's UPN."""
    dv.stack.clear_log()
    dv.call("GET", "WhoAmI")
    assert [("GET", "/api/data/v9.2/WhoAmI", 200, ALICE)] == [
        (e["method"], e["path"], e["status"], e["user"]) for e in dv.stack.requests_log("dataverse")
    ]
