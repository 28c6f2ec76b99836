"""Tokens for Microsoft Graph as Entra issues them: v1 access tokens whose audience is `https://graph.microsoft.com`.

Delegated tokens (on-behalf-of, refresh) carry the granted permissions in `scp`; application tokens (client
credentials with `https://graph.microsoft.com/.default`) carry the app's application permissions in `roles`.
https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
https://learn.microsoft.com/en-us/graph/permissions-overview
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from addin_api.devstack.config import DevUser, service_principal_id
from addin_api.devstack.identity import ACCESS_TOKEN_LIFETIME, Issuer, pairwise_sub, v1_issuer

GRAPH_RESOURCE = "https://graph.microsoft.com"
# Graph's application id: Entra writes it as the audience when a client asks for the resource by app id.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES = (GRAPH_RESOURCE, GRAPH_RESOURCE + "/", GRAPH_APP_ID)

# What the demo tenant's admin consented to for the add-in: delegated (the pane's mail-folder picker, tests acting
# as the user in Outlook) and application (the mailbox-sync worker).
DELEGATED_PERMISSIONS = (
    "Mail.ReadBasic",
    "Mail.ReadWrite",
    "Mail.Send",
    "Calendars.ReadWrite",
    "MailboxSettings.ReadWrite",
    "User.Read",
)
APPLICATION_PERMISSIONS = (
    "Mail.ReadWrite",
    "Mail.Send",
    "Calendars.ReadWrite",
    "MailboxSettings.ReadWrite",
    "User.Read.All",
)


def is_graph_scope(scope: str) -> bool:
    """Tell whether a requested scope names Graph (`https://graph.microsoft.com/...` or a bare Graph permission)."""
    lowered = scope.lower()
    return (
        lowered.startswith(GRAPH_RESOURCE + "/")
        or lowered.startswith(GRAPH_APP_ID + "/")
        or (
            "://" not in scope
            and "." in scope
            and scope.split(".")[0] in {"Mail", "Calendars", "MailboxSettings", "User"}
        )
    )


def graph_delegated_grant(requested: list[str]) -> str | None:
    """The `scope` answer for a delegated Graph request, or None when a scope was never consented.

    `.default` is answered with every consented permission (and echoed, as Entra does); named permissions with
    themselves. https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-default-scope
    """
    names = [s.rsplit("/", 1)[-1] for s in requested]
    if any(n == ".default" for n in names):
        if len(names) != 1:
            return None
        return " ".join(f"{GRAPH_RESOURCE}/{p}" for p in DELEGATED_PERMISSIONS) + f" {GRAPH_RESOURCE}/.default"
    consented = {p.lower(): p for p in DELEGATED_PERMISSIONS}
    if not names or any(n.lower() not in consented for n in names):
        return None
    return " ".join(f"{GRAPH_RESOURCE}/{consented[n.lower()]}" for n in names)


def graph_delegated_claims(
    idp: Issuer, user: DevUser, scope: str | None = None, appid: str | None = None
) -> dict[str, Any]:
    """Claims of a delegated Graph token for `user` (`scope`: the granted scopes, full URLs or bare names)."""
    now = int(time.time())
    granted = scope or " ".join(DELEGATED_PERMISSIONS)
    scp = " ".join(s.rsplit("/", 1)[-1] for s in granted.split() if not s.endswith(".default"))
    given, _, family = user.name.partition(" ")
    return {
        "aud": GRAPH_RESOURCE,
        "iss": v1_issuer(user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "acr": "1",
        "aio": uuid.uuid4().hex,
        "amr": ["pwd"],
        "app_displayname": "Contoso Dataverse Add-in",
        "appid": appid or idp.config.client_id,
        "appidacr": "1",
        "family_name": family,
        "given_name": given,
        "idtyp": "user",
        "ipaddr": "127.0.0.1",
        "name": user.name,
        "oid": user.oid,
        "scp": scp,
        "sub": pairwise_sub(user, GRAPH_RESOURCE),
        "tid": user.tenant_id,
        "unique_name": user.upn,
        "upn": user.upn,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
        "xms_tcdt": 1600000000,
    }


def graph_application_claims(tenant_id: str, client_id: str) -> dict[str, Any]:
    """Claims of an app-only Graph token (client credentials): the app's service principal and its `roles`."""
    now = int(time.time())
    sp_oid = service_principal_id(tenant_id, client_id)
    return {
        "aud": GRAPH_RESOURCE,
        "iss": v1_issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "aio": uuid.uuid4().hex,
        "app_displayname": "Contoso Dataverse Add-in",
        "appid": client_id,
        "appidacr": "1",
        "idp": v1_issuer(tenant_id),
        "idtyp": "app",
        "oid": sp_oid,
        "rh": "0.dev." + uuid.uuid4().hex[:12],
        "roles": list(APPLICATION_PERMISSIONS),
        "sub": sp_oid,
        "tid": tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }
