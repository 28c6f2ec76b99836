"""The emulated Graph over plain HTTPS: tokens and reach, folders, messages, extended properties, delta, events."""

from __future__ import annotations

import base64

import jwt
import msal
import pytest
import requests
from conftest import ALICE, Devstack
from graph_support import BOB, IMMUTABLE, Graph, as_app, as_user, deliver, delta_round

CRM_ID = "String {00020329-0000-0000-C000-000000000046} Name crmid"


def test_delegated_and_application_tokens_carry_scp_and_roles(devstack: Devstack) -> None:
    """A delegated token reads /me; an app token reads any mailbox of the tenant but not /me."""
    user, app = as_user(devstack), as_app(devstack)

    me = user.json("GET", "/me")
    bob = app.json("GET", f"/users/{BOB}/mailFolders/inbox")
    app_me = app.call("GET", "/me")

    assert ALICE == me["userPrincipalName"]
    assert "Inbox" == bob["displayName"]
    assert (400, "BadRequest") == (app_me.status_code, app_me.json()["error"]["code"])


def test_obo_for_graph_scopes_gives_a_delegated_graph_token(devstack: Devstack) -> None:
    """On-behalf-of with https://graph.microsoft.com/.default answers every consented permission in scope."""
    config = devstack.config
    response = devstack.http.post(
        f"{config['authority']}/oauth2/v2.0/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": config["clientId"],
            "client_secret": config["clientSecret"],
            "assertion": devstack.token(ALICE),
            "requested_token_use": "on_behalf_of",
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    )
    body = response.json()
    graph = Graph(devstack, body["access_token"])

    assert "https://graph.microsoft.com/Mail.ReadWrite" in body["scope"].split()
    assert ALICE == graph.json("GET", "/me")["userPrincipalName"]


def test_a_delegated_token_reaches_only_its_own_mailbox(devstack: Devstack) -> None:
    """Alice's delegated token is refused bob's mailbox with ErrorAccessDenied, in Graph's error shape."""
    response = as_user(devstack).call("GET", f"/users/{BOB}/messages", headers={"client-request-id": "abc-123"})
    error = response.json()["error"]

    assert (403, "ErrorAccessDenied") == (response.status_code, error["code"])
    assert {"date", "request-id", "client-request-id"} == set(error["innerError"])
    assert "abc-123" == error["innerError"]["client-request-id"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "Access token is empty."),
        ("not-a-jwt", "IDX14100: JWT is not well formed."),
        ("dataverse", "Access token validation failure. Invalid audience."),
    ],
)
def test_bad_tokens_get_401_invalid_authentication_token(devstack: Devstack, token: str | None, message: str) -> None:
    """No token, a malformed one, or a Dataverse token: 401 InvalidAuthenticationToken with Graph's message."""
    if token == "dataverse":
        token = devstack.token(ALICE, audience="dataverse")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = devstack.http.get(f"{devstack.url}/v1.0/me/messages", headers=headers, timeout=10)

    assert (401, "InvalidAuthenticationToken", message) == (
        response.status_code,
        response.json()["error"]["code"],
        response.json()["error"]["message"],
    )


def test_a_token_without_the_permission_is_refused(devstack: Devstack) -> None:
    """A delegated token with only User.Read cannot read mail (403) but can read /me."""
    graph = Graph(devstack, devstack.token(ALICE, audience="graph", scp="User.Read"))

    assert (200, 403) == (graph.call("GET", "/me").status_code, graph.call("GET", "/me/messages").status_code)


def test_folders_are_created_renamed_moved_and_keep_their_ids(devstack: Devstack) -> None:
    """Create a child folder of the Inbox, rename it, move it under Archive: the id stays; duplicates get 409."""
    graph = as_user(devstack)
    created = graph.json("POST", "/me/mailFolders/inbox/childFolders", json={"displayName": "Contoso deals"})
    duplicate = graph.call("POST", "/me/mailFolders/inbox/childFolders", json={"displayName": "contoso DEALS"})
    renamed = graph.json("PATCH", f"/me/mailFolders/{created['id']}", json={"displayName": "Deals"})
    moved = graph.json("POST", f"/me/mailFolders/{created['id']}/move", json={"destinationId": "archive"})
    archive = graph.json("GET", "/me/mailFolders/archive")
    children = graph.json("GET", "/me/mailFolders/archive/childFolders")["value"]

    assert (409, "ErrorFolderExists") == (duplicate.status_code, duplicate.json()["error"]["code"])
    assert created["id"] == renamed["id"] == moved["id"]
    assert (archive["id"], "Deals") == (moved["parentFolderId"], moved["displayName"])
    assert [created["id"]] == [c["id"] for c in children]


