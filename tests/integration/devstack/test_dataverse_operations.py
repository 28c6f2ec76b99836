"""The emulated Dataverse's other documented operations over real HTTPS: CreateMultiple/UpdateMultiple, conditional
GET, alternate keys, single-property access, RetrievePrincipalAccess, RetrieveVersion and the v9.0/v9.1 roots."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from dataverse_support import WebApi

from addin_api.devstack.seed import ADVENTURE_WORKS_ACCOUNT_ID, DANA_CONTACT_ID, FABRIKAM_ACCOUNT_ID

CAROL = "carol@contoso.example"
ALICE_ID = "5e7a0001-0000-4000-8000-00000000a11c"
CAROL_ID = "5e7a0003-0000-4000-8000-0000000ca201"
CREATE_MULTIPLE = "accounts/Microsoft.Dynamics.CRM.CreateMultiple"
UPDATE_MULTIPLE = "accounts/Microsoft.Dynamics.CRM.UpdateMultiple"
ACCOUNT = "Microsoft.Dynamics.CRM.account"
EVERY_RIGHT = "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess"


class Dv(WebApi):
    """A tiny Web API client for one user."""

    def names(self) -> list[str]:
        """Every account name."""
        return [r["name"] for r in self.call("GET", "accounts?$select=name").json()["value"]]


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def target(**values: Any) -> dict[str, Any]:
    """One typed account for a bulk action."""
    return {"@odata.type": ACCOUNT, **values}


# ---- CreateMultiple / UpdateMultiple --------------------------------------------------------------------------


def test_create_multiple_answers_the_ids(dv: Dv) -> None:
    """CreateMultiple creates every target and answers their ids in order."""
    response = dv.call("POST", CREATE_MULTIPLE, {"Targets": [target(name="Bulk A"), target(name="Bulk B")]})
    assert 200 == response.status_code, response.text
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    names = [dv.call("GET", f"accounts({i})?$select=name").json()["name"] for i in body["Ids"]]
    assert ["Bulk A", "Bulk B"] == names


def test_create_multiple_is_atomic(dv: Dv) -> None:
    """One bad target rolls the whole request back."""
    before = dv.names()
    response = dv.call("POST", CREATE_MULTIPLE, {"Targets": [target(name="Bulk A"), target(name="x" * 161)]})
    assert 400 == response.status_code
    assert "0x80044331" == response.json()["error"]["code"]
    assert before == dv.names()


def test_create_multiple_needs_odata_type(dv: Dv) -> None:
    """Every target must carry @odata.type, and it must be the bound table's."""
    untyped = dv.call("POST", CREATE_MULTIPLE, {"Targets": [{"name": "Untyped"}]})
    mistyped = dv.call(
        "POST", CREATE_MULTIPLE, {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "firstname": "X"}]}
    )
    assert (400, 400) == (untyped.status_code, mistyped.status_code)
    assert "Untyped" not in dv.names()


def test_create_multiple_without_targets(dv: Dv) -> None:
    """A body without a Targets collection is a 400."""
    assert 400 == dv.call("POST", CREATE_MULTIPLE, {"Records": []}).status_code


def test_create_multiple_is_a_post(dv: Dv) -> None:
    """GET on the action matches no resource: Dataverse's documented 404."""
    response = dv.call("GET", CREATE_MULTIPLE)
    assert 404 == response.status_code
    expected = f"No HTTP resource was found that matches the request URI '{dv.api}{CREATE_MULTIPLE}'."
    assert {"code": "", "message": expected} == response.json()["error"]


def test_post_to_a_function_is_404(dv: Dv) -> None:
    """POST WhoAmI (a function) answers the documented 404."""
    response = dv.call("POST", "WhoAmI", {})
    assert 404 == response.status_code
    assert response.json()["error"]["message"].startswith("No HTTP resource was found that matches the request URI")


@pytest.mark.parametrize(("method", "path"), [("PUT", ""), ("MERGE", "accounts"), ("DELETE", "RetrieveVersion()")])
def test_unrouted_requests_answer_json(dv: Dv, method: str, path: str) -> None:
    """What no route serves is answered with Dataverse's JSON 404, never an HTML page."""
    response = dv.call(method, path)
    assert 404 == response.status_code
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["message"].startswith("No HTTP resource was found that matches the request URI")


