"""The emulated Dataverse side of mailbox synchronization over real HTTPS: tables, privileges, messages and seed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from dataverse_support import ALICE, WebApi

from addin_api.devstack.dataverse.mail_rows import mailbox_id

BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
DAVE = "dave@contoso.example"
MEGAN = "megan@contoso.example"
NS = "Microsoft.Dynamics.CRM"


class Dv(WebApi):
    """A tiny Web API client for one user."""

    def me(self) -> str:
        """The caller's systemuserid."""
        return str(self.json("WhoAmI")["UserId"])


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def _user_id(dv: Dv, upn: str) -> str:
    rows = dv.json(f"systemusers?$select=systemuserid&$filter=internalemailaddress eq '{upn}'")["value"]
    return str(rows[0]["systemuserid"])


def _new_email(dv: Dv, recipients: bool = True) -> str:
    body: dict[str, Any] = {"subject": "Proposal", "description": "<p>Attached.</p>", "directioncode": True}
    if recipients:
        body["email_activity_parties"] = [
            {"participationtypemask": 2, "addressused": "dana@fabrikam.example"},
        ]
    response = dv.call("POST", "emails", body)
    assert 204 == response.status_code, response.text
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


# ---- seed ---------------------------------------------------------------------------------------------------


def test_seeded_mailboxes_follow_each_users_scenario(devstack: Any) -> None:
    """Alice's mailbox is approved and enabled everywhere, bob's is not approved, carol's incoming sync is off."""
    admin = Dv(devstack, MEGAN)
    select = (
        "$select=emailaddress,emailrouteraccessapproval,incomingemaildeliverymethod,outgoingemaildeliverymethod,"
        "actdeliverymethod,incomingemailstatus,outgoingemailstatus,actstatus,_regardingobjectid_value"
    )
    boxes = {b["emailaddress"]: b for b in admin.json(f"mailboxes?{select}")["value"]}
    alice, bob, carol, dave = (boxes[u] for u in (ALICE, BOB, CAROL, DAVE))
    assert (1, 2, 2, 1, 1, 1, 1) == tuple(
        alice[c]
        for c in (
            "emailrouteraccessapproval",
            "incomingemaildeliverymethod",
            "outgoingemaildeliverymethod",
            "actdeliverymethod",
            "incomingemailstatus",
            "outgoingemailstatus",
            "actstatus",
        )
    )
    assert 2 == bob["emailrouteraccessapproval"] and 0 == bob["incomingemailstatus"]
    assert (1, 0) == (carol["emailrouteraccessapproval"], carol["incomingemaildeliverymethod"])
    # every other user: as Dataverse creates a mailbox, pending approval and never tested
    assert (2, 0, 0, 0) == (
        dave["emailrouteraccessapproval"],
        dave["incomingemailstatus"],
        dave["outgoingemailstatus"],
        dave["actstatus"],
    )
    assert _user_id(admin, ALICE) == alice["_regardingobjectid_value"]


def test_seeded_personal_options_and_organization_defaults(dv: Dv) -> None:
    """Alice tracks replies to Dynamics 365 email with auto-create off; the organization row has the defaults, and
    folder-level tracking on."""
    me = dv.me()
    settings = dv.json(f"usersettingscollection({me})?$select=incomingemailfilteringmethod,autocreatecontactonpromote")
    assert (1, 0) == (settings["incomingemailfilteringmethod"], settings["autocreatecontactonpromote"])
    org = dv.json("organizations")["value"]
    assert 1 == len(org)
    assert {
        "isfolderbasedtrackingenabled": True,  # the demo organization's choice; Dataverse's default is off
        "maxfolderbasedtrackingmappings": 25,
        "requireapprovalforuseremail": True,
        "ignoreinternalemail": False,
        "emailcorrelationenabled": True,
        "trackingprefix": "CRM:",
        "trackingtokeniddigits": 3,
    }.items() <= org[0].items()
    assert dv.json("WhoAmI")["OrganizationId"] == org[0]["organizationid"]


def test_user_row_names_its_mailbox_and_approval(dv: Dv) -> None:
    """systemusers carry emailrouteraccessapproval and their default mailbox, as Approve-CrmEmailAddress reads them."""
    me = dv.me()
    user = dv.json(f"systemusers({me})?$select=emailrouteraccessapproval,_defaultmailbox_value")
    assert (1, mailbox_id(me)) == (user["emailrouteraccessapproval"], user["_defaultmailbox_value"])


