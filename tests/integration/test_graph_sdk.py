"""Microsoft's Python Graph SDK (msgraph-sdk), unchanged, against the devstack's emulated Graph.

The SDK is only pointed elsewhere: its request adapter's base URL is the devstack's `/v1.0`, its httpx client trusts
the devstack CA, and its credential gets tokens from the dev identity provider (client credentials, as the sync
worker does) or from the control surface (a delegated token, as Outlook holds for the user).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import requests
from azure.core.credentials import AccessToken
from conftest import ALICE, Devstack
from graph_support import WebhookReceiver, wait_until
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.category_color import CategoryColor
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.outlook_category import OutlookCategory
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.graph_request_adapter import options as graph_options
from msgraph_core import GraphClientFactory

T = TypeVar("T")
# The SDK's generated code and its runtime (kiota) warn about their own deprecated classes as they import them.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


class DevstackCredential:
    """An azure-core async TokenCredential: app-only tokens from the token endpoint, or a user's delegated token."""

    def __init__(self, devstack: Devstack, user: str | None = None) -> None:
        self._devstack = devstack
        self._user = user
        self.calls = 0

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """Fetch a Graph token (the SDK caches nothing itself; this is called per request)."""
        self.calls += 1
        config = self._devstack.config
        if self._user is not None:
            token = self._devstack.token(self._user, audience="graph")
        else:
            response = requests.post(
                f"{config['authority']}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": config["clientId"],
                    "client_secret": config["clientSecret"],
                    "scope": " ".join(scopes),
                },
                verify=config["caFile"],
                timeout=10,
            )
            response.raise_for_status()
            token = response.json()["access_token"]
        return AccessToken(token, int(time.time()) + 3000)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> DevstackCredential:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None


def run(devstack: Devstack, scenario: Callable[[GraphServiceClient], Awaitable[T]], user: str | None = None) -> T:
    """Run a scenario with a GraphServiceClient whose only change is where it points and which CA it trusts."""

    async def main() -> T:
        auth = AzureIdentityAuthenticationProvider(DevstackCredential(devstack, user), scopes=[GRAPH_DEFAULT])
        # The SDK wraps the client's transport in its middleware pipeline, which does not close it: keep it to close.
        transport = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=devstack.ca_file))
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=transport, timeout=30), options=graph_options
        )
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = f"{devstack.url}/v1.0"
        try:
            return await scenario(GraphServiceClient(request_adapter=adapter))
        finally:
            await http.aclose()
            await transport.aclose()

    # A thread of its own: another suite (Playwright's sync API) may hold an event loop in the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def alice_oid(devstack: Devstack) -> str:
    """Alice's object id, her Graph user id."""
    return str(next(u["oid"] for u in devstack.config["users"] if u["upn"] == ALICE))


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    """A local webhook receiver that answers Graph's validation handshake."""
    server = WebhookReceiver()
    yield server
    server.stop()


def test_sdk_lists_folders_and_inbox_messages_and_gets_one(devstack: Devstack) -> None:
    """List the well-known folders, the seeded Inbox messages, and get one by id with its internetMessageId."""

    async def scenario(client: GraphServiceClient) -> tuple[list[str], list[str], str | None]:
        user = client.users.by_user_id(alice_oid(devstack))
        folders = await user.mail_folders.get()
        inbox = await user.mail_folders.by_mail_folder_id("inbox").messages.get()
        assert folders is not None and folders.value is not None and inbox is not None and inbox.value
        first = inbox.value[0]
        assert first.id is not None
        again = await user.messages.by_message_id(first.id).get()
        assert again is not None
        return (
            [f.display_name or "" for f in folders.value],
            [m.subject or "" for m in inbox.value],
            again.internet_message_id,
        )

    names, subjects, internet_message_id = run(devstack, scenario)

    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Archive"} <= set(names)
    assert 3 == len(subjects)
    assert internet_message_id is not None and internet_message_id.startswith("<seed-")


def test_sdk_patches_categories_and_moves_a_message_to_a_new_id(devstack: Devstack) -> None:
    """PATCH the categories, then move to Archive: the moved message has a new id, keeps its categories."""

    async def scenario(client: GraphServiceClient) -> tuple[list[str], str, str, list[str]]:
        user = client.users.by_user_id(alice_oid(devstack))
        inbox = await user.mail_folders.by_mail_folder_id("inbox").messages.get()
        assert inbox is not None and inbox.value and inbox.value[0].id
        mid = inbox.value[0].id
        patched = await user.messages.by_message_id(mid).patch(Message(categories=["Tracked to Dynamics 365"]))
        moved = await user.messages.by_message_id(mid).move.post(MovePostRequestBody(destination_id="archive"))
        archive = await user.mail_folders.by_mail_folder_id("archive").get()
        assert patched is not None and moved is not None and moved.id and archive is not None and archive.id
        assert moved.parent_folder_id == archive.id
        return patched.categories or [], mid, moved.id, moved.categories or []

    categories, old_id, new_id, kept = run(devstack, scenario)

    assert ["Tracked to Dynamics 365"] == categories == kept
    assert old_id != new_id