def test_create_multiple_checks_the_create_privilege(devstack: Any) -> None:
    """A read-only user gets the missing-privilege 403 and nothing is created."""
    carol = Dv(devstack, CAROL)
    response = carol.call("POST", CREATE_MULTIPLE, {"Targets": [target(name="Carol's")]})
    assert 403 == response.status_code
    assert "prvCreateAccount" in response.json()["error"]["message"]
    assert "Carol's" not in carol.names()


def test_update_multiple(dv: Dv) -> None:
    """UpdateMultiple changes each named row and answers 204."""
    targets = [
        target(accountid=FABRIKAM_ACCOUNT_ID, telephone1="+1 000"),
        target(accountid=ADVENTURE_WORKS_ACCOUNT_ID, telephone1="+1 111"),
    ]
    response = dv.call("POST", UPDATE_MULTIPLE, {"Targets": targets})
    assert 204 == response.status_code, response.text
    phones = [
        dv.call("GET", f"accounts({i})?$select=telephone1").json()["telephone1"]
        for i in (FABRIKAM_ACCOUNT_ID, ADVENTURE_WORKS_ACCOUNT_ID)
    ]
    assert ["+1 000", "+1 111"] == phones


def test_update_multiple_rolls_back_when_a_row_is_missing(dv: Dv) -> None:
    """A missing row fails the request with 404 and the earlier updates are undone."""
    targets = [target(accountid=FABRIKAM_ACCOUNT_ID, telephone1="+1 000"), target(accountid=str(uuid.uuid4()))]
    response = dv.call("POST", UPDATE_MULTIPLE, {"Targets": targets})
    assert 404 == response.status_code
    phone = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=telephone1").json()["telephone1"]
    assert "+1 000" != phone


def test_update_multiple_needs_the_key(dv: Dv) -> None:
    """A target without its primary key is a 400."""
    assert 400 == dv.call("POST", UPDATE_MULTIPLE, {"Targets": [target(name="No key")]}).status_code


# ---- conditional GET ------------------------------------------------------------------------------------------


def test_if_none_match_with_current_etag_is_304(dv: Dv) -> None:
    """A GET naming the current ETag answers 304 with no body; after a change, 200 with the new row."""
    path = f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name"
    etag = dv.call("GET", path).headers["ETag"]
    unchanged = dv.call("GET", path, If_None_Match=etag)
    assert (304, b"") == (unchanged.status_code, unchanged.content)
    assert 204 == dv.call("PATCH", f"accounts({FABRIKAM_ACCOUNT_ID})", {"name": "Fabrikam"}).status_code
    changed = dv.call("GET", path, If_None_Match=etag)
    assert 200 == changed.status_code
    assert "Fabrikam" == changed.json()["name"]
    assert etag != changed.headers["ETag"]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("$select=name&$expand=primarycontactid($select=fullname)", {}),
        ("$select=name", {"Prefer": 'odata.include-annotations="*"'}),
    ],
)
def test_if_none_match_never_304_with_expand_or_annotations(dv: Dv, query: str, headers: dict[str, str]) -> None:
    """With $expand or annotations the row's ETag cannot vouch for what is shown: always 200."""
    path = f"accounts({FABRIKAM_ACCOUNT_ID})?{query}"
    etag = dv.call("GET", path).headers["ETag"]
    assert 200 == dv.call("GET", path, If_None_Match=etag, **headers).status_code


def test_if_none_match_null_is_ignored(dv: Dv) -> None:
    """`If-None-Match: null` (sent to defeat browser caches) names no version."""
    assert 200 == dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})", If_None_Match="null").status_code


# ---- alternate keys -------------------------------------------------------------------------------------------


def test_retrieve_by_alternate_key(dv: Dv) -> None:
    """accounts(accountnumber='ACC-1000') is Fabrikam (key values compare without case)."""
    response = dv.call("GET", "accounts(accountnumber='acc-1000')?$select=name")
    assert 200 == response.status_code, response.text
    assert (FABRIKAM_ACCOUNT_ID, "Fabrikam, Inc.") == (response.json()["accountid"], response.json()["name"])


def test_named_primary_key(dv: Dv) -> None:
    """accounts(accountid=<id>) names the row by its primary key."""
    response = dv.call("GET", f"accounts(accountid={FABRIKAM_ACCOUNT_ID})?$select=name")
    assert "Fabrikam, Inc." == response.json()["name"]


