"""The service's exception tree and its one mapping to problem+json (RFC 9457).

    ApiError                      status  code
    ├── InvalidToken              401     invalid_token          (+ WWW-Authenticate: Bearer error="invalid_token")
    │   └── TokenExpired          401     token_expired
    ├── ClaimsChallenge           401     claims_challenge       (+ claims, WWW-Authenticate insufficient_claims)
    ├── InsufficientScope         403     insufficient_scope
    ├── TenantNotAllowed          403     tenant_not_allowed
    ├── ClientAppNotAllowed       403     client_app_not_allowed
    ├── ConsentRequired           403     consent_required
    ├── AccessBlockedByPolicy     403     access_blocked_by_policy
    ├── AddInNotAllowed           403     add_in_not_allowed
    ├── DataverseForbidden        403     dataverse_forbidden
    ├── ApplicationUserMissing    403     application_user_missing   (app-only: no application user)
    ├── ImpersonationNotAllowed   403     impersonation_not_allowed  (app-only: no prvActOnBehalfOfAnotherUser)
    ├── ConfigurationError        503     configuration_error    (the deployment is misconfigured)
    ├── NotFound                  404     not_found
    ├── Conflict                  409     conflict
    ├── PayloadTooLarge           413     payload_too_large
    ├── ValidationFailed          422     validation_failed      (+ errors: {field: [messages]}, the first 20)
    ├── Throttled                 429     throttled              (+ Retry-After)
    ├── DataverseUnavailable      503     dataverse_unavailable  (+ Retry-After)
    ├── IdentityUnavailable       503     identity_unavailable   (+ Retry-After)
    ├── DataverseError            502     dataverse_error        (an answer we could not interpret)
    ├── FolderRuleRefused         422     folder_rule_refused    (a folder-tracking rule that cannot be made)
    │   ├── FolderTrackingDisabled        folder_tracking_disabled   (the organization does not use it)
    │   ├── FolderRuleLimit               folder_rule_limit      (+ limit)
    │   ├── FolderNotInInbox              folder_not_in_inbox
    │   └── NoMailbox                     no_mailbox
    ├── MailboxForbidden          403     mailbox_forbidden      (Microsoft Graph refused the user's mailbox)
    ├── MailboxUnavailable        503     mailbox_unavailable    (+ Retry-After: Graph throttling or down)
    └── SyncUnavailable           503     sync_unavailable       (no mailbox sync shares this deployment's state)

Messages are ours: never Dataverse's or Entra's text, tokens or email content.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """Base of every error the API reports; class attributes give the HTTP status, stable code and title."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.retry_after = retry_after

    def extra(self) -> dict[str, Any]:
        """Members added to the problem document besides the standard ones."""
        return {}

    def headers(self) -> dict[str, str]:
        """Response headers this error adds."""
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return {}


class InvalidToken(ApiError):
    """The bearer token is missing, malformed, forged or otherwise unacceptable."""

    status = 401
    code = "invalid_token"
    title = "The access token is not valid"

    def headers(self) -> dict[str, str]:
        """RFC 6750 §3: tell the client to get a new token."""
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class TokenExpired(InvalidToken):
    """The bearer token (or the assertion presented at OBO) has expired."""

    code = "token_expired"
    title = "The access token has expired"


