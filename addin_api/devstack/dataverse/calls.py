"""The Web API functions and actions the router answers, shaped as Dataverse answers them.

The rules behind them live in `actions` (bulk, versions, access) and `mail_messages` (mail).
"""

from __future__ import annotations

import uuid

from addin_api.devstack.dataverse import actions, mail_messages, mail_security
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.schema import Table
from addin_api.devstack.dataverse.wire import ApiRequest, ApiResponse, json_response, request_body


class Calls:
    """The functions and actions of one caller: WhoAmI, RetrieveVersion, privileges and access, mail, bulk."""

    def __init__(self, ops: Operations, business_unit_id: str, organization_id: str) -> None:
        self.ops = ops
        self.base = ops.api_base
        self.business_unit_id = business_unit_id
        self.organization_id = organization_id

    def who_am_i(self) -> ApiResponse:
        """`GET WhoAmI`."""
        return json_response(
            200,
            {
                "@odata.context": f"{self.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": self.business_unit_id,
                "UserId": self.ops.user.systemuserid,
                "OrganizationId": self.organization_id,
            },
        )

    def retrieve_version(self) -> ApiResponse:
        """`GET RetrieveVersion()`: the environment's version.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/retrieveversion
        """
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse"
        return json_response(200, {"@odata.context": context, "Version": actions.VERSION})

    def principal_access(self, systemuserid: str, target: str) -> ApiResponse:
        """`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)`."""
        rights = actions.principal_access(self.ops, systemuserid, target)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse"
        return json_response(200, {"@odata.context": context, "AccessRights": rights})

    def mail_action(self, name: str, email_id: str | None, req: ApiRequest) -> ApiResponse:
        """`POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail` and `POST GetTrackingTokenEmail` (`mail_messages`)."""
        body = request_body(TABLES["email"], req)
        if email_id is not None:
            result = mail_messages.send_email(self.ops, email_id, body)
        else:
            result = mail_messages.tracking_token(self.ops, body)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.{name}Response"
        return json_response(200, {"@odata.context": context, **result})

    def mail_function(self, name: str, params: dict[str, str | None]) -> ApiResponse:
        """`GET CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)` (`mail_messages`)."""
        result = mail_messages.check_incoming_email(self.ops, params)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.{name}Response"
        return json_response(200, {"@odata.context": context, **result})

    def bulk(self, table: Table, action: str, req: ApiRequest) -> ApiResponse:
        """`CreateMultiple` answers 200 with the new `Ids`; `UpdateMultiple` answers 204.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations
        """
        body = request_body(table, req)
        if action.endswith("CreateMultiple"):
            ids = actions.create_multiple(self.ops, table, body)
            context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
            return json_response(200, {"@odata.context": context, "Ids": ids})
        actions.update_multiple(self.ops, table, body)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def user_privilege(self, systemuserid: str, name: str) -> ApiResponse:
        """`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(...)`."""
        self.ops.require("read", TABLES["systemuser"])
        self.ops.get(TABLES["systemuser"], systemuserid)
        config_user = next((u for u in self.ops.store.config.users if u.systemuserid == systemuserid), None)
        has = False
        depth = "Global"
        if config_user is None:
            has = name == "prvUseOfficeApps"  # colleagues who never sign in keep the default roles
        elif name in config_user.named_privileges:
            has = True
        else:
            for verb, op in (("Create", "create"), ("Read", "read"), ("Write", "write"), ("Delete", "delete")):
                for table in TABLES.values():
                    # Every activity table shares the Activity privileges (prvCreateActivity…); the emulator's
                    # roles grant them per table, so the email table's grant stands for them.
                    # https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334198(v=crm.7)
                    logical = "email" if table.logical == "activitypointer" else table.logical
                    if name == f"prv{verb}{table.schema}" and config_user.may(op, logical):
                        has = True
                        if not mail_security.organization_wide(config_user, op, table.logical):
                            depth = "Basic"  # the user's own rows
        privileges = (
            [
                {
                    "Depth": depth,
                    "PrivilegeId": privilege_id(name),
                    "BusinessUnitId": self.business_unit_id,
                    "PrivilegeName": name,
                }
            ]
            if has
            else []
        )
        return json_response(
            200,
            {
                "@odata.context": f"{self.base}$metadata#Microsoft.Dynamics.CRM."
                "RetrieveUserPrivilegeByPrivilegeNameResponse",
                "RolePrivileges": privileges,
            },
        )


def privilege_id(name: str) -> str:
    """A stable id per privilege name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-privilege:{name}"))