def test_move_gives_a_new_id_unless_immutable_ids_are_asked_for(devstack: Devstack) -> None:
    """A move returns a new regular id; with Prefer IdType=ImmutableId the id is the same before and after."""
    graph = as_user(devstack)
    first, second = graph.json("GET", "/me/mailFolders/inbox/messages?$top=2")["value"]
    plain = graph.json("POST", f"/me/messages/{first['id']}/move", json={"destinationId": "archive"})
    immutable = graph.json("GET", f"/me/messages/{second['id']}", IMMUTABLE)["id"]
    kept = graph.json("POST", f"/me/messages/{immutable}/move", IMMUTABLE, json={"destinationId": "archive"})
    old_id = graph.call("GET", f"/me/messages/{first['id']}")

    assert plain["id"] != first["id"]
    assert immutable == kept["id"]
    assert (404, "ErrorItemNotFound") == (old_id.status_code, old_id.json()["error"]["code"])


def test_extended_properties_are_set_expanded_and_filtered(devstack: Devstack) -> None:
    """PATCH a crmid extended property; read it with $expand($filter) and find the message by it with $filter."""
    graph = as_user(devstack)
    target = graph.json("GET", "/me/messages?$top=1")["value"][0]
    graph.json(
        "PATCH",
        f"/me/messages/{target['id']}",
        json={"singleValueExtendedProperties": [{"id": CRM_ID, "value": "act-1"}]},
    )

    plain = graph.json("GET", f"/me/messages/{target['id']}")
    expanded = graph.json(
        "GET", f"/me/messages/{target['id']}?$expand=singleValueExtendedProperties($filter=id eq '{CRM_ID}')"
    )
    found = graph.json(
        "GET",
        f"/me/messages?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_ID}' and ep/value eq 'act-1')",
    )["value"]

    assert "singleValueExtendedProperties" not in plain
    assert [{"id": CRM_ID, "value": "act-1"}] == expanded["singleValueExtendedProperties"]
    assert [target["id"]] == [m["id"] for m in found]


def test_select_filter_and_headers_follow_the_message_resource(devstack: Devstack) -> None:
    """$select narrows the fields; internetMessageHeaders come only when selected; $filter by internetMessageId."""
    delivered = deliver(devstack, inReplyTo="<original@contoso.example>", subject="Re: Offer")
    graph = as_user(devstack)
    imid = delivered["internetMessageId"]

    default = graph.json("GET", f"/me/messages/{delivered['deliveries'][0]['messageId']}")
    selected = graph.json(
        "GET",
        f"/me/messages?$filter=internetMessageId eq '{imid}'&$select=subject,internetMessageHeaders,conversationId",
    )["value"]
    headers = {h["name"]: h["value"] for h in selected[0]["internetMessageHeaders"]}

    assert "internetMessageHeaders" not in default
    assert {"@odata.type", "@odata.etag", "id", "subject", "internetMessageHeaders", "conversationId"} == set(
        selected[0]
    )
    assert ("<original@contoso.example>", imid) == (headers["In-Reply-To"], headers["Message-ID"])


def test_attachments_are_listed_and_served_raw(devstack: Devstack) -> None:
    """A delivered attachment is listed with contentBytes and served raw at $value."""
    content = b"%PDF-1.7 quote"
    delivered = deliver(
        devstack,
        attachments=[
            {"name": "quote.pdf", "contentType": "application/pdf", "contentBase64": base64.b64encode(content).decode()}
        ],
    )
    graph = as_user(devstack)
    mid = delivered["deliveries"][0]["messageId"]

    listed = graph.json("GET", f"/me/messages/{mid}/attachments")["value"]
    raw = graph.call("GET", f"/me/messages/{mid}/attachments/{listed[0]['id']}/$value")

    assert graph.json("GET", f"/me/messages/{mid}")["hasAttachments"]
    assert ("quote.pdf", content) == (listed[0]["name"], base64.b64decode(listed[0]["contentBytes"]))
    assert (content, "application/pdf") == (raw.content, raw.headers["Content-Type"])