def test_sdk_pages_the_inbox_delta_to_its_delta_link_and_sees_the_removal(devstack: Devstack) -> None:
    """Page an Inbox delta with odata.maxpagesize to the deltaLink; after a move, the next round reports @removed."""

    async def scenario(client: GraphServiceClient) -> tuple[int, int, list[str | None], dict[str, Any]]:
        user = client.users.by_user_id(alice_oid(devstack))
        delta = user.mail_folders.by_mail_folder_id("inbox").messages.delta
        config = RequestConfiguration()  # type: ignore[var-annotated]
        config.headers.add("Prefer", "odata.maxpagesize=2")
        page = await delta.get(request_configuration=config)
        pages, ids = 1, []
        while page is not None and page.odata_next_link:
            ids += [m.id for m in page.value or []]
            page = await delta.with_url(page.odata_next_link).get(request_configuration=config)
            pages += 1
        assert page is not None and page.odata_delta_link
        ids += [m.id for m in page.value or []]
        first = ids[0]
        assert first is not None
        await user.messages.by_message_id(first).move.post(MovePostRequestBody(destination_id="archive"))
        after = await delta.with_url(page.odata_delta_link).get()
        assert after is not None and after.value is not None
        removed = after.value[0].additional_data.get("@removed")
        return pages, len(ids), [m.id for m in after.value], {"first": first, "removed": removed}

    pages, count, changed_ids, seen = run(devstack, scenario)

    assert (2, 3) == (pages, count)
    assert [seen["first"]] == changed_ids
    assert {"reason": "deleted"} == seen["removed"]


def test_sdk_creates_and_lists_master_categories_and_refuses_a_duplicate(devstack: Devstack) -> None:
    """Create a master category, find it (with the seeded tracking category) by id, and get 409 for a duplicate."""

    async def scenario(
        client: GraphServiceClient,
    ) -> tuple[OutlookCategory, list[tuple[str | None, str | None]], int | None]:
        outlook = client.users.by_user_id(alice_oid(devstack)).outlook
        created = await outlook.master_categories.post(
            OutlookCategory(display_name="Key customer", color=CategoryColor.Preset2)
        )
        listed = await outlook.master_categories.get()
        assert created is not None and listed is not None and listed.value is not None
        try:
            await outlook.master_categories.post(OutlookCategory(display_name="key customer"))
            status = None
        except ODataError as error:
            status = error.response_status_code
        return created, [(c.id, c.display_name) for c in listed.value], status

    created, listed, duplicate_status = run(devstack, scenario)

    assert CategoryColor.Preset2 == created.color
    assert (created.id, "Key customer") in listed
    assert "Tracked to Dynamics 365" in {name for _, name in listed}
    assert 409 == duplicate_status


def test_sdk_creates_a_subscription_after_the_validation_handshake(
    devstack: Devstack, receiver: WebhookReceiver
) -> None:
    """Create an Inbox subscription: the receiver got the validation token; a delivery then notifies it."""
    expiry = datetime.now(UTC) + timedelta(hours=2)

    async def scenario(client: GraphServiceClient) -> Subscription | None:
        return await client.subscriptions.post(
            Subscription(
                change_type="created,updated",
                notification_url=f"{receiver.url}/notify",
                lifecycle_notification_url=f"{receiver.url}/lifecycle",
                resource=f"/users/{alice_oid(devstack)}/mailFolders('inbox')/messages",
                expiration_date_time=expiry,
                client_state="sdk-secret",
            )
        )

    created = run(devstack, scenario)
    devstack.http.post(
        f"{devstack.url}/_devstack/mail/deliver",
        json={"from": {"address": "lee@northwind.example"}, "to": [{"address": ALICE}], "subject": "Hello"},
        timeout=10,
    ).raise_for_status()
    notified = wait_until(lambda: receiver.notifications)

    assert created is not None and created.id is not None and created.expiration_date_time is not None
    assert 2 == len(receiver.validations)  # the notification URL and the lifecycle URL
    assert ("created", "sdk-secret", created.id) == (
        notified[0]["changeType"],
        notified[0]["clientState"],
        notified[0]["subscriptionId"],
    )


def test_sdk_send_mail_delivers_inside_the_tenant_and_records_outbound(devstack: Devstack) -> None:
    """sendMail as alice (delegated): bob's Inbox gets it, Sent Items keeps a copy, the outsider is outbound."""
    message = Message(
        subject="Quarterly review",
        body=ItemBody(content="See you Thursday.", content_type=BodyType.Text),
        to_recipients=[
            Recipient(email_address=EmailAddress(address="bob@contoso.example")),
            Recipient(email_address=EmailAddress(address="maria@fabrikam.example")),
        ],
    )

    async def scenario(client: GraphServiceClient) -> tuple[list[str], list[str]]:
        await client.me.send_mail.post(SendMailPostRequestBody(message=message, save_to_sent_items=True))
        sent = await client.me.mail_folders.by_mail_folder_id("sentitems").messages.get()
        assert sent is not None and sent.value is not None
        return [m.subject or "" for m in sent.value], [m.internet_message_id or "" for m in sent.value]

    sent_subjects, sent_ids = run(devstack, scenario, user=ALICE)
    bob_token = devstack.token("bob@contoso.example", audience="graph")
    bob_inbox = devstack.http.get(
        f"{devstack.url}/v1.0/me/mailFolders/inbox/messages",
        headers={"Authorization": f"Bearer {bob_token}"},
        timeout=10,
    ).json()["value"]
    outbound = devstack.http.get(f"{devstack.url}/_devstack/mail/outbound", timeout=10).json()["messages"]

    assert ["Quarterly review"] == sent_subjects
    assert [sent_ids[0]] == [m["internetMessageId"] for m in bob_inbox]
    assert [(sent_ids[0], ["maria@fabrikam.example"])] == [(m["internetMessageId"], m["to"]) for m in outbound]
