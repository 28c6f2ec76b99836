"""The worker's Microsoft Graph client: the app's own (application) identity in one tenant of this deployment.

- Tokens: MSAL client credentials for `https://graph.microsoft.com/.default`, with the app's client id, credential
  and authority from Settings; MSAL's token cache keeps the token until it expires
  (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow). MSAL talks through
  the app's `requests.Session` with our timeout (`auth.msal_http`).
- Every request asks for immutable ids, so an item keeps its id when it moves between folders
  (https://learn.microsoft.com/en-us/graph/outlook-immutable-id), and holds one of the mailbox's 4 slots
  (`graph_limits`); 429 / 503 / 504 are sent again after Retry-After, within bounds.
- Errors become `graph_errors` exceptions; logs carry the tenant, the operation, the status and Graph's code, never
  a token, a body, a path (it names the mailbox) or an address.
- Links Graph hands back (`@odata.nextLink`, `@odata.deltaLink`) are followed only below the configured Graph URL, so
  the token never goes anywhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import requests

from addin_api.auth.app_tokens import AppTokenProvider
from addin_api.dataverse.retry import parse_retry_after
from addin_api.errors import ApiError
from addin_api.settings import Settings
from addin_api.sync.graph_errors import GraphAuthenticationFailed, GraphError, GraphUnavailable, graph_error
from addin_api.sync.graph_limits import MailboxSlots, RetryPolicy

__all__ = [
    "DELTA_FIELDS",
    "GRAPH_RESOURCE",
    "AppTokens",
    "DeltaPage",
    "GraphClient",
    "MailFolder",
    "MasterCategory",
    "WellKnownFolder",
]

logger = logging.getLogger(__name__)

GRAPH_RESOURCE = "https://graph.microsoft.com"
IMMUTABLE_IDS = 'IdType="ImmutableId"'
# The folders the worker opens by their well-known names.
# https://learn.microsoft.com/en-us/graph/api/resources/mailfolder
WellKnownFolder = Literal["inbox", "sentitems", "drafts", "deleteditems", "junkemail", "outbox"]
# What a delta round needs to decide whether a message is to be tracked; its body and attachments come with
# `message` once it is. https://learn.microsoft.com/en-us/graph/api/resources/message
DELTA_FIELDS = (
    "categories",
    "internetMessageId",
    "conversationId",
    "parentFolderId",
    "subject",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "sentDateTime",
    "receivedDateTime",
    "isDraft",
    "hasAttachments",
)


@dataclass(frozen=True)
class MailFolder:
    """A mail folder: its (immutable) id and its display name (and how many folders it holds, when listed)."""

    id: str
    display_name: str
    child_folder_count: int = 0
    # The folder it is in (read by `folder`; empty where the listing did not ask for it).
    parent_id: str = ""


@dataclass(frozen=True)
class MasterCategory:
    """One of the mailbox's master categories. https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory"""

    id: str
    display_name: str
    color: str


@dataclass(frozen=True)
class DeltaPage:
    """One page of a folder's message delta: changed messages, removed ids, and the link to go on with.

    Exactly one of `next_link` (more pages in this round) and `delta_link` (the cursor of the next round) is set.
    https://learn.microsoft.com/en-us/graph/delta-query-messages
    """

    items: tuple[dict[str, Any], ...]
    removed: tuple[str, ...]
    next_link: str | None
    delta_link: str | None


class AppTokens:
    """Graph tokens for the app itself in one tenant, as the callable `GraphClient` takes: the app's client-credentials
    provider (auth/app_tokens.py) asked for the Graph resource, its failures told as Graph's authentication failure."""

    def __init__(self, settings: Settings, session: requests.Session, tenant_id: str) -> None:
        self._tenant_id = tenant_id
        try:
            self._provider: AppTokenProvider | None = AppTokenProvider(settings, session, tenant_id)
        except ApiError:  # a tenant this deployment does not serve: every call fails the same way
            self._provider = None

    def __call__(self, force_refresh: bool = False) -> str:
        """An app-only Graph token (from MSAL's cache while it is valid, unless `force_refresh`).

        GraphAuthenticationFailed (its code the service's stable error code) when none can be had.
        """
        if self._provider is None:
            raise self._failed(0, "configuration_error")
        try:
            return self._provider.token(GRAPH_RESOURCE, force_refresh=force_refresh)
        except ApiError as exc:
            raise self._failed(exc.status, exc.code) from None

    def _failed(self, status: int, code: str) -> GraphAuthenticationFailed:
        logger.warning("graph_token_failed", extra={"tid": self._tenant_id, "status": status, "error": code})
        return GraphAuthenticationFailed(status, code)