def test_expand_attachments_alone_or_with_extended_properties(devstack: Devstack) -> None:
    """$expand=attachments brings each attachment with its content; it combines with an extended-property expand."""
    content = base64.b64encode(b"quote").decode()
    delivered = deliver(
        devstack, attachments=[{"name": "q.txt", "contentType": "text/plain", "contentBase64": content}]
    )
    graph = as_user(devstack)
    mid = delivered["deliveries"][0]["messageId"]
    graph.json("PATCH", f"/me/messages/{mid}", json={"singleValueExtendedProperties": [{"id": CRM_ID, "value": "x"}]})

    alone = graph.json("GET", f"/me/messages/{mid}?$expand=attachments")
    both = graph.json(
        "GET", f"/me/messages/{mid}?$expand=singleValueExtendedProperties($filter=id eq '{CRM_ID}'),attachments"
    )
    unknown = graph.call("GET", f"/me/messages/{mid}?$expand=nothing")

    assert [("q.txt", content)] == [(a["name"], a["contentBytes"]) for a in alone["attachments"]]
    assert "singleValueExtendedProperties" not in alone
    assert ([("q.txt", content)], [{"id": CRM_ID, "value": "x"}]) == (
        [(a["name"], a["contentBytes"]) for a in both["attachments"]],
        both["singleValueExtendedProperties"],
    )
    assert 400 == unknown.status_code


def test_delta_reports_changes_and_moved_out_messages_as_removed(devstack: Devstack) -> None:
    """After the initial round: a delivery, a category change and a move out come back; the moved one as @removed."""
    graph = as_app(devstack)
    base = f"/users/{ALICE}/mailFolders/inbox/messages/delta"
    initial, link = delta_round(graph, base, "odata.maxpagesize=2")
    moved_id, changed_id = initial[0]["id"], initial[1]["id"]
    delivered = deliver(devstack)
    graph.json("PATCH", f"/users/{ALICE}/messages/{changed_id}", json={"categories": ["Tracked to Dynamics 365"]})
    graph.json("POST", f"/users/{ALICE}/messages/{moved_id}/move", json={"destinationId": "archive"})

    changes, next_link = delta_round(graph, link)
    quiet, _ = delta_round(graph, next_link)

    assert 3 == len(initial)
    assert {delivered["deliveries"][0]["messageId"], changed_id, moved_id} == {c["id"] for c in changes}
    assert [{"reason": "deleted"}] == [c["@removed"] for c in changes if "@removed" in c]
    assert [moved_id] == [c["id"] for c in changes if "@removed" in c]
    assert [] == quiet


@pytest.mark.parametrize("change_type", ["created", "updated", "deleted"])
def test_delta_change_type_narrows_later_rounds(devstack: Devstack, change_type: str) -> None:
    """changeType on the initial request (carried in the links) keeps only that kind of change in later rounds."""
    graph = as_app(devstack)
    initial, link = delta_round(graph, f"/users/{ALICE}/mailFolders/inbox/messages/delta?changeType={change_type}")
    delivered = deliver(devstack)["deliveries"][0]["messageId"]
    graph.json("PATCH", f"/users/{ALICE}/messages/{initial[0]['id']}", json={"isRead": True})
    graph.json("POST", f"/users/{ALICE}/messages/{initial[1]['id']}/move", json={"destinationId": "archive"})

    changes, _ = delta_round(graph, link)

    expected = {"created": delivered, "updated": initial[0]["id"], "deleted": initial[1]["id"]}[change_type]
    assert (3, [expected]) == (len(initial), [c["id"] for c in changes])


def test_delta_with_immutable_ids_does_not_remove_an_item_that_came_back(devstack: Devstack) -> None:
    """With immutable ids, a message moved out and back is an update, not a removal."""
    graph = as_app(devstack)
    _, link = delta_round(graph, f"/users/{ALICE}/mailFolders/inbox/messages/delta", IMMUTABLE)
    mid = graph.json("GET", f"/users/{ALICE}/mailFolders/inbox/messages?$top=1", IMMUTABLE)["value"][0]["id"]
    graph.json("POST", f"/users/{ALICE}/messages/{mid}/move", IMMUTABLE, json={"destinationId": "archive"})
    graph.json("POST", f"/users/{ALICE}/messages/{mid}/move", IMMUTABLE, json={"destinationId": "inbox"})

    changes, _ = delta_round(graph, link, IMMUTABLE)

    assert [(mid, False)] == [(c["id"], "@removed" in c) for c in changes]