# ---- option values and columns ----------------------------------------------------------------------------


def test_option_values_are_validated_per_column(dv: Dv) -> None:
    """actdeliverymethod numbers its options differently: 2 is None there, 3 is out of range (only incoming has 3)."""
    box = mailbox_id(dv.me())
    assert 204 == dv.call("PATCH", f"mailboxes({box})", {"actdeliverymethod": 2}).status_code
    refused = dv.call("PATCH", f"mailboxes({box})", {"actdeliverymethod": 3})
    assert (400, "0x8004431a") == (refused.status_code, refused.json()["error"]["code"])
    assert 204 == dv.call("PATCH", f"mailboxes({box})", {"incomingemaildeliverymethod": 3}).status_code
    refused = dv.call("PATCH", f"mailboxes({box})", {"outgoingemaildeliverymethod": 3})
    assert 400 == refused.status_code
    settings = f"usersettingscollection({dv.me()})"
    assert 400 == dv.call("PATCH", settings, {"incomingemailfilteringmethod": 5}).status_code
    assert 204 == dv.call("PATCH", settings, {"incomingemailfilteringmethod": 4}).status_code
    assert 4 == dv.json(f"{settings}?$select=incomingemailfilteringmethod")["incomingemailfilteringmethod"]


def test_tracking_folder_rule_keeps_the_documented_lengths_and_links(dv: Dv, devstack: Any) -> None:
    """mailboxtrackingfolders: exchangefolderid ≤ 120, a mailbox and a polymorphic regarding bound by navigation."""
    from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID

    box = mailbox_id(dv.me())
    rule = {
        "exchangefolderid": "A" * 120,
        "exchangefoldername": "Fabrikam",
        "folderonboardingstatus": 0,
        "mailboxid@odata.bind": f"/mailboxes({box})",
        "regardingobjectid_account@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
    }
    created = dv.call("POST", "mailboxtrackingfolders", rule, Prefer="return=representation")
    assert 201 == created.status_code, created.text
    body = created.json()
    assert (box, FABRIKAM_ACCOUNT_ID) == (body["_mailboxid_value"], body["_regardingobjectid_value"])
    assert "account" == body["regardingobjecttypecode"]
    too_long = dv.call("POST", "mailboxtrackingfolders", {**rule, "exchangefolderid": "A" * 121})
    assert (400, "0x80044331") == (too_long.status_code, too_long.json()["error"]["code"])
    listed = dv.json(f"mailboxes({box})/Mailbox_MailboxTrackingFolder?$select=exchangefoldername")["value"]
    assert ["Fabrikam"] == [r["exchangefoldername"] for r in listed]


def test_usersettings_and_organization_rows_are_never_created_or_deleted(dv: Dv, devstack: Any) -> None:
    """usersettings supports GET and PATCH only; the organization row cannot be created, deleted or changed by users."""
    me = dv.me()
    assert 405 == dv.call("POST", "usersettingscollection", {"timezonecode": 4}).status_code
    assert 405 == dv.call("DELETE", f"usersettingscollection({me})").status_code
    org_id = dv.json("organizations?$select=organizationid")["value"][0]["organizationid"]
    refused = dv.call("PATCH", f"organizations({org_id})", {"isfolderbasedtrackingenabled": False})
    assert (403, "0x80040220") == (refused.status_code, refused.json()["error"]["code"])
    admin = Dv(devstack, MEGAN)
    assert 204 == admin.call("PATCH", f"organizations({org_id})", {"isfolderbasedtrackingenabled": False}).status_code
    assert 405 == admin.call("DELETE", f"organizations({org_id})").status_code


# ---- privileges -------------------------------------------------------------------------------------------


