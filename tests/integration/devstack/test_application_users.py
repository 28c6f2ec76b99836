"""Application users and impersonation in the emulated Dataverse, with app-only tokens from real MSAL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from test_dataverse_batch import http_part, parse_batch_response, send_batch
from test_identity import msal_app

from addin_api.devstack.config import ADDIN_CLIENT_ID, DEMO_APPLICATION_USERS, DEMO_USERS
from addin_api.devstack.server import DevstackServer

if TYPE_CHECKING:
    from conftest import Devstack

ODATA = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
APP_USER = DEMO_APPLICATION_USERS[0]
ALICE, BOB, CAROL = DEMO_USERS[0], DEMO_USERS[1], DEMO_USERS[2]
RETURN = {"Prefer": "return=representation"}


def app_token(devstack: Devstack) -> str:
    """An app-only Dataverse token for the add-in's registration, from MSAL's client-credentials grant."""
    result = msal_app(devstack).acquire_token_for_client(scopes=[f"{devstack.config['environmentUrl']}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


def as_app(devstack: Devstack, **headers: str) -> dict[str, str]:
    """OData headers with the app-only token (plus impersonation headers)."""
    return {**ODATA, "Authorization": f"Bearer {app_token(devstack)}", **headers}


def create_email(devstack: Devstack, headers: dict[str, str], subject: str = "Synced") -> requests.Response:
    """POST an email activity and ask for it back."""
    return devstack.http.post(
        devstack.api + "emails", json={"subject": subject}, headers={**headers, **RETURN}, timeout=10
    )


def subjects(devstack: Devstack, subject: str) -> list[Any]:
    """The subjects of emails with `subject`, read as alice (to check that nothing was written)."""
    headers = {**ODATA, "Authorization": f"Bearer {devstack.token('alice@contoso.example', audience='dataverse')}"}
    url = devstack.api + f"emails?$select=subject&$filter=subject eq '{subject}'"
    return [r["subject"] for r in devstack.http.get(url, headers=headers, timeout=10).json()["value"]]


@pytest.fixture()
def bare_devstack(tmp_path: Path) -> Iterator[Devstack]:
    """A devstack of its own where the add-in's app registration has no application user."""
    from conftest import Devstack

    server = DevstackServer(tmp_path, port=0, application_users=()).start()
    stack = Devstack(server)
    try:
        yield stack
    finally:
        stack.http.close()
        server.stop()


def test_app_without_an_application_user_gets_403_not_a_member(bare_devstack: Devstack) -> None:
    """Answer an app-only token whose app has no application user with 403 0x80072560 and Dataverse's message."""
    response = bare_devstack.http.get(bare_devstack.api + "WhoAmI", headers=as_app(bare_devstack), timeout=10)

    assert 403 == response.status_code
    assert {"code": "0x80072560", "message": "The user is not a member of the organization."} == response.json()[
        "error"
    ]


def test_app_with_an_application_user_acts_as_it(devstack: Devstack) -> None:
    """WhoAmI names the application user, whose systemuser carries the app's client id as `applicationid`."""
    headers = as_app(devstack)

    who = devstack.http.get(devstack.api + "WhoAmI", headers=headers, timeout=10)
    record = devstack.http.get(
        devstack.api
        + f"systemusers({APP_USER.systemuserid})?$select=applicationid,fullname,azureactivedirectoryobjectid",
        headers=headers,
        timeout=10,
    ).json()

    assert (200, APP_USER.systemuserid) == (who.status_code, who.json()["UserId"])
    assert (ADDIN_CLIENT_ID, "# Contoso Dataverse Add-in") == (record["applicationid"], record["fullname"])
    assert APP_USER.oid == record["azureactivedirectoryobjectid"]


def test_application_user_has_its_own_roles(devstack: Devstack) -> None:
    """Let the application user write emails (as itself) but not create accounts, which its roles do not grant."""
    email = create_email(devstack, as_app(devstack))
    account = devstack.http.post(
        devstack.api + "accounts", json={"name": "Not for a sync worker"}, headers=as_app(devstack), timeout=10
    )

    assert (201, APP_USER.systemuserid, None) == (
        email.status_code,
        email.json()["_createdby_value"],
        email.json()["_createdonbehalfby_value"],
    )
    assert (403, "0x80040220") == (account.status_code, account.json()["error"]["code"])


def test_caller_object_id_writes_as_the_impersonated_user_on_behalf_of_the_app(devstack: Devstack) -> None:
    """Create as alice by her Entra object id: created by and owned by alice, created on behalf of by the app."""
    response = create_email(devstack, as_app(devstack, CallerObjectId=ALICE.oid))
    who = devstack.http.get(devstack.api + "WhoAmI", headers=as_app(devstack, CallerObjectId=ALICE.oid), timeout=10)

    body = response.json()
    assert 201 == response.status_code, body
    assert (ALICE.systemuserid, ALICE.systemuserid, APP_USER.systemuserid, APP_USER.systemuserid) == (
        body["_createdby_value"],
        body["_ownerid_value"],
        body["_createdonbehalfby_value"],
        body["_modifiedonbehalfby_value"],
    )
    assert ALICE.systemuserid == who.json()["UserId"]