def test_systemuser_primary_key_cannot_be_named(dv: Dv) -> None:
    """systemusers(systemuserid=<id>) is refused: the key is inherited from principal (ownerid)."""
    assert 400 == dv.call("GET", f"systemusers(systemuserid={ALICE_ID})").status_code
    assert 200 == dv.call("GET", f"systemusers({ALICE_ID})?$select=fullname").status_code


def test_missing_alternate_key_is_404(dv: Dv) -> None:
    """No row with the key values: 404 with Dataverse's message."""
    response = dv.call("GET", "accounts(accountnumber='NOPE')")
    assert 404 == response.status_code
    assert (
        "A record with the specified key values does not exist in account entity" == response.json()["error"]["message"]
    )


def test_key_segment_parsing_is_linear(dv: Dv) -> None:
    """A long malformed key segment (spaces inside an unquoted value) is a 400."""
    response = dv.call("GET", "accounts(accountnumber=a" + " " * 20000 + "b)")
    assert 400 == response.status_code


def test_column_that_is_no_key_is_refused(dv: Dv) -> None:
    """A column without an alternate key cannot address a row."""
    response = dv.call("GET", "accounts(name='Fabrikam, Inc.')")
    assert 400 == response.status_code
    assert "The key in the request URI is not valid" in response.json()["error"]["message"]


def test_patch_by_alternate_key_updates(dv: Dv) -> None:
    """PATCH accounts(accountnumber=…) updates the existing row."""
    response = dv.call("PATCH", "accounts(accountnumber='ACC-1000')", {"telephone1": "+1 222"})
    assert 204 == response.status_code, response.text
    assert response.headers["OData-EntityId"].endswith(f"accounts({FABRIKAM_ACCOUNT_ID})")
    assert "+1 222" == dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=telephone1").json()["telephone1"]


def test_upsert_by_alternate_key_creates_with_the_key(dv: Dv) -> None:
    """PATCH with unknown key values creates a row holding them; If-Match makes it update-only (404)."""
    guarded = dv.call("PATCH", "accounts(accountnumber='NEW-1')", {"name": "Guarded"}, If_Match="*")
    assert 404 == guarded.status_code
    response = dv.call("PATCH", "accounts(accountnumber='NEW-1')", {"name": "Upserted"}, Prefer="return=representation")
    assert 201 == response.status_code, response.text
    assert ("Upserted", "NEW-1") == (response.json()["name"], response.json()["accountnumber"])
    assert "Upserted" == dv.call("GET", "accounts(accountnumber='NEW-1')?$select=name").json()["name"]


def test_delete_by_alternate_key(dv: Dv) -> None:
    """DELETE accounts(accountnumber=…) deletes the row."""
    assert 204 == dv.call("DELETE", "accounts(accountnumber='ACC-1001')").status_code
    assert 404 == dv.call("GET", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})").status_code


def test_alternate_key_values_are_unique(dv: Dv) -> None:
    """Creating or updating a row onto another row's key values is refused (412)."""
    created = dv.call("POST", "accounts", {"name": "Copycat", "accountnumber": "ACC-1000"})
    updated = dv.call("PATCH", f"accounts({ADVENTURE_WORKS_ACCOUNT_ID})", {"accountnumber": "acc-1000"})
    assert (412, 412) == (created.status_code, updated.status_code)
    assert "0x80060892" == created.json()["error"]["code"]
    assert "Copycat" not in dv.names()
    assert 204 == dv.call("POST", "accounts", {"name": "No number"}).status_code
    assert 204 == dv.call("POST", "accounts", {"name": "No number either"}).status_code


def test_bind_by_alternate_key(dv: Dv) -> None:
    """@odata.bind may name the related row by an alternate key."""
    body = {"firstname": "Keyed", "parentcustomerid_account@odata.bind": "/accounts(accountnumber='ACC-1001')"}
    response = dv.call("POST", "contacts", body, Prefer="return=representation")
    assert 201 == response.status_code, response.text
    assert ADVENTURE_WORKS_ACCOUNT_ID == response.json()["_parentcustomerid_value"]
    missing = dv.call(
        "POST", "contacts", {**body, "parentcustomerid_account@odata.bind": "/accounts(accountnumber='NO')"}
    )
    assert 404 == missing.status_code