def test_users_see_and_change_only_their_own_mailbox_and_settings(dv: Dv, devstack: Any) -> None:
    """At Basic depth alice lists only her mailbox; another user's mailbox or settings answer the access error."""
    me = dv.me()
    listed = dv.json("mailboxes?$select=emailaddress")["value"]
    assert [ALICE] == [b["emailaddress"] for b in listed]
    bob = _user_id(dv, BOB)
    for method, path, body in (
        ("GET", f"mailboxes({mailbox_id(bob)})", None),
        ("PATCH", f"mailboxes({mailbox_id(bob)})", {"testemailconfigurationscheduled": True}),
        ("GET", f"usersettingscollection({bob})", None),
        ("PATCH", f"usersettingscollection({bob})", {"incomingemailfilteringmethod": 0}),
    ):
        refused = dv.call(method, path, body)
        assert (403, "0x80040220") == (refused.status_code, refused.json()["error"]["code"]), (method, path)
    assert 1 == len(dv.json("usersettingscollection")["value"])
    # a row she may not read is absent from an $expand of an email she may read
    bob_box = mailbox_id(bob)
    admin = Dv(devstack, MEGAN)
    email = _new_email(admin)
    admin.call("PUT", f"emails({email})/sendermailboxid/$ref", {"@odata.id": f"{dv.api}mailboxes({bob_box})"})
    expanded = dv.json(f"emails({email})?$select=subject&$expand=sendermailboxid($select=emailaddress)")
    assert expanded["sendermailboxid"] is None
    assert (
        BOB
        == admin.json(f"emails({email})?$expand=sendermailboxid($select=emailaddress)")["sendermailboxid"][
            "emailaddress"
        ]
    )
    # her own: Test & Enable is hers to schedule
    assert (
        204 == dv.call("PATCH", f"mailboxes({mailbox_id(me)})", {"testemailconfigurationscheduled": True}).status_code
    )
    assert len(admin.json("mailboxes")["value"]) > 5


def test_privilege_functions_report_the_basic_depth(devstack: Any) -> None:
    """RetrieveUserPrivilegeByPrivilegeName says Basic for a user's mailbox privilege, Global for the admin's;
    RetrievePrincipalAccess grants a user rights on her own mailbox only."""
    admin = Dv(devstack, MEGAN)
    alice, bob = _user_id(admin, ALICE), _user_id(admin, BOB)

    def depth(user_id: str, name: str) -> list[str]:
        path = f"systemusers({user_id})/{NS}.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='{name}')"
        return [p["Depth"] for p in admin.json(path)["RolePrivileges"]]

    assert (["Basic"], ["Global"], [], ["Global"]) == (
        depth(alice, "prvReadMailbox"),
        depth(admin.me(), "prvReadMailbox"),
        depth(alice, "prvApproveRejectEmailAddress"),
        depth(admin.me(), "prvApproveRejectEmailAddress"),
    )

    def access(user_id: str, box: str) -> str:
        path = f"systemusers({user_id})/{NS}.RetrievePrincipalAccess(Target=@tid)"
        tid = quote(f"{{'@odata.id':'mailboxes({box})'}}")
        return str(admin.json(f"{path}?@tid={tid}")["AccessRights"])

    assert "ReadAccess" in access(alice, mailbox_id(alice))
    assert "None" == access(alice, mailbox_id(bob))


def test_read_only_user_reads_but_cannot_change_her_mailbox(devstack: Any) -> None:
    """Carol's read-only role reads her own mailbox and settings but cannot write them."""
    carol = Dv(devstack, CAROL)
    me = carol.me()
    assert CAROL == carol.json(f"mailboxes({mailbox_id(me)})?$select=emailaddress")["emailaddress"]
    refused = carol.call("PATCH", f"usersettingscollection({me})", {"incomingemailfilteringmethod": 0})
    assert 403 == refused.status_code


def test_approval_needs_the_approve_email_addresses_privilege(dv: Dv, devstack: Any) -> None:
    """Only a holder of prvApproveRejectEmailAddress approves an address; user and mailbox show one approval."""
    dave = _user_id(dv, DAVE)
    me = dv.me()
    refused = dv.call("PATCH", f"mailboxes({mailbox_id(me)})", {"emailrouteraccessapproval": 3})
    assert (403, "0x80040220") == (refused.status_code, refused.json()["error"]["code"])
    assert "prvApproveRejectEmailAddress" in refused.json()["error"]["message"]
    refused = dv.call("PATCH", f"systemusers({dave})", {"emailrouteraccessapproval": 1})
    assert 403 == refused.status_code
    admin = Dv(devstack, MEGAN)
    assert 204 == admin.call("PATCH", f"systemusers({dave})", {"emailrouteraccessapproval": 1}).status_code
    box = admin.json(f"mailboxes({mailbox_id(dave)})?$select=emailrouteraccessapproval")
    assert 1 == box["emailrouteraccessapproval"]
    assert 204 == admin.call("PATCH", f"mailboxes({mailbox_id(dave)})", {"emailrouteraccessapproval": 3}).status_code
    assert 3 == admin.json(f"systemusers({dave})?$select=emailrouteraccessapproval")["emailrouteraccessapproval"]


