"""Table definitions of the emulated Dataverse: entity sets, keys, columns (types, max lengths), option sets, lookups.

The tables are declared per group (`business_tables`, `activity_tables`, `mail_tables`); here they are put together
with their display names, ownership and the collection-valued partners of every lookup.
"""

from __future__ import annotations

from addin_api.devstack.dataverse import activity_tables, business_tables, mail_tables
from addin_api.devstack.dataverse.schema import CollectionNav, Table

# statuscode -> the statecode it belongs to (the status values: `activity_tables`)
EMAIL_STATUS_STATE = {1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1, 8: 0}
APPOINTMENT_STATUS_STATE = {1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 3}


def _build() -> dict[str, Table]:
    tables = [*business_tables.tables(), *activity_tables.tables()]
    tables.extend(mail_tables.tables())
    for table in tables:
        table.display, table.schema_name, table.ownership = _DEFINITION.get(
            table.logical, (table.display, table.schema, table.ownership)
        )
        table.is_activity = table.logical in ("email", "appointment", "activitypointer")
    by_name = {t.logical: t for t in tables}
    _partner_collections(by_name)
    return by_name


def _partner_collections(tables: dict[str, Table]) -> None:
    """Give every single-valued navigation property its collection-valued partner on the table it points to.

    In Dataverse each lookup is one side of a one-to-many relationship and the referenced table can navigate back
    (`systemusers(<id>)/lk_accountbase_createdby`); those no table module declares get the name
    Dataverse gives them.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-navigation-properties
    """
    for child in tables.values():
        for nav in child.navs.values():
            target = tables.get(nav.target)
            if target is None:
                continue
            if any(
                c.child == child.logical and c.column == nav.column and partner_of(c, target) == nav.name
                for c in target.collections.values()
            ):
                continue
            if nav.column in ("createdby", "modifiedby"):
                name = f"lk_{child.logical}{'' if child.is_activity else 'base'}_{nav.column}"
            elif nav.column == "ownerid":
                name = f"user_{child.entity_set}"
            elif nav.column == "partyid":
                name = f"{target.logical}_activity_parties"
            elif nav.column in ("parentcontactid", "parentaccountid"):
                name = f"{child.logical}_parent_{target.logical}"
            else:
                name = f"{target.logical}_{child.logical}_{nav.column}"
            if name in target.collections:
                name = f"{name}_{child.logical}"
            target.collections[name] = CollectionNav(name, child.logical, nav.column, nav.name)


def partner_of(collection: CollectionNav, table: Table) -> str:
    """The child's navigation property that points back to `table` through `collection`."""
    return collection.partner or f"{collection.column}_{table.logical}"


# DisplayName / DisplayCollectionName, SchemaName and OwnershipType of each table, as its reference page lists them
# (e.g. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/systemuser).
_DEFINITION: dict[str, tuple[tuple[str, str], str, str]] = {
    "account": (("Account", "Accounts"), "Account", "UserOwned"),
    "contact": (("Contact", "Contacts"), "Contact", "UserOwned"),
    "lead": (("Lead", "Leads"), "Lead", "UserOwned"),
    "opportunity": (("Opportunity", "Opportunities"), "Opportunity", "UserOwned"),
    "incident": (("Case", "Cases"), "Incident", "UserOwned"),
    "systemuser": (("User", "Users"), "SystemUser", "BusinessOwned"),
    "email": (("Email", "Email Messages"), "Email", "UserOwned"),
    "appointment": (("Appointment", "Appointments"), "Appointment", "UserOwned"),
    "activityparty": (("Activity Party", "Activity Parties"), "ActivityParty", "None"),
    "activitymimeattachment": (("Attachment", "Attachments"), "ActivityMimeAttachment", "None"),
    "activitypointer": (("Activity", "Activities"), "ActivityPointer", "UserOwned"),
}


TABLES: dict[str, Table] = _build()
BY_ENTITY_SET: dict[str, Table] = {t.entity_set: t for t in TABLES.values()}
ACTIVITY_TABLES = ("email", "appointment")