def test_a_delta_token_from_before_a_reset_is_gone(devstack: Devstack) -> None:
    """A deltaLink from before the mailbox was reset answers 410 SyncStateNotFound (a full resync is due)."""
    graph = as_app(devstack)
    _, link = delta_round(graph, f"/users/{ALICE}/mailFolders/inbox/messages/delta")
    devstack.reset()

    response = graph.call("GET", link)

    assert (410, "SyncStateNotFound") == (response.status_code, response.json()["error"]["code"])


def test_events_have_ical_uids_and_calendar_view_delta_tracks_them(devstack: Devstack) -> None:
    """Create an event (twice with one transactionId: one event), then categorize it: calendarView/delta sees both."""
    graph = as_user(devstack)
    event = {
        "subject": "Quarterly review",
        "start": {"dateTime": "2026-12-10T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-10T11:00:00", "timeZone": "UTC"},
        "transactionId": "txn-1",
    }
    created = graph.json("POST", "/me/events", json=event)
    retried = graph.json("POST", "/me/events", json=event)
    window = "startDateTime=2026-12-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"
    initial, link = delta_round(graph, f"/me/calendarView/delta?{window}")
    graph.json("PATCH", f"/me/events/{created['id']}", json={"categories": ["Tracked to Dynamics 365"]})
    changes, _ = delta_round(graph, link)

    assert created["id"] == retried["id"] and created["iCalUId"]
    assert [created["id"]] == [e["id"] for e in initial]
    assert [["Tracked to Dynamics 365"]] == [e["categories"] for e in changes]


def test_master_categories_keep_their_name_and_are_keyed_by_id(devstack: Devstack) -> None:
    """The seeded tracking category is there; a color change works, a rename is refused, delete removes it."""
    graph = as_app(devstack)
    base = f"/users/{ALICE}/outlook/masterCategories"
    tracked = next(c for c in graph.json("GET", base)["value"] if c["displayName"] == "Tracked to Dynamics 365")

    recolored = graph.json("PATCH", f"{base}/{tracked['id']}", json={"color": "preset4"})
    renamed = graph.call("PATCH", f"{base}/{tracked['id']}", json={"displayName": "Tracked"})
    deleted = graph.call("DELETE", f"{base}/{tracked['id']}")

    assert "preset4" == recolored["color"]
    assert 400 == renamed.status_code
    assert (204, []) == (deleted.status_code, graph.json("GET", base)["value"])


def test_send_draft_moves_it_to_sent_items_and_delivers(devstack: Devstack) -> None:
    """Create a draft with an x- header, send it: it is in Sent Items under the same immutable id; bob received it."""
    graph = as_app(devstack)
    draft = graph.json(
        "POST",
        f"/users/{ALICE}/messages",
        IMMUTABLE,
        json={
            "subject": "Proposal",
            "toRecipients": [{"emailAddress": {"address": BOB}}],
            "internetMessageHeaders": [{"name": "x-crm-token", "value": "CRM:0001"}],
        },
    )
    sent = graph.call("POST", f"/users/{ALICE}/messages/{draft['id']}/send", IMMUTABLE)
    copy = graph.json(
        "GET", f"/users/{ALICE}/messages/{draft['id']}?$select=parentFolderId,isDraft,internetMessageId", IMMUTABLE
    )
    sent_items = graph.json("GET", f"/users/{ALICE}/mailFolders/sentitems")
    received = graph.json(
        "GET", f"/users/{BOB}/mailFolders/inbox/messages?$select=internetMessageId,internetMessageHeaders"
    )

    assert 202 == sent.status_code
    assert (sent_items["id"], False) == (copy["parentFolderId"], copy["isDraft"])
    assert [copy["internetMessageId"]] == [m["internetMessageId"] for m in received["value"]]
    assert {"name": "x-crm-token", "value": "CRM:0001"} in received["value"][0]["internetMessageHeaders"]