def test_sync_statuses_need_organization_wide_write(dv: Dv, devstack: Any) -> None:
    """A user cannot mark her own mailbox's tests passed; an organization-wide writer (sync, admin) can."""
    box = mailbox_id(_user_id(dv, DAVE))
    own = mailbox_id(dv.me())
    refused = dv.call("PATCH", f"mailboxes({own})", {"incomingemailstatus": 2})
    assert 403 == refused.status_code
    admin = Dv(devstack, MEGAN)
    written = admin.call(
        "PATCH", f"mailboxes({box})", {"incomingemailstatus": 2, "hostid": "worker-1"}, Prefer="return=representation"
    )
    assert 200 == written.status_code, written.text
    assert (2, "worker-1") == (written.json()["incomingemailstatus"], written.json()["hostid"])


def test_new_user_gets_a_pending_mailbox_and_settings(devstack: Any) -> None:
    """Creating a systemuser creates its mailbox (pending approval, not run) and its usersettings row."""
    admin = Dv(devstack, MEGAN)
    created = admin.call(
        "POST",
        "systemusers",
        {"firstname": "Nestor", "lastname": "Wilke", "internalemailaddress": "nestor@contoso.example"},
    )
    assert 204 == created.status_code, created.text
    user_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    box = admin.json(f"mailboxes({mailbox_id(user_id)})")
    assert ("nestor@contoso.example", 2, 0, user_id) == (
        box["emailaddress"],
        box["emailrouteraccessapproval"],
        box["incomingemailstatus"],
        box["_ownerid_value"],
    )
    settings = admin.json(f"usersettingscollection({user_id})")
    assert 1 == settings["incomingemailfilteringmethod"]
    assert isinstance(settings["trackingtokenid"], int)


def test_sync_application_user_reads_every_mailbox_and_impersonates_at_the_owners_depth(devstack: Any) -> None:
    """The worker's application user lists every mailbox and writes statuses; impersonating alice it sees only hers."""
    from test_application_users import as_app

    alice = Dv(devstack).me()
    everyone = devstack.http.get(f"{devstack.api}mailboxes?$select=emailaddress", headers=as_app(devstack), timeout=10)
    assert 200 == everyone.status_code, everyone.text
    addresses = {b["emailaddress"] for b in everyone.json()["value"]}
    assert {ALICE, BOB, CAROL, DAVE} <= addresses
    written = devstack.http.patch(
        f"{devstack.api}mailboxes({mailbox_id(alice)})",
        json={"incomingemailstatus": 1, "testemailconfigurationscheduled": False},
        headers=as_app(devstack),
        timeout=10,
    )
    assert 204 == written.status_code, written.text
    oid = devstack.config["users"][0]["oid"]
    as_alice = devstack.http.get(
        f"{devstack.api}mailboxes?$select=emailaddress", headers=as_app(devstack, CallerObjectId=oid), timeout=10
    )
    assert [ALICE] == [b["emailaddress"] for b in as_alice.json()["value"]]


# ---- messages ---------------------------------------------------------------------------------------------


def test_send_email_issue_send_queues_as_pending_send(dv: Dv) -> None:
    """IssueSend true → statuscode 6 Pending Send (statecode 1), from the owner's mailbox; the answer has Subject."""
    email = _new_email(dv)
    response = dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": True, "TrackingToken": ""})
    assert 200 == response.status_code, response.text
    body = response.json()
    assert body["@odata.context"].endswith(f"$metadata#{NS}.SendEmailResponse")
    assert "Proposal" == body["Subject"]
    row = dv.json(f"emails({email})?$select=statuscode,statecode,_sendermailboxid_value,senton")
    assert (6, 1, mailbox_id(dv.me()), None) == (
        row["statuscode"],
        row["statecode"],
        row["_sendermailboxid_value"],
        row["senton"],
    )
    pending = dv.json(f"emails?$select=subject&$filter={quote('statuscode eq 6')}")["value"]
    assert email in [p["activityid"] for p in pending]


