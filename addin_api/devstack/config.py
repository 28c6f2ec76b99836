"""The demo tenant: its ids, the add-in app registration and the seeded users with what each one exercises.

Fixed GUIDs keep tokens and URLs stable across restarts of `make dev`; the client secret is generated per data
directory (see `DevConfig.load`).
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CONTOSO_TENANT_ID = "7a3c9e1d-2b4f-4c8a-9d6e-1f0a2b3c4d5e"
# A real Entra tenant that is not onboarded in the service's ADDIN_API_TENANTS.
OTHER_TENANT_ID = "c0ffee00-1234-4abc-8def-0123456789ab"

ADDIN_CLIENT_ID = "4d7e2b9a-6c1f-4e3d-a8b5-9f0e1d2c3b4a"
# Office clients pre-authorized on the add-in registration; their ids arrive as `azp` in SSO tokens.
# https://learn.microsoft.com/en-us/office/dev/add-ins/develop/register-sso-add-in-aad-v2
OFFICE_CLIENT_IDS = (
    "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",
    "93d53678-613d-4013-afc1-62e9e444a0a5",
    "bc59ab01-8403-45c6-8796-ac3ef710b3e3",
)
DEFAULT_AZP = "bc59ab01-8403-45c6-8796-ac3ef710b3e3"  # Outlook on the web

# Dataverse table privileges: "<operation>:<table>", operations create/read/write/delete/append/appendto.
DATAVERSE_TABLES = (
    "account",
    "contact",
    "lead",
    "opportunity",
    "incident",
    "systemuser",
    "email",
    "appointment",
    "activityparty",
    "activitymimeattachment",
    "activitypointer",
    # mailbox synchronization; on these a privilege covers the caller's own rows (Basic depth) unless
    # "<operation>:<table>:global" adds Organization depth (see dataverse/mail_security.py)
    "mailbox",
    "usersettings",
    "mailboxtrackingfolder",
)
ALL_OPERATIONS = ("create", "read", "write", "delete", "append", "appendto")
FULL_RIGHTS = frozenset(f"{op}:{table}" for op in ALL_OPERATIONS for table in DATAVERSE_TABLES)
READ_ONLY = frozenset(f"read:{table}" for table in DATAVERSE_TABLES)
# "Approve Email Addresses for Users or Queues"
# https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334551(v=crm.7)
APPROVE_EMAIL_ADDRESSES = "prvApproveRejectEmailAddress"
MAILBOX_TABLES = ("mailbox", "usersettings", "mailboxtrackingfolder")
# What mailbox synchronization itself needs on every user's rows: read them all, write mailboxes (statuses, lease)
# and folder rules (onboarded, disabled, the folder's name).
MAILBOX_SYNC_RIGHTS = frozenset(
    {f"read:{table}{depth}" for table in MAILBOX_TABLES for depth in ("", ":global")}
    | {f"write:{table}{depth}" for table in ("mailbox", "mailboxtrackingfolder") for depth in ("", ":global")}
)
# A system administrator: every privilege at Organization depth, and writing the organization row (which every
# role reads: see dataverse/mail_security.py).
ADMIN_RIGHTS = (
    FULL_RIGHTS | {f"{op}:{table}:global" for op in ALL_OPERATIONS for table in MAILBOX_TABLES} | {"write:organization"}
)
USE_OFFICE_APPS = "prvUseOfficeApps"
# Lets a caller impersonate another user (CallerObjectId / MSCRMCallerID headers).
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/impersonate-another-user
ACT_ON_BEHALF_OF_ANOTHER_USER = "prvActOnBehalfOfAnotherUser"
ACTIVITY_TABLES = ("email", "appointment", "activityparty", "activitymimeattachment")
# What a mailbox-sync worker needs: read everything; write activities, their parties and attachments; link them to
# the records they are regarding (append to those); create the contacts and leads it may add automatically.
SYNC_WORKER_RIGHTS = frozenset(
    {f"read:{table}" for table in DATAVERSE_TABLES}
    | {f"{op}:{table}" for op in ALL_OPERATIONS for table in ACTIVITY_TABLES}
    | {f"appendto:{table}" for table in ("account", "contact", "lead", "opportunity", "incident", "systemuser")}
    | {"create:contact", "create:lead", "append:contact", "append:lead"}
    | MAILBOX_SYNC_RIGHTS  # every user's mailbox, personal options and folder rules; the mailbox's sync columns
)


@dataclass(frozen=True)
class DevUser:
    """A user of the demo tenant: who they are in Entra and in Dataverse, and what they exercise."""

    upn: str
    name: str
    oid: str
    systemuserid: str
    tenant_id: str
    scenario: str
    privileges: frozenset[str]
    named_privileges: frozenset[str] = frozenset({USE_OFFICE_APPS})
    # Set for an application user: the app registration's client id (`applicationid`); `oid` is then the object id
    # of the app's service principal in the tenant, what app-only tokens carry.
    application_id: str | None = None

    def may(self, operation: str, table: str) -> bool:
        """Tell whether this user's security roles grant `operation` on `table`."""
        return f"{operation}:{table}" in self.privileges

    def has(self, privilege: str) -> bool:
        """Tell whether this user's security roles grant a named privilege (e.g. prvActOnBehalfOfAnotherUser)."""
        return privilege in self.named_privileges


