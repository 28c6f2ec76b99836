"""Who the caller is in Dataverse (`WhoAmI`, their systemuser row) and whether they hold the add-in's privileges.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/whoami
"""

from __future__ import annotations

from typing import Any

from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.port import Dataverse
from addin_api.errors import DataverseError
from addin_api.model import MeInfo

# "Use Dynamics 365 App for Outlook", the privilege the Dynamics 365 App for Outlook User role grants.
# https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/d365-app-outlook/privilege-error-occurs-when-using-dynamics-365-app-for-outlook
USE_OFFICE_APPS = "prvUseOfficeApps"
# Email and appointment share the privileges of all activity tables: creating either needs prvCreateActivity.
# https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334198(v=crm.7)
CREATE_ACTIVITY = "prvCreateActivity"


def read_me(dv: Dataverse) -> MeInfo:
    """Ask Dataverse who the caller is and what they may do (two round trips: WhoAmI, then one `$batch`)."""
    who = dv.get("WhoAmI")
    try:
        user_id = str(who["UserId"])
    except KeyError as exc:
        raise DataverseError() from exc
    user, office_apps, create_activity = dv.batch(
        [
            BatchRequest("GET", f"systemusers({user_id})?$select=fullname,internalemailaddress"),
            privilege_request(user_id, USE_OFFICE_APPS),
            privilege_request(user_id, CREATE_ACTIVITY),
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


def privilege_request(user_id: str, name: str) -> BatchRequest:
    """`RetrieveUserPrivilegeByPrivilegeName`: the user's role privileges of that name (none when not granted).

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/retrieveuserprivilegebyprivilegename
    """
    return BatchRequest(
        "GET",
        f"systemusers({user_id})/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='{name}')",
    )


def _granted(body: dict[str, Any] | None) -> bool:
    return bool((body or {}).get("RolePrivileges"))