def test_send_email_without_issue_send_records_it_as_sent(dv: Dv) -> None:
    """IssueSend false → statuscode 3 Sent with senton; the tracking token is kept and ends the Subject."""
    email = _new_email(dv)
    token = dv.call("POST", "GetTrackingTokenEmail", {"Subject": "Proposal"}).json()["TrackingToken"]
    response = dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": False, "TrackingToken": token})
    assert 200 == response.status_code, response.text
    assert f"Proposal {token}" == response.json()["Subject"]
    row = dv.json(f"emails({email})?$select=statuscode,statecode,trackingtoken,senton")
    assert (3, 1, token) == (row["statuscode"], row["statecode"], row["trackingtoken"])
    assert row["senton"]


def test_send_email_refuses_what_cannot_be_sent(dv: Dv) -> None:
    """Sending twice, sending without recipients, or without IssueSend fails and changes nothing."""
    email = _new_email(dv)
    assert 200 == dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": True}).status_code
    again = dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": True})
    assert (400, "0x80040203") == (again.status_code, again.json()["error"]["code"])
    lonely = _new_email(dv, recipients=False)
    refused = dv.call("POST", f"emails({lonely})/{NS}.SendEmail", {"IssueSend": True})
    assert 400 == refused.status_code and "recipient" in refused.json()["error"]["message"]
    assert 1 == dv.json(f"emails({lonely})?$select=statuscode")["statuscode"]
    assert 400 == dv.call("POST", f"emails({lonely})/{NS}.SendEmail", {"TrackingToken": "x"}).status_code
    assert 404 == dv.call("GET", f"emails({email})/{NS}.SendEmail").status_code


def test_send_email_needs_write_on_the_email(devstack: Any, dv: Dv) -> None:
    """A read-only user cannot send alice's draft (403), and the draft stays a draft."""
    email = _new_email(dv)
    carol = Dv(devstack, CAROL)
    refused = carol.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": True})
    assert (403, "0x80040220") == (refused.status_code, refused.json()["error"]["code"])
    assert 1 == dv.json(f"emails({email})?$select=statuscode")["statuscode"]


def test_failed_email_can_be_sent_again(dv: Dv, devstack: Any) -> None:
    """A Failed email (statuscode 8, statecode 0 Open) can be queued again."""
    email = _new_email(dv)
    assert 204 == dv.call("PATCH", f"emails({email})", {"statuscode": 8}).status_code
    assert 0 == dv.json(f"emails({email})?$select=statecode")["statecode"]
    assert 200 == dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": True}).status_code
    assert 6 == dv.json(f"emails({email})?$select=statuscode")["statuscode"]


def test_tracking_tokens_carry_prefix_base_user_and_a_running_number(dv: Dv, devstack: Any) -> None:
    """GetTrackingTokenEmail answers CRM:<base><user, 3 digits><number, 3 digits>, the number rising per call."""
    response = dv.call("POST", "GetTrackingTokenEmail", {"Subject": "Hello"})
    assert 200 == response.status_code, response.text
    body = response.json()
    assert body["@odata.context"].endswith(f"$metadata#{NS}.GetTrackingTokenEmailResponse")
    first = body["TrackingToken"]
    second = dv.call("POST", f"{NS}.GetTrackingTokenEmail", {"Subject": "Hello"}).json()["TrackingToken"]
    user_number = dv.json(f"usersettingscollection({dv.me()})?$select=trackingtokenid")["trackingtokenid"]
    assert first.startswith(f"CRM:0{user_number:03d}") and len(first) == len("CRM:0001001")
    assert int(second[-3:]) == int(first[-3:]) + 1
    bob = Dv(devstack, BOB).call("POST", "GetTrackingTokenEmail", {"Subject": "Hi"}).json()["TrackingToken"]
    assert bob[5:8] != first[5:8]
    assert 400 == dv.call("POST", "GetTrackingTokenEmail", {}).status_code
    assert 404 == dv.call("GET", "GetTrackingTokenEmail").status_code


def _check(dv: Dv, **params: str) -> dict[str, Any]:
    names = ",".join(f"{k}=@{k.lower()}" for k in params)
    aliases = "&".join(f"@{k.lower()}={quote(repr_literal(v))}" for k, v in params.items())
    response = dv.call("GET", f"CheckIncomingEmail({names})?{aliases}")
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    assert body["@odata.context"].endswith(f"$metadata#{NS}.CheckIncomingEmailResponse")
    return {"ShouldDeliver": body["ShouldDeliver"], "ReasonCode": body["ReasonCode"]}


