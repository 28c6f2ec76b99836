"""Impersonation: a caller with prvActOnBehalfOfAnotherUser acting as another user (`CallerObjectId`, `MSCRMCallerID`).

The headers name the impersonated user by Entra object id (preferred) or by systemuserid (legacy). The call then runs
with the intersection of both users' privileges; records it writes are created/modified by, and owned by, the
impersonated user, with `createdonbehalfby`/`modifiedonbehalfby` naming the caller. A caller naming itself does not
impersonate (those columns stay null). Headers on a `$batch` request apply to every part of the batch.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/impersonate-another-user
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from addin_api.devstack.config import ACT_ON_BEHALF_OF_ANOTHER_USER, DevConfig, DevUser
from addin_api.devstack.dataverse.errors import INVALID_ARGUMENT, NOT_FOUND, PRIVILEGE, DataverseError

CALLER_OBJECT_ID = "callerobjectid"
MSCRM_CALLER_ID = "mscrmcallerid"
NOT_A_MEMBER = "0x80072560"


@dataclass(frozen=True)
class Acting:
    """Who a request acts as (`user`, with the privileges it may use) and who impersonates (`delegate`)."""

    user: DevUser
    delegate: DevUser | None = None


def _guid(header: str, value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        # Our choice of wording: the value must be a GUID.
        raise DataverseError(
            400, INVALID_ARGUMENT, f"The value of the {header} header is not a valid Guid: '{value[:64]}'."
        ) from None


def _missing_privilege(caller: DevUser) -> DataverseError:
    privilege_id = uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-privilege:{ACT_ON_BEHALF_OF_ANOTHER_USER}")
    return DataverseError(
        403,
        PRIVILEGE,
        f"Principal user (Id={caller.systemuserid}, type=8, roleCount=1, privilegeCount={len(caller.privileges)}, "
        f"accessMode=0), is missing {ACT_ON_BEHALF_OF_ANOTHER_USER} privilege (Id={privilege_id}). "
        f"context.Caller={caller.systemuserid}",
    )


def resolve(config: DevConfig, caller: DevUser, headers: Mapping[str, str]) -> Acting:
    """Who the request acts as, from its impersonation headers (lower-cased names); DataverseError if refused."""
    object_id = headers.get(CALLER_OBJECT_ID)
    systemuser_id = headers.get(MSCRM_CALLER_ID)
    if object_id is None and systemuser_id is None:
        return Acting(caller)
    if object_id is not None:
        # The preferred header wins when both are sent.
        oid = _guid("CallerObjectId", object_id)
        target = config.user_by_oid(caller.tenant_id, oid)
        if target is None and caller.has(ACT_ON_BEHALF_OF_ANOTHER_USER):
            raise DataverseError(403, NOT_A_MEMBER, "The user is not a member of the organization.")
    else:
        assert systemuser_id is not None
        user_id = _guid("MSCRMCallerID", systemuser_id)
        target = config.systemuser(user_id)
        if target is None and caller.has(ACT_ON_BEHALF_OF_ANOTHER_USER):
            raise DataverseError(404, NOT_FOUND, f"Entity 'systemuser' With Id = {user_id} Does Not Exist")
    if target is not None and target.systemuserid == caller.systemuserid:
        return Acting(caller)
    if not caller.has(ACT_ON_BEHALF_OF_ANOTHER_USER):
        raise _missing_privilege(caller)
    assert target is not None
    # The impersonator may do something only if both it and the impersonated user hold the privilege.
    effective = dataclasses.replace(target, privileges=target.privileges & caller.privileges)
    return Acting(effective, delegate=caller)