DEMO_USERS: tuple[DevUser, ...] = (
    DevUser(
        upn="alice@contoso.example",
        name="Alice Wong",
        oid="a11ce000-0000-4000-8000-000000000001",
        systemuserid="5e7a0001-0000-4000-8000-00000000a11c",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="full_rights",
        privileges=FULL_RIGHTS,
    ),
    DevUser(
        upn="bob@contoso.example",
        name="Bob Kelly",
        oid="b0b00000-0000-4000-8000-000000000002",
        systemuserid="5e7a0002-0000-4000-8000-000000000b0b",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="no_office_apps_privilege",
        privileges=FULL_RIGHTS,
        named_privileges=frozenset(),
    ),
    DevUser(
        upn="carol@contoso.example",
        name="Carol Diaz",
        oid="ca201000-0000-4000-8000-000000000003",
        systemuserid="5e7a0003-0000-4000-8000-0000000ca201",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="read_only",
        privileges=READ_ONLY,
    ),
    DevUser(
        upn="dave@contoso.example",
        name="Dave Miller",
        oid="da7e0000-0000-4000-8000-000000000004",
        systemuserid="5e7a0004-0000-4000-8000-00000000da7e",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="mfa_claims_challenge",
        privileges=FULL_RIGHTS,
    ),
    DevUser(
        upn="erin@contoso.example",
        name="Erin Novak",
        oid="e2100000-0000-4000-8000-000000000005",
        systemuserid="5e7a0005-0000-4000-8000-00000000e210",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="no_consent",
        privileges=FULL_RIGHTS,
    ),
    DevUser(
        upn="megan@contoso.example",
        name="Megan Bowen",
        oid="3e6a0000-0000-4000-8000-000000000007",
        systemuserid="5e7a0007-0000-4000-8000-000000003e6a",
        tenant_id=CONTOSO_TENANT_ID,
        scenario="mailbox_admin",
        privileges=ADMIN_RIGHTS,
        named_privileges=frozenset({USE_OFFICE_APPS, APPROVE_EMAIL_ADDRESSES}),
    ),
    DevUser(
        upn="mallory@fabrikam-tenant.example",
        name="Mallory Stone",
        oid="3a110000-0000-4000-8000-000000000006",
        systemuserid="5e7a0006-0000-4000-8000-000000003a11",
        tenant_id=OTHER_TENANT_ID,
        scenario="tenant_not_allowed",
        privileges=FULL_RIGHTS,
    ),
)