# ---- single properties ----------------------------------------------------------------------------------------


def test_get_a_single_property(dv: Dv) -> None:
    """GET accounts(<id>)/name answers the value with its context; /$value the bare text."""
    response = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})/name")
    assert 200 == response.status_code
    assert {
        "@odata.context": f"{dv.api}$metadata#accounts({FABRIKAM_ACCOUNT_ID})/name",
        "value": "Fabrikam, Inc.",
    } == response.json()
    raw = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})/name/$value")
    assert (200, "Fabrikam, Inc.") == (raw.status_code, raw.text)
    assert raw.headers["Content-Type"].startswith("text/plain")


def test_get_an_empty_property_is_204(dv: Dv) -> None:
    """A column without a value answers 204."""
    assert 204 == dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})/revenue").status_code


def test_put_and_delete_a_single_property(dv: Dv) -> None:
    """PUT {"value": …} sets one column, DELETE empties it; both answer 204."""
    path = f"accounts({FABRIKAM_ACCOUNT_ID})/telephone1"
    assert 204 == dv.call("PUT", path, {"value": "+1 333"}).status_code
    assert "+1 333" == dv.call("GET", path).json()["value"]
    assert 204 == dv.call("DELETE", path).status_code
    assert 204 == dv.call("GET", path).status_code


def test_put_checks_the_value(dv: Dv) -> None:
    """PUT validates like PATCH: a wrong type or a missing `value` is a 400."""
    path = f"accounts({FABRIKAM_ACCOUNT_ID})/name"
    assert 400 == dv.call("PUT", path, {"value": 5}).status_code
    assert 400 == dv.call("PUT", path, {"name": "x"}).status_code
    assert (
        400
        == dv.call("PUT", f"accounts({FABRIKAM_ACCOUNT_ID})/createdon", {"value": "2020-01-01T00:00:00Z"}).status_code
    )


def test_lookup_property_cannot_be_written_directly(dv: Dv) -> None:
    """A lookup is read through _x_value but written through its navigation property."""
    path = f"contacts({DANA_CONTACT_ID})/_parentcustomerid_value"
    assert FABRIKAM_ACCOUNT_ID == dv.call("GET", path).json()["value"]
    response = dv.call("PUT", path, {"value": ADVENTURE_WORKS_ACCOUNT_ID})
    assert 400 == response.status_code
    assert "Use Navigation properties" in response.json()["error"]["message"]


def test_unknown_property_segment_is_404(dv: Dv) -> None:
    """A segment that is no property answers Dataverse's 404 JSON error."""
    response = dv.call("GET", f"accounts({FABRIKAM_ACCOUNT_ID})/nosuch")
    assert 404 == response.status_code
    assert "0x8006088a" == response.json()["error"]["code"]


def test_read_only_user_cannot_put_a_property(devstack: Any) -> None:
    """PUT on a property needs the write privilege."""
    carol = Dv(devstack, CAROL)
    response = carol.call("PUT", f"accounts({FABRIKAM_ACCOUNT_ID})/name", {"value": "Carol's"})
    assert 403 == response.status_code
    assert "prvWriteAccount" in response.json()["error"]["message"]


def test_single_valued_navigation_property(dv: Dv) -> None:
    """GET contacts(<id>)/parentcustomerid_account?$select=name answers the related row."""
    response = dv.call("GET", f"contacts({DANA_CONTACT_ID})/parentcustomerid_account?$select=name")
    assert 200 == response.status_code, response.text
    assert (FABRIKAM_ACCOUNT_ID, "Fabrikam, Inc.") == (response.json()["accountid"], response.json()["name"])
    assert response.json()["@odata.context"].endswith("$metadata#accounts(name)/$entity")
    assert 204 == dv.call("GET", f"contacts({DANA_CONTACT_ID})/parentcustomerid_contact").status_code


def test_count_of_a_collection_navigation_property(dv: Dv) -> None:
    """GET <set>(<id>)/<collection>/$count answers the number as UTF-8 text with a byte order mark (documented)."""
    parties = [{"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"}] * 2
    created = dv.call("POST", "emails", {"subject": "Counted", "email_activity_parties": parties})
    email_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    response = dv.call("GET", f"emails({email_id})/email_activity_parties/$count")
    assert (200, "\ufeff2") == (response.status_code, response.content.decode("utf-8"))
    assert 404 == dv.call("GET", f"emails({uuid.uuid4()})/email_activity_parties/$count").status_code