def test_mscrm_caller_id_impersonates_by_systemuserid_and_an_update_records_who_modified(devstack: Devstack) -> None:
    """Impersonate by systemuserid; a later update without impersonation clears `modifiedonbehalfby`."""
    created = create_email(devstack, as_app(devstack, MSCRMCallerID=ALICE.systemuserid)).json()
    url = devstack.api + f"emails({created['activityid']})"

    devstack.http.patch(url, json={"subject": "Edited"}, headers=as_app(devstack), timeout=10).raise_for_status()
    after = devstack.http.get(url, headers=as_app(devstack), timeout=10).json()

    assert (ALICE.systemuserid, APP_USER.systemuserid) == (
        created["_createdby_value"],
        created["_createdonbehalfby_value"],
    )
    assert (APP_USER.systemuserid, None) == (after["_modifiedby_value"], after["_modifiedonbehalfby_value"])


def test_impersonation_uses_the_intersection_of_both_users_privileges(devstack: Devstack) -> None:
    """Refuse what either side lacks: carol (read-only) cannot create via the app, nor the app an account as alice."""
    as_carol = create_email(devstack, as_app(devstack, CallerObjectId=CAROL.oid), subject="As carol")
    account = devstack.http.post(
        devstack.api + "accounts",
        json={"name": "As alice through the app"},
        headers=as_app(devstack, CallerObjectId=ALICE.oid),
        timeout=10,
    )

    assert (403, "0x80040220") == (as_carol.status_code, as_carol.json()["error"]["code"])
    assert CAROL.systemuserid in as_carol.json()["error"]["message"]
    assert (403, "0x80040220") == (account.status_code, account.json()["error"]["code"])
    assert [] == subjects(devstack, "As carol")


def test_a_user_without_act_on_behalf_privilege_cannot_impersonate(devstack: Devstack) -> None:
    """Refuse alice's CallerObjectId for bob with 403 0x80040220 naming prvActOnBehalfOfAnotherUser; write nothing."""
    headers = {
        **ODATA,
        "Authorization": f"Bearer {devstack.token('alice@contoso.example', audience='dataverse')}",
        "CallerObjectId": BOB.oid,
    }

    response = create_email(devstack, headers, subject="Alice as bob")

    error = response.json()["error"]
    assert (403, "0x80040220") == (response.status_code, error["code"])
    assert "missing prvActOnBehalfOfAnotherUser privilege" in error["message"]
    assert [] == subjects(devstack, "Alice as bob")


def test_naming_oneself_is_no_impersonation(devstack: Devstack) -> None:
    """Let alice send her own object id without the privilege: no impersonation, `createdonbehalfby` stays null."""
    headers = {
        **ODATA,
        "Authorization": f"Bearer {devstack.token('alice@contoso.example', audience='dataverse')}",
        "CallerObjectId": ALICE.oid,
    }

    response = create_email(devstack, headers)

    assert (201, ALICE.systemuserid, None) == (
        response.status_code,
        response.json()["_createdby_value"],
        response.json()["_createdonbehalfby_value"],
    )


@pytest.mark.parametrize(
    ("header", "value", "status", "code"),
    [
        ("CallerObjectId", "00000000-0000-4000-8000-0000000000ff", 403, "0x80072560"),
        ("MSCRMCallerID", "00000000-0000-4000-8000-0000000000ff", 404, "0x80040217"),
        ("CallerObjectId", "not-a-guid", 400, "0x80040203"),
    ],
)
def test_impersonating_an_unknown_user_or_a_malformed_id_fails(
    devstack: Devstack, header: str, value: str, status: int, code: str
) -> None:
    """Refuse an object id or systemuserid that names nobody, and a value that is no GUID."""
    response = create_email(devstack, as_app(devstack, **{header: value}), subject="Nobody")

    assert (status, code) == (response.status_code, response.json()["error"]["code"])
    assert [] == subjects(devstack, "Nobody")


def test_impersonation_headers_on_a_batch_apply_to_its_parts(devstack: Devstack) -> None:
    """Create inside a change set as alice through the app: the outer CallerObjectId decides for the part."""
    part = http_part("POST", devstack.api + "emails", {"subject": "Batched as alice"}, content_id="1")

    response = send_batch(devstack, [[part]], Authorization=f"Bearer {app_token(devstack)}", CallerObjectId=ALICE.oid)
    created = devstack.http.get(
        devstack.api + "emails?$select=subject,_createdby_value,_createdonbehalfby_value"
        "&$filter=subject eq 'Batched as alice'",
        headers=as_app(devstack),
        timeout=10,
    ).json()["value"]

    assert [204] == [p["status"] for p in parse_batch_response(response)]
    assert [(ALICE.systemuserid, APP_USER.systemuserid)] == [
        (r["_createdby_value"], r["_createdonbehalfby_value"]) for r in created
    ]


def test_config_lists_application_users(devstack: Devstack, bare_devstack: Devstack) -> None:
    """Name the add-in's application user in /_devstack/config, and none where the environment has none."""
    assert [
        {
            "applicationId": ADDIN_CLIENT_ID,
            "systemuserid": APP_USER.systemuserid,
            "oid": APP_USER.oid,
            "name": "# Contoso Dataverse Add-in",
        }
    ] == devstack.config["applicationUsers"]
    assert [] == bare_devstack.config["applicationUsers"]