def service_principal_id(tenant_id: str, client_id: str) -> str:
    """The object id of an app's service principal in a tenant (stable per tenant and app)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{client_id}"))


def application_user(
    client_id: str,
    name: str,
    systemuserid: str,
    privileges: frozenset[str] = SYNC_WORKER_RIGHTS,
    named_privileges: frozenset[str] = frozenset({ACT_ON_BEHALF_OF_ANOTHER_USER}),
    tenant_id: str = CONTOSO_TENANT_ID,
) -> DevUser:
    """A Dataverse application user: the systemuser an app registration acts as with app-only tokens.

    https://learn.microsoft.com/en-us/power-platform/admin/manage-application-users
    """
    return DevUser(
        upn=f"{client_id}@{tenant_id}.application.example",  # never signs in; Dataverse generates such an address
        name=f"# {name}",
        oid=service_principal_id(tenant_id, client_id),
        systemuserid=systemuserid,
        tenant_id=tenant_id,
        scenario="application_user",
        privileges=privileges,
        named_privileges=named_privileges,
        application_id=client_id,
    )


# The add-in's registration as an application user (the mailbox-sync worker uses it with client credentials).
DEMO_APPLICATION_USERS: tuple[DevUser, ...] = (
    application_user(ADDIN_CLIENT_ID, "Contoso Dataverse Add-in", "5e7a0a99-0000-4000-8000-0000000a0001"),
)


def synthetic_users(count: int) -> tuple[DevUser, ...]:
    """`count` extra full-rights users `bench-user-NN@contoso.example` (stable ids), for load tests.

    The service caps concurrency per user, so a load test of N concurrent users needs N distinct principals.
    """
    return tuple(
        DevUser(
            upn=f"bench-user-{n:02d}@contoso.example",
            name=f"Bench User{n:02d}",
            oid=f"be4c0000-0000-4000-8000-{n:012d}",
            systemuserid=f"5e7abe4c-0000-4000-8000-{n:012d}",
            tenant_id=CONTOSO_TENANT_ID,
            scenario="full_rights",
            privileges=FULL_RIGHTS,
        )
        for n in range(1, count + 1)
    )


@dataclass
class DevConfig:
    """The demo app registration and users; the secret is per data directory."""

    client_secret: str
    tenant_id: str = CONTOSO_TENANT_ID
    client_id: str = ADDIN_CLIENT_ID
    users: tuple[DevUser, ...] = field(default=DEMO_USERS)
    application_users: tuple[DevUser, ...] = field(default=DEMO_APPLICATION_USERS)
    # (the users it was built from, (tenant, oid) -> first such user); rebuilt if `users` is replaced
    _by_oid: tuple[tuple[DevUser, ...], dict[tuple[str, str], DevUser]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def load(cls, data_dir: Path) -> DevConfig:
        """Read the config kept in `data_dir`, creating it (with a fresh client secret) on first start."""
        path = data_dir / "devstack.json"
        if path.exists():
            stored = json.loads(path.read_text())
            return cls(client_secret=str(stored["clientSecret"]))
        config = cls(client_secret=secrets.token_urlsafe(32))
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"clientSecret": config.client_secret}))
        path.chmod(0o600)
        return config

    def user_by_upn(self, upn: str) -> DevUser | None:
        """Find a demo user by sign-in name, case-insensitively as Entra does."""
        wanted = upn.casefold()
        return next((u for u in self.users if u.upn.casefold() == wanted), None)

    def user_by_oid(self, tenant_id: str, oid: str) -> DevUser | None:
        """Find a demo user by (tenant, object id), the principal key Entra tokens carry."""
        index = self._by_oid
        if index is None or index[0] is not self.users:
            # asked on every Dataverse request; a load test has dozens of users
            by_oid: dict[tuple[str, str], DevUser] = {}
            for u in self.users:
                by_oid.setdefault((u.tenant_id, u.oid), u)
            index = self._by_oid = (self.users, by_oid)
        return index[1].get((tenant_id, oid))

    def application_user(self, tenant_id: str, application_id: str) -> DevUser | None:
        """The application user of an app registration in a tenant, if one was created."""
        wanted = application_id.casefold()
        return next(
            (
                u
                for u in self.application_users
                if u.tenant_id == tenant_id and (u.application_id or "").casefold() == wanted
            ),
            None,
        )

    def systemuser(self, systemuserid: str) -> DevUser | None:
        """A user or application user by systemuserid."""
        wanted = systemuserid.casefold()
        return next((u for u in (*self.users, *self.application_users) if u.systemuserid == wanted), None)