def repr_literal(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def test_check_incoming_email_follows_the_filtering_options(dv: Dv, devstack: Any) -> None:
    """Reason codes: duplicate 0, no recipient 3, replies only 1, token correlation 2, all 6, sender 5, invalid 7."""
    from addin_api.devstack.seed import DANA_EMAIL, TRACKED_EMAIL_MESSAGE_ID

    base = {"Subject": "Hello", "From": "stranger@elsewhere.example", "To": ALICE, "Cc": "", "Bcc": ""}
    assert {"ShouldDeliver": False, "ReasonCode": 0} == _check(dv, MessageId=TRACKED_EMAIL_MESSAGE_ID, **base)
    fresh = "<fresh-1@elsewhere.example>"
    # alice tracks replies to Dynamics 365 email only (1): an unrelated message does not correlate
    assert {"ShouldDeliver": False, "ReasonCode": 1} == _check(dv, MessageId=fresh, **base)
    # bob's address is not approved, carol does not synchronize incoming email: nobody receives it
    assert 3 == _check(dv, MessageId=fresh, **{**base, "To": f"{BOB};{CAROL}"})["ReasonCode"]
    assert 7 == _check(dv, MessageId=fresh, **{**base, "From": "nobody"})["ReasonCode"]
    # a reply carrying the tracking token of an email sent from Dynamics 365 correlates
    email = _new_email(dv)
    token = dv.call("POST", "GetTrackingTokenEmail", {"Subject": "Proposal"}).json()["TrackingToken"]
    dv.call("POST", f"emails({email})/{NS}.SendEmail", {"IssueSend": False, "TrackingToken": token})
    replied = _check(dv, MessageId=fresh, **{**base, "Subject": f"RE: Proposal {token}"})
    assert {"ShouldDeliver": True, "ReasonCode": 2} == replied
    settings = f"usersettingscollection({dv.me()})"
    dv.call("PATCH", settings, {"incomingemailfilteringmethod": 2})
    assert {"ShouldDeliver": True, "ReasonCode": 5} == _check(dv, MessageId=fresh, **{**base, "From": DANA_EMAIL})
    assert 1 == _check(dv, MessageId=fresh, **base)["ReasonCode"]
    dv.call("PATCH", settings, {"incomingemailfilteringmethod": 0})
    assert {"ShouldDeliver": True, "ReasonCode": 6} == _check(dv, MessageId=fresh, **base)
    admin = Dv(devstack, MEGAN)
    org_id = admin.json("organizations?$select=organizationid")["value"][0]["organizationid"]
    admin.call("PATCH", f"organizations({org_id})", {"ignoreinternalemail": True})
    assert 4 == _check(dv, MessageId=fresh, **{**base, "From": DAVE})["ReasonCode"]


# ---- metadata ---------------------------------------------------------------------------------------------


def test_metadata_describes_the_mailbox_tables(dv: Dv) -> None:
    """$metadata and EntityDefinitions show the new tables, their keys, sets and option values."""
    csdl = dv.call("GET", "$metadata").text
    for entity_set in ("mailboxes", "usersettingscollection", "mailboxtrackingfolders", "organizations"):
        assert f'EntitySet Name="{entity_set}"' in csdl
    definition = dv.json(
        "EntityDefinitions(LogicalName='mailbox')?$select=EntitySetName,PrimaryIdAttribute,OwnershipType"
    )
    assert ("mailboxes", "mailboxid", "UserOwned") == (
        definition["EntitySetName"],
        definition["PrimaryIdAttribute"],
        definition["OwnershipType"],
    )
    act = dv.json(
        "EntityDefinitions(LogicalName='mailbox')/Attributes(LogicalName='actdeliverymethod')/"
        f"{NS}.PicklistAttributeMetadata?$expand=OptionSet"
    )
    options = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in act["OptionSet"]["Options"]}
    assert {0: "Microsoft Dynamics 365 for Outlook", 1: "Server-Side Synchronization", 2: "None"} == options
    folder = dv.json(
        "EntityDefinitions(LogicalName='mailboxtrackingfolder')/Attributes(LogicalName='exchangefolderid')/"
        f"{NS}.StringAttributeMetadata?$select=MaxLength"
    )
    assert 120 == folder["MaxLength"]
    settings = dv.json("EntityDefinitions(LogicalName='usersettings')?$select=EntitySetName,PrimaryIdAttribute")
    assert ("usersettingscollection", "systemuserid") == (settings["EntitySetName"], settings["PrimaryIdAttribute"])