# ---- functions ------------------------------------------------------------------------------------------------


def access(dv: Dv, user_id: str, reference: str) -> requests.Response:
    """Call RetrievePrincipalAccess with the documented parameter alias."""
    path = f"systemusers({user_id})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)"
    return dv.call("GET", f"{path}?@tid={{'@odata.id':'{reference}'}}")


def test_retrieve_principal_access(dv: Dv) -> None:
    """Alice has every right on an account; Carol (read-only roles) only ReadAccess."""
    alice = access(dv, ALICE_ID, f"accounts({FABRIKAM_ACCOUNT_ID})")
    carol = access(dv, CAROL_ID, f"contacts({DANA_CONTACT_ID})")
    assert 200 == alice.status_code, alice.text
    assert alice.json()["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse")
    assert (EVERY_RIGHT, "ReadAccess") == (alice.json()["AccessRights"], carol.json()["AccessRights"])


def test_retrieve_principal_access_missing_target(dv: Dv) -> None:
    """A target that does not exist is a 404; a target that is no reference a 400."""
    assert 404 == access(dv, ALICE_ID, f"accounts({uuid.uuid4()})").status_code
    path = f"systemusers({ALICE_ID})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid=5"
    assert 400 == dv.call("GET", path).status_code


def test_retrieve_version(dv: Dv) -> None:
    """RetrieveVersion answers a 9.2 version string."""
    response = dv.call("GET", "RetrieveVersion()")
    assert 200 == response.status_code
    assert response.json()["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse")
    assert response.json()["Version"].startswith("9.2.")


# ---- earlier Web API versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v9.0", "v9.1"])
def test_earlier_versions_are_served_like_v92(dv: Dv, version: str) -> None:
    """/api/data/v9.0/ and /v9.1/ answer like v9.2, with their own root in the context and ids."""
    root = dv.api.replace("v9.2", version)
    http = dv.stack.http
    got = http.get(f"{root}accounts({FABRIKAM_ACCOUNT_ID})?$select=name", headers=dv.headers, timeout=10)
    assert 200 == got.status_code
    assert got.json()["@odata.context"].startswith(f"{root}$metadata#accounts(name)")
    created = http.post(f"{root}accounts", json={"name": f"Made in {version}"}, headers=dv.headers, timeout=10)
    assert created.headers["OData-EntityId"].startswith(f"{root}accounts(")
    assert f"Made in {version}" in dv.names()


def test_earlier_versions_need_a_token(devstack: Any) -> None:
    """v9.0 refuses a request without a bearer token, as v9.2 does."""
    response = devstack.http.get(devstack.api.replace("v9.2", "v9.0") + "accounts", timeout=10)
    assert 401 == response.status_code


def test_batch_on_v90_resolves_content_ids(dv: Dv) -> None:
    """A v9.0 change set creates a row and binds to it through its Content-ID, as on v9.2."""
    root = dv.api.replace("v9.2", "v9.0")
    boundary, changeset = f"batch_{uuid.uuid4().hex}", f"changeset_{uuid.uuid4().hex}"

    def part(url: str, body: Any, content_id: str) -> str:
        return (
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {content_id}\r\n\r\nPOST {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            f"{json.dumps(body)}\r\n"
        )

    inner = part(f"{root}accounts", {"name": "Batch v9.0"}, "1") + part(
        f"{root}contacts", {"firstname": "Bound", "parentcustomerid_account@odata.bind": "$1"}, "2"
    )
    body = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n{inner}--{changeset}--\r\n"
        f"--{boundary}--\r\n"
    )
    headers = {**dv.headers, "Content-Type": f"multipart/mixed; boundary={boundary}"}
    response = dv.stack.http.post(f"{root}$batch", data=body, headers=headers, timeout=20)
    assert 200 == response.status_code, response.text
    assert f"OData-EntityId: {root}accounts(" in response.text
    query = "contacts?$select=firstname&$filter=parentcustomerid_account/name eq 'Batch v9.0'"
    assert ["Bound"] == [r["firstname"] for r in dv.call("GET", query).json()["value"]]
