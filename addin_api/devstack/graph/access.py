"""Who calls the emulated Graph and what they may reach: token verification, permissions, mailbox concurrency.

Tokens are verified like the emulated Dataverse verifies its own (our signature, the v1 issuer of the token's
tenant, audience `https://graph.microsoft.com`). A delegated token (`scp`) reaches only its user's own mailbox; an
application token (`roles`) reaches every mailbox of its tenant (a real tenant narrows that with an application
access policy). https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import jwt

from addin_api.devstack.config import DevUser
from addin_api.devstack.graph.errors import GraphError, access_denied
from addin_api.devstack.graph.tokens import GRAPH_RESOURCE
from addin_api.devstack.identity import TokenRejected, v1_issuer, verify_token
from addin_api.devstack.state import DevstackState

# The permissions that allow reading or writing each kind of resource (the wider ones include the narrower).
# https://learn.microsoft.com/en-us/graph/permissions-reference
MAIL_READ = frozenset({"mail.readbasic", "mail.read", "mail.readwrite", "mail.readbasic.all"})
MAIL_WRITE = frozenset({"mail.readwrite"})
MAIL_SEND = frozenset({"mail.send"})
CALENDAR_READ = frozenset({"calendars.read", "calendars.readwrite"})
CALENDAR_WRITE = frozenset({"calendars.readwrite"})
SETTINGS_READ = frozenset({"mailboxsettings.read", "mailboxsettings.readwrite"})
SETTINGS_WRITE = frozenset({"mailboxsettings.readwrite"})


@dataclass(frozen=True)
class Caller:
    """The principal of a Graph request: an app, acting for a user (delegated) or as itself (application)."""

    app_id: str
    tenant_id: str
    user: DevUser | None  # the signed-in user of a delegated token
    principal_id: str  # the user's or the service principal's object id
    permissions: frozenset[str]  # lower-cased scp or roles

    def require(self, allowed: frozenset[str]) -> None:
        """Refuse (403) unless the token carries one of `allowed`."""
        if not self.permissions & allowed:
            raise access_denied()

    def reach(self, owner: DevUser) -> None:
        """Refuse (403) a mailbox the caller may not open: another user's with a delegated token, another tenant's."""
        if owner.tenant_id != self.tenant_id or (self.user is not None and self.user.oid != owner.oid):
            raise access_denied()


def invalid_token(message: str) -> GraphError:
    """Graph's 401. https://learn.microsoft.com/en-us/graph/resolve-auth-errors"""
    return GraphError(401, "InvalidAuthenticationToken", message)


def verify_graph_token(state: DevstackState, header: str) -> Caller:
    """Verify an `Authorization` header presented to Graph and return the caller; GraphError 401 if refused."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise invalid_token("Access token is empty.")
    try:
        tid = str(jwt.decode(token, options={"verify_signature": False}).get("tid", ""))
        claims = verify_token(state, token, audience=GRAPH_RESOURCE, issuer=v1_issuer(tid))
    except jwt.PyJWTError as exc:
        raise invalid_token("IDX14100: JWT is not well formed.") from exc
    except TokenRejected as exc:
        if exc.expired:
            raise invalid_token("Lifetime validation failed, the token is expired.") from exc
        cause = exc.__cause__
        if isinstance(cause, jwt.InvalidAudienceError):
            raise invalid_token("Access token validation failure. Invalid audience.") from exc
        raise invalid_token("Access token validation failure.") from exc
    app_id = str(claims.get("appid") or claims.get("azp") or "")
    if "scp" in claims:
        user = state.config.user_by_oid(tid, str(claims["oid"]))
        if user is None:
            raise invalid_token("Access token validation failure.")
        permissions = frozenset(str(claims["scp"]).lower().split())
        return Caller(app_id, tid, user, user.oid, permissions)
    roles = claims.get("roles")
    permissions = frozenset(str(r).lower() for r in roles) if isinstance(roles, list) else frozenset()
    return Caller(app_id, tid, None, str(claims["oid"]), permissions)


class MailboxConcurrency:
    """Requests in flight per (app, mailbox), refused beyond the limit as Outlook does (4 by default).

    https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
    """

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = {}

    def enter(self, key: tuple[str, str]) -> bool:
        """Take a slot; False when the mailbox already has `limit` requests of this app in flight."""
        with self._lock:
            count = self._in_flight.get(key, 0)
            if count >= self.limit:
                return False
            self._in_flight[key] = count + 1
            return True

    def leave(self, key: tuple[str, str]) -> None:
        """Give a slot back."""
        with self._lock:
            count = self._in_flight.get(key, 0) - 1
            if count <= 0:
                self._in_flight.pop(key, None)
            else:
                self._in_flight[key] = count
