"""Who the caller is in Dataverse and whether they may use the add-in (`prvUseOfficeApps`), cached per user."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.client import DataverseClient
from addin_api.errors import AddInNotAllowed, DataverseError

# "Use Dynamics 365 App for Outlook", the privilege the Dynamics 365 App for Outlook User role grants.
# https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/d365-app-outlook/privilege-error-occurs-when-using-dynamics-365-app-for-outlook
USE_OFFICE_APPS = "prvUseOfficeApps"
# Dynamics 365 App for Outlook's own words for a user without prvUseOfficeApps.
# https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/d365-app-outlook/experience-without-server-side-synchronization
ADD_IN_NOT_ALLOWED = (
    "Track and Set Regarding are currently disabled. To use these features, please contact your admin. You can "
    "still view and interact with your Dynamics 365 data."
)
# Email and appointment share the privileges of all activity tables: creating either needs prvCreateActivity.
# https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334198(v=crm.7)
CREATE_ACTIVITY = "prvCreateActivity"


@dataclass(frozen=True)
class MeInfo:
    """The caller as Dataverse knows them."""

    user_id: str
    business_unit_id: str
    organization_id: str
    name: str | None
    email: str | None
    can_use_add_in: bool
    can_create_activities: bool = True

    @property
    def can_track(self) -> bool:
        """Whether tracking can succeed: the add-in is allowed and the user's roles let them create activities."""
        return self.can_use_add_in and self.can_create_activities

    def require_add_in(self) -> None:
        """Refuse writes for users without `prvUseOfficeApps`, as Dynamics 365 App for Outlook does."""
        if not self.can_use_add_in:
            raise AddInNotAllowed(ADD_IN_NOT_ALLOWED)


class MeCache:
    """Per-user `MeInfo` kept for a few minutes so a warm request costs no Dataverse round trip."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[float, MeInfo]] = {}

    def get(self, key: tuple[str, str, str]) -> MeInfo | None:
        """The cached info for (tenant, user, environment) if still fresh."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def put(self, key: tuple[str, str, str], info: MeInfo) -> None:
        """Remember a user's info for the cache's lifetime."""
        with self._lock:
            if len(self._entries) >= self._max:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, info)


def fetch_me(dv: DataverseClient) -> MeInfo:
    """Ask Dataverse who the caller is and what they may do (two round trips: WhoAmI, then one `$batch`)."""
    who = dv.get("WhoAmI")
    try:
        user_id = str(who["UserId"])
    except KeyError as exc:
        raise DataverseError() from exc
    user, office_apps, create_activity = dv.batch(
        [
            BatchRequest("GET", f"systemusers({user_id})?$select=fullname,internalemailaddress"),
            _privilege_request(user_id, USE_OFFICE_APPS),
            _privilege_request(user_id, CREATE_ACTIVITY),
        ]
    )
    for response in (user, office_apps, create_activity):
        dv.raise_for(response)
    user_body: dict[str, Any] = user.body or {}
    email = user_body.get("internalemailaddress")
    return MeInfo(
        user_id=user_id,
        business_unit_id=str(who.get("BusinessUnitId", "")),
        organization_id=str(who.get("OrganizationId", "")),
        name=user_body.get("fullname"),
        email=email.lower() if isinstance(email, str) else None,
        can_use_add_in=_granted(office_apps.body),
        can_create_activities=_granted(create_activity.body),
    )


def _privilege_request(user_id: str, name: str) -> BatchRequest:
    """`RetrieveUserPrivilegeByPrivilegeName`: the user's role privileges of that name (none when not granted).

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/retrieveuserprivilegebyprivilegename
    """
    return BatchRequest(
        "GET",
        f"systemusers({user_id})/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='{name}')",
    )


def _granted(body: dict[str, Any] | None) -> bool:
    return bool((body or {}).get("RolePrivileges"))


def current_me(dv: DataverseClient, cache: MeCache, key: tuple[str, str, str]) -> MeInfo:
    """The caller's info from the cache, fetched on a miss."""
    info = cache.get(key)
    if info is None:
        info = fetch_me(dv)
        cache.put(key, info)
    return info