class GraphClient:
    """Microsoft Graph v1.0 for the mailboxes of one tenant, as the app itself; each operation is one request."""

    def __init__(
        self,
        session: requests.Session,
        graph_url: str,
        token: Callable[[bool], str],
        *,
        timeout: tuple[float, float],
        tenant_id: str,
        slots: MailboxSlots | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._session = session
        self._base = graph_url.rstrip("/") + "/v1.0"
        self._token = token
        self._timeout = timeout
        self._tenant_id = tenant_id
        self._slots = slots if slots is not None else MailboxSlots()
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep = sleep

    @classmethod
    def for_app(cls, settings: Settings, session: requests.Session, tenant_id: str, **options: Any) -> GraphClient:
        """The client of `settings.graph_url` with the app's own tokens in `tenant_id` (options: see __init__)."""
        tokens = AppTokens(settings, session, tenant_id)
        return cls(session, settings.graph_url, tokens, timeout=settings.timeout, tenant_id=tenant_id, **options)

    # -- operations ---------------------------------------------------------------------------------------------

    def mail_folder(self, user: str, name: WellKnownFolder) -> MailFolder:
        """The user's folder by well-known name (`inbox`, `sentitems`)."""
        body = self._call("mail_folder", "GET", user, f"{self._mailbox(user)}/mailFolders/{name}")
        return MailFolder(_required_id(body), str(body.get("displayName", "")))

    def folder(self, user: str, folder_id: str) -> MailFolder:
        """One folder by id, with the folder it is in; GraphNotFound when it was deleted."""
        url = f"{self._mailbox(user)}/mailFolders/{_id(folder_id)}"
        body = self._call(
            "folder", "GET", user, url, params={"$select": "id,displayName,parentFolderId,childFolderCount"}
        )
        return MailFolder(
            _required_id(body),
            str(body.get("displayName", "")),
            int(body.get("childFolderCount") or 0),
            str(body.get("parentFolderId") or ""),
        )

    def child_folders(self, user: str, parent_id: str | None = None) -> list[MailFolder]:
        """The folders directly under `parent_id` (None: the top-level folders), every page of them."""
        url = (
            f"{self._mailbox(user)}/mailFolders/{_id(parent_id)}/childFolders"
            if parent_id
            else f"{self._mailbox(user)}/mailFolders"
        )
        params: dict[str, str] | None = {"$select": "id,displayName,childFolderCount", "$top": "100"}
        found: list[MailFolder] = []
        while True:
            body = self._call("child_folders", "GET", user, url, params=params)
            found += [
                MailFolder(_required_id(f), str(f.get("displayName", "")), int(f.get("childFolderCount") or 0))
                for f in body.get("value", [])
                if isinstance(f, dict)
            ]
            next_link = body.get("@odata.nextLink")
            if not isinstance(next_link, str):
                return found
            url, params = self._own(next_link), None

    def messages_delta(
        self,
        user: str,
        folder_id: str,
        select: Sequence[str] = DELTA_FIELDS,
        *,
        delta_link: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[DeltaPage]:
        """The pages of one delta round of a folder's messages, one request each, fetched as they are consumed.

        Without `delta_link` the round starts from nothing and asks for the `select`ed fields (later links carry
        them); with it, the round continues from that cursor. SyncStateLost when the cursor is no longer valid.
        """
        prefer = IMMUTABLE_IDS if page_size is None else f"odata.maxpagesize={page_size}, {IMMUTABLE_IDS}"
        url = (
            self._own(delta_link)
            if delta_link
            else f"{self._mailbox(user)}/mailFolders/{_id(folder_id)}/messages/delta"
        )
        params: dict[str, str] | None = None if delta_link else {"$select": ",".join(select)}
        return self._delta("messages_delta", user, url, params, prefer)

    def calendar_delta(self, user: str, start: str, end: str, *, delta_link: str | None = None) -> Iterator[DeltaPage]:
        """The pages of one delta round of the primary calendar's events between `start` and `end` (ISO 8601),
        times in UTC. https://learn.microsoft.com/en-us/graph/api/event-delta"""
        prefer = f'outlook.timezone="UTC", {IMMUTABLE_IDS}'
        url = self._own(delta_link) if delta_link else f"{self._mailbox(user)}/calendarView/delta"
        params: dict[str, str] | None = None if delta_link else {"startDateTime": start, "endDateTime": end}
        return self._delta("calendar_delta", user, url, params, prefer)

    def _delta(
        self, operation: str, user: str, url: str, params: dict[str, str] | None, prefer: str
    ) -> Iterator[DeltaPage]:
        """A delta round's pages from `url`, one request each, following next links (ours only) as consumed."""
        while True:
            page = delta_page(self._call(operation, "GET", user, url, params=params, prefer=prefer))
            yield page
            if page.next_link is None:
                return
            url, params = self._own(page.next_link), None

    def message_headers(self, user: str, message_id: str) -> list[dict[str, Any]]:
        """A message's Internet headers (`internetMessageHeaders`, returned only when selected)."""
        url = f"{self._mailbox(user)}/messages/{_id(message_id)}"
        body = self._call("message_headers", "GET", user, url, params={"$select": "internetMessageHeaders"})
        found = body.get("internetMessageHeaders")
        return [h for h in found if isinstance(h, dict)] if isinstance(found, list) else []

    def sent_message_id(self, user: str, internet_message_id: str) -> str | None:
        """The id of the message in Sent Items with this Internet message id, or None."""
        url = f"{self._mailbox(user)}/mailFolders/sentitems/messages"
        literal = internet_message_id.replace("'", "''")
        params = {"$filter": f"internetMessageId eq '{literal}'", "$select": "id", "$top": "1"}
        found = [m for m in self._call("sent_message", "GET", user, url, params=params).get("value", [])]
        return str(found[0]["id"]) if found and isinstance(found[0], dict) and found[0].get("id") else None

    def send_message(self, user: str, message: dict[str, Any]) -> None:
        """Send a message from the user's mailbox: a draft (Graph's `message` JSON, attachments inline) then its
        `send`, so the Internet message id the draft was given is the one sent.
        https://learn.microsoft.com/en-us/graph/api/user-post-messages https://learn.microsoft.com/en-us/graph/api/message-send"""
        draft = self._call("create_draft", "POST", user, f"{self._mailbox(user)}/messages", body=message)
        self._call("send_draft", "POST", user, f"{self._mailbox(user)}/messages/{_id(_required_id(draft))}/send")

    def set_event_categories(self, user: str, event_id: str, categories: Sequence[str]) -> None:
        """Replace an event's categories."""
        url = f"{self._mailbox(user)}/events/{_id(event_id)}"
        self._call("set_event_categories", "PATCH", user, url, body={"categories": list(categories)})

    def message(self, user: str, message_id: str) -> dict[str, Any]:
        """One message with its attachments (Graph's JSON)."""
        url = f"{self._mailbox(user)}/messages/{_id(message_id)}"
        return self._call("message", "GET", user, url, params={"$expand": "attachments"})

    def set_categories(self, user: str, message_id: str, categories: Sequence[str]) -> None:
        """Replace a message's categories (display names; Graph's PATCH sends the whole list)."""
        url = f"{self._mailbox(user)}/messages/{_id(message_id)}"
        self._call("set_categories", "PATCH", user, url, body={"categories": list(categories)})

    def master_categories(self, user: str) -> list[MasterCategory]:
        """The mailbox's master categories."""
        body = self._call("master_categories", "GET", user, f"{self._mailbox(user)}/outlook/masterCategories")
        return [_category(c) for c in body.get("value", []) if isinstance(c, dict)]

    def create_master_category(self, user: str, display_name: str, color: str = "none") -> MasterCategory:
        """Add a master category (its name cannot change afterwards); GraphConflict when the name is taken."""
        url = f"{self._mailbox(user)}/outlook/masterCategories"
        body = self._call(
            "create_master_category", "POST", user, url, body={"displayName": display_name, "color": color}
        )
        return _category(body)

    def create_subscription(self, user: str, subscription: dict[str, Any]) -> dict[str, Any]:
        """Create a change-notification subscription (Graph first POSTs a validation request to its URLs).
        https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions"""
        return self._call("create_subscription", "POST", user, f"{self._base}/subscriptions", body=subscription)

    def renew_subscription(self, user: str, subscription_id: str, expiration: str) -> dict[str, Any]:
        """Extend a subscription's expirationDateTime; GraphNotFound when Graph has removed it."""
        url = f"{self._base}/subscriptions/{_id(subscription_id)}"
        return self._call("renew_subscription", "PATCH", user, url, body={"expirationDateTime": expiration})

    def delete_subscription(self, user: str, subscription_id: str) -> None:
        """Delete a subscription; GraphNotFound when Graph has removed it already."""
        self._call("delete_subscription", "DELETE", user, f"{self._base}/subscriptions/{_id(subscription_id)}")

    # -- internals ----------------------------------------------------------------------------------------------

    def _mailbox(self, user: str) -> str:
        return f"{self._base}/users/{quote(user, safe='@')}"

    def _own(self, link: str) -> str:
        """A link Graph handed back, refused unless it points below our Graph URL (the token goes only there)."""
        if not link.startswith(self._base + "/"):
            raise GraphError(0, "foreign_link")
        return link

    def _call(
        self,
        operation: str,
        method: str,
        user: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        prefer: str = IMMUTABLE_IDS,
    ) -> dict[str, Any]:
        """Send one request (again after 429/503/504, within the policy) and return its decoded JSON body.

        A 401 is answered once with a fresh token: Graph refused one MSAL still holds (revoked, or clocks apart).
        """
        attempt, waited, refreshed = 0, 0.0, False
        refresh = False
        while True:
            attempt += 1
            with self._slots.hold(user):
                response = self._send(operation, method, url, params, body, prefer, refresh=refresh)
            refresh = False
            if response.status_code < 400:
                return self._decoded(operation, response)
            if response.status_code == 401 and not refreshed:
                refreshed = refresh = True
                continue
            delay = self._policy.delay(attempt, response.status_code, response.headers.get("Retry-After"), waited)
            if delay is None:
                raise self._error(operation, response)
            logger.info(
                "graph_retry",
                extra={"tid": self._tenant_id, "operation": operation, "status": response.status_code, "wait": delay},
            )
            self._sleep(delay)
            waited += delay

    def _send(
        self,
        operation: str,
        method: str,
        url: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        prefer: str,
        *,
        refresh: bool,
    ) -> requests.Response:
        token = self._token(refresh)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Prefer": prefer}
        try:
            return self._session.request(method, url, params=params, json=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:  # timeouts, refused connections, TLS failures
            logger.warning(
                "graph_unreachable", extra={"tid": self._tenant_id, "operation": operation, "error": type(exc).__name__}
            )
            raise GraphUnavailable(0, type(exc).__name__) from None

    def _decoded(self, operation: str, response: requests.Response) -> dict[str, Any]:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._logged(operation, GraphUnavailable(response.status_code, "not_json"))
        return body

    def _error(self, operation: str, response: requests.Response) -> GraphError:
        try:
            body = response.json()
        except ValueError:
            body = None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return self._logged(operation, graph_error(response.status_code, body, retry_after))

    def _logged(self, operation: str, error: GraphError) -> GraphError:
        logger.warning(
            "graph_failed",
            extra={"tid": self._tenant_id, "operation": operation, "status": error.status, "code": error.code},
        )
        return error


def delta_page(body: dict[str, Any]) -> DeltaPage:
    """A delta page from Graph's JSON: entries with `@removed` are removals, the others changed messages."""
    entries = body.get("value")
    if not isinstance(entries, list):
        raise GraphError(200, "malformed_delta_page")
    items = tuple(e for e in entries if isinstance(e, dict) and "@removed" not in e)
    removed = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "@removed" in e and "id" in e)
    next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
    if isinstance(next_link, str):
        return DeltaPage(items, removed, next_link, None)
    if isinstance(delta_link, str):
        return DeltaPage(items, removed, None, delta_link)
    raise GraphError(200, "malformed_delta_page")


def _id(value: str) -> str:
    """An id as one path segment."""
    return quote(value, safe="")


def _required_id(body: dict[str, Any]) -> str:
    """The `id` of an answer, which every Graph entity has."""
    value = body.get("id")
    if not isinstance(value, str) or not value:
        raise GraphError(200, "malformed_answer")
    return value


def _category(body: dict[str, Any]) -> MasterCategory:
    return MasterCategory(_required_id(body), str(body.get("displayName", "")), str(body.get("color", "none")))