class ClaimsChallenge(ApiError):
    """Entra requires a step-up (MFA, conditional access): the client must get a token with these claims."""

    status = 401
    code = "claims_challenge"
    title = "Additional sign-in claims are required"

    def __init__(self, claims: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.claims = claims

    def extra(self) -> dict[str, Any]:
        """Pass the claims challenge through so the client can call getAccessToken({authChallenge})."""
        return {"claims": self.claims}

    def headers(self) -> dict[str, str]:
        """https://learn.microsoft.com/en-us/entra/identity-platform/claims-challenge"""
        escaped = self.claims.replace("\\", "\\\\").replace('"', '\\"')
        return {"WWW-Authenticate": f'Bearer error="insufficient_claims", claims="{escaped}"'}


class InsufficientScope(ApiError):
    """The token does not carry the `access_as_user` scope."""

    status = 403
    code = "insufficient_scope"
    title = "The access token lacks the required scope"

    def headers(self) -> dict[str, str]:
        """RFC 6750 §3.1."""
        return {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="access_as_user"'}


class TenantNotAllowed(ApiError):
    """The caller's tenant is not onboarded."""

    status = 403
    code = "tenant_not_allowed"
    title = "This organization is not allowed to use this add-in"


class ClientAppNotAllowed(ApiError):
    """The token was requested by an application we do not accept (`azp`)."""

    status = 403
    code = "client_app_not_allowed"
    title = "The calling application is not allowed"


class ConsentRequired(ApiError):
    """The user or an administrator has not consented to the add-in's access to Dataverse."""

    status = 403
    code = "consent_required"
    title = "Consent is required for this add-in to access Dynamics 365"


class AccessBlockedByPolicy(ApiError):
    """Conditional access blocks the user without a challenge the client could satisfy."""

    status = 403
    code = "access_blocked_by_policy"
    title = "Access is blocked by your organization's policy"


class AddInNotAllowed(ApiError):
    """The user lacks the `prvUseOfficeApps` privilege ("Use Dynamics 365 App for Outlook")."""

    status = 403
    code = "add_in_not_allowed"
    title = "You haven't been authorized to use this app"


class DataverseForbidden(ApiError):
    """Dataverse refused the operation for the user's privileges."""

    status = 403
    code = "dataverse_forbidden"
    title = "You do not have the privileges for this operation in Dynamics 365"


class ApplicationUserMissing(ApiError):
    """An app-only call: the environment has no application user for the app registration (403 `0x80072560`)."""

    status = 403
    code = "application_user_missing"
    title = "The app has no application user in this Dynamics 365 environment"


class ImpersonationNotAllowed(ApiError):
    """An app-only call on behalf of a user: the application user lacks prvActOnBehalfOfAnotherUser."""

    status = 403
    code = "impersonation_not_allowed"
    title = "The app's application user may not act on behalf of other users (prvActOnBehalfOfAnotherUser)"


class ConfigurationError(ApiError):
    """The deployment's app registration or settings are wrong (bad secret, scope not configured)."""

    status = 503
    code = "configuration_error"
    title = "The add-in service is misconfigured"


class NotFound(ApiError):
    """The activity or record does not exist, or the user cannot see it."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ApiError):
    """A concurrent change won (ETag mismatch)."""

    status = 409
    code = "conflict"
    title = "The record was changed by someone else"


class PayloadTooLarge(ApiError):
    """The request body is over the limit."""

    status = 413
    code = "payload_too_large"
    title = "The request body is too large"


class ValidationFailed(ApiError):
    """The request does not match the schema; `errors` names each field (the first MAX_ERRORS messages)."""

    status = 422
    code = "validation_failed"
    title = "The request is not valid"

    def __init__(self, errors: dict[str, Any], detail: str | None = None) -> None:
        super().__init__(detail)
        self.errors = errors

    def extra(self) -> dict[str, Any]:
        """Field-level messages, capped so that a body with a million mistakes answers a few kilobytes."""
        shown, omitted = capped_errors(self.errors)
        return {"errors": shown, "errorsOmitted": omitted} if omitted else {"errors": shown}


# Messages shown in one problem document, and the length a field name (which the client chose) is cut to.
MAX_ERRORS = 20
MAX_NAME = 64


def capped_errors(errors: dict[str, Any], limit: int = MAX_ERRORS) -> tuple[dict[str, Any], int]:
    """The first `limit` messages of a `{field: [messages] | {…}}` tree, in its order, and how many were left out."""
    shown, _, omitted = _cap(errors, limit)
    assert isinstance(shown, dict)
    return shown, omitted


def _cap(node: Any, room: int) -> tuple[dict[str, Any] | list[str], int, int]:
    """What to show of `node` with room for `room` messages: (shown, messages shown, messages left out)."""
    if isinstance(node, dict):
        shown: dict[str, Any] = {}
        kept = omitted = 0
        for key, value in node.items():
            if kept >= room:
                omitted += _count(value)
                continue
            part, part_kept, part_omitted = _cap(value, room - kept)
            if part_kept:
                shown.setdefault(_name(key), part)
            kept += part_kept
            omitted += part_omitted
        return shown, kept, omitted
    messages = node if isinstance(node, list | tuple) else [node]
    kept_messages = [str(m) for m in messages[:room]]
    return kept_messages, len(kept_messages), len(messages) - len(kept_messages)


def _count(node: Any) -> int:
    """How many messages a `{field: [messages] | {…}}` tree holds."""
    total = 0
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        else:
            total += len(item) if isinstance(item, list | tuple) else 1
    return total


def _name(key: Any) -> str:
    """A field name as shown: the client chose it, so it is cut to MAX_NAME characters."""
    name = str(key)
    return name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…"


class Throttled(ApiError):
    """Dataverse service protection limits were hit; the client waits `Retry-After` seconds."""

    status = 429
    code = "throttled"
    title = "Dynamics 365 is busy; try again shortly"


class DataverseUnavailable(ApiError):
    """Dataverse is down or timing out."""

    status = 503
    code = "dataverse_unavailable"
    title = "Dynamics 365 is not reachable right now"


class IdentityUnavailable(ApiError):
    """The identity provider (token endpoint or signing keys) is down or timing out."""

    status = 503
    code = "identity_unavailable"
    title = "Sign-in service is not reachable right now"


class DataverseError(ApiError):
    """Dataverse answered in a way we could not interpret."""

    status = 502
    code = "dataverse_error"
    title = "Dynamics 365 returned an unexpected answer"


class FolderRuleRefused(ApiError):
    """A folder-tracking rule that cannot be made; each subclass names why."""

    status = 422
    code = "folder_rule_refused"
    title = "The folder cannot be tracked"


class FolderTrackingDisabled(FolderRuleRefused):
    """The organization does not use folder-level tracking."""

    code = "folder_tracking_disabled"
    title = "Your organization does not use folder-level tracking"


class FolderRuleLimit(FolderRuleRefused):
    """The user has as many rules as the organization allows."""

    code = "folder_rule_limit"
    title = "You have as many folder rules as your organization allows"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Your organization allows {limit} folder tracking rules per user")
        self.limit = limit

    def extra(self) -> dict[str, Any]:
        """The limit, so the pane can say it."""
        return {"limit": self.limit}


class FolderNotInInbox(FolderRuleRefused):
    """The folder is not under the user's Inbox (or does not exist)."""

    code = "folder_not_in_inbox"
    title = "Only folders under your Inbox can be tracked"


class NoMailbox(FolderRuleRefused):
    """The user has no mailbox in Dataverse."""

    code = "no_mailbox"
    title = "You have no mailbox in Dynamics 365"


class MailboxForbidden(ApiError):
    """Microsoft Graph refused to let the add-in read the user's mailbox."""

    status = 403
    code = "mailbox_forbidden"
    title = "The add-in may not read your mail folders"


class MailboxUnavailable(ApiError):
    """Microsoft Graph is throttling, down or timing out for the user's mailbox."""

    status = 503
    code = "mailbox_unavailable"
    title = "Your mailbox is not reachable right now"


class SyncUnavailable(ApiError):
    """The deployment shares no state with a mailbox sync (or it cannot be reached): nothing can wait to be sent."""

    status = 503
    code = "sync_unavailable"
    title = "Mailbox synchronization is not available"