def test_a_non_x_header_is_refused(devstack: Devstack) -> None:
    """internetMessageHeaders must be x- headers (400 InvalidInternetMessageHeader)."""
    response = as_user(devstack).call(
        "POST",
        "/me/sendMail",
        json={
            "message": {
                "toRecipients": [{"emailAddress": {"address": BOB}}],
                "internetMessageHeaders": [{"name": "Subject", "value": "x"}],
            }
        },
    )

    assert (400, "InvalidInternetMessageHeader") == (response.status_code, response.json()["error"]["code"])


def test_graph_requests_are_logged_with_kind_graph_and_reset_restores_the_seed(devstack: Devstack) -> None:
    """The request log lists Graph calls as kind graph with the user; reset brings the seeded Inbox back."""
    graph = as_user(devstack)
    devstack.clear_log()
    mid = graph.json("GET", "/me/messages?$top=1")["value"][0]["id"]
    graph.call("DELETE", f"/me/messages/{mid}")
    before = len(graph.json("GET", "/me/mailFolders/inbox/messages")["value"])
    logged = devstack.requests_log("graph")
    devstack.reset()

    assert [("GET", ALICE), ("DELETE", ALICE), ("GET", ALICE)] == [(e["method"], e["user"]) for e in logged]
    assert (2, 3) == (before, len(graph.json("GET", "/me/mailFolders/inbox/messages")["value"]))


def test_graph_tokens_are_v1_with_scp_or_roles(devstack: Devstack) -> None:
    """Delegated Graph tokens carry scp (named permissions as asked), app-only ones roles; both aim at Graph."""
    config = devstack.config
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "client_id": config["clientId"],
        "client_secret": config["clientSecret"],
        "assertion": devstack.token(ALICE),
        "requested_token_use": "on_behalf_of",
        "scope": "https://graph.microsoft.com/Mail.ReadWrite",
    }
    endpoint = f"{config['authority']}/oauth2/v2.0/token"
    delegated = devstack.http.post(endpoint, data=form, timeout=10).json()["access_token"]
    app = as_app(devstack).headers["Authorization"].split()[1]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (delegated, app)]

    assert ("https://graph.microsoft.com", "Mail.ReadWrite", None) == (
        claims[0]["aud"],
        claims[0]["scp"],
        claims[0].get("roles"),
    )
    assert ("https://graph.microsoft.com", None) == (claims[1]["aud"], claims[1].get("scp"))
    assert {"Mail.ReadWrite", "Mail.Send", "Calendars.ReadWrite", "MailboxSettings.ReadWrite"} <= set(
        claims[1]["roles"]
    )


def test_msal_gets_graph_tokens_on_behalf_of_the_user_and_for_the_app(devstack: Devstack) -> None:
    """MSAL, as the service and the worker use it: OBO for Graph's .default and client credentials both work."""
    config = devstack.config
    session = requests.Session()
    session.verify = config["caFile"]
    session.trust_env = False
    app = msal.ConfidentialClientApplication(
        config["clientId"],
        client_credential=config["clientSecret"],
        authority=config["authority"],
        instance_discovery=False,
        http_client=session,
    )

    obo = app.acquire_token_on_behalf_of(devstack.token(ALICE), scopes=["https://graph.microsoft.com/.default"])
    client = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    session.close()

    assert ALICE == Graph(devstack, obo["access_token"]).json("GET", "/me")["userPrincipalName"]
    assert (
        "Inbox"
        == Graph(devstack, client["access_token"]).json("GET", f"/users/{ALICE}/mailFolders/inbox")["displayName"]
    )


def test_an_application_access_policy_scopes_app_tokens(devstack: Devstack) -> None:
    """With a policy naming alice, the app reads her mailbox and gets 'Access to OData is disabled.' for bob's."""
    devstack.http.put(
        f"{devstack.url}/_devstack/graph/access-policy", json={"users": [ALICE]}, timeout=10
    ).raise_for_status()
    graph = as_app(devstack)

    allowed = graph.call("GET", f"/users/{ALICE}/mailFolders/inbox")
    denied = graph.call("GET", f"/users/{BOB}/mailFolders/inbox")

    assert 200 == allowed.status_code
    assert (403, "ErrorAccessDenied", "Access to OData is disabled.") == (
        denied.status_code,
        denied.json()["error"]["code"],
        denied.json()["error"]["message"],
    )
