"""Table definitions of the emulated Dataverse: entity sets, keys, columns (types, max lengths), option sets, lookups.

Column names, max lengths and option-set values follow the Dataverse table reference pages, e.g.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
"""

from __future__ import annotations

from addin_api.devstack.dataverse import mail_tables
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
    GUID,
    INT,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    REGARDING_TARGETS,
    AlternateKey,
    CollectionNav,
    Column,
    NavProperty,
    Table,
    common_columns,
    make_table,
    string_column,
)


def _address1() -> list[Column]:
    """The address1_* columns of account, contact and lead (MaxLengths from their table reference pages)."""
    return [
        string_column("address1_line1", 250),
        string_column("address1_line2", 250),
        string_column("address1_line3", 250),
        string_column("address1_city", 80),
        string_column("address1_stateorprovince", 50),
        string_column("address1_postalcode", 20),
        string_column("address1_country", 80),
        string_column("address1_telephone1", 50),
    ]


def _description() -> Column:
    # account, contact, lead and opportunity: Memo, MaxLength 2000
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account#BKMK_Description
    return Column("description", MEMO, 2000)


INDUSTRY = {
    1: "Accounting",
    2: "Agriculture and Non-petrol Natural Resource Extraction",
    3: "Broadcasting Printing and Publishing",
    4: "Brokers",
    5: "Building Supply Retail",
    6: "Business Services",
    7: "Consulting",
    8: "Consumer Services",
    9: "Design, Direction and Creative Management",
    10: "Distributors, Dispatchers and Processors",
    11: "Doctor's Offices and Clinics",
    12: "Durable Manufacturing",
    13: "Eating and Drinking Places",
    14: "Entertainment Retail",
    15: "Equipment Rental and Leasing",
    16: "Financial",
    17: "Food and Tobacco Processing",
    18: "Inbound Capital Intensive Processing",
    19: "Inbound Repair and Services",
    20: "Insurance",
    21: "Legal Services",
    22: "Non-Durable Merchandise Retail",
    23: "Outbound Consumer Service",
    24: "Petrochemical Extraction and Distribution",
    25: "Service Retail",
    26: "SIG Affiliations",
    27: "Social Services",
    28: "Special Outbound Trade Contractors",
    29: "Specialty Realty",
    30: "Transportation",
    31: "Utility Creation and Distribution",
    32: "Vehicle Retail",
    33: "Wholesale",
}
GENDER = {1: "Male", 2: "Female"}


def _activities(entity: str, schema: str) -> list[CollectionNav]:
    """The `<Schema>_Emails`, `<Schema>_Appointments` and `<Schema>_ActivityPointers` of a regarding table."""
    return [
        CollectionNav(f"{schema}_Emails", "email", "regardingobjectid", f"regardingobjectid_{entity}_email"),
        CollectionNav(
            f"{schema}_Appointments", "appointment", "regardingobjectid", f"regardingobjectid_{entity}_appointment"
        ),
        CollectionNav(
            f"{schema}_ActivityPointers", "activitypointer", "regardingobjectid", f"regardingobjectid_{entity}"
        ),
    ]


ACTIVE_STATE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: "Active", 2: "Inactive"}
PARTY_TARGETS = ("account", "contact", "lead", "systemuser")

EMAIL_STATE = {0: "Open", 1: "Completed", 2: "Canceled"}
EMAIL_STATUS = {
    1: "Draft",
    2: "Completed",
    3: "Sent",
    4: "Received",
    5: "Canceled",
    6: "Pending Send",
    7: "Sending",
    8: "Failed",
}
# statuscode -> the statecode it belongs to
EMAIL_STATUS_STATE = {1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1, 8: 0}
APPOINTMENT_STATE = {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
APPOINTMENT_STATUS = {1: "Free", 2: "Tentative", 3: "Completed", 4: "Canceled", 5: "Busy", 6: "Out of Office"}
APPOINTMENT_STATUS_STATE = {1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 3}
ACTIVITY_STATE = {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
PARTICIPATION = {
    1: "Sender",
    2: "To Recipient",
    3: "CC Recipient",
    4: "BCC Recipient",
    5: "Required attendee",
    6: "Optional attendee",
    7: "Organizer",
    8: "Regarding",
    9: "Owner",
}
PRIORITY = {0: "Low", 1: "Normal", 2: "High"}


def _activity_columns(kind: str) -> list[Column]:
    return [
        Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS),
        Column("actualstart", DATETIME),
        Column("actualend", DATETIME),
        Column("scheduledstart", DATETIME),
        Column("scheduledend", DATETIME),
        Column("prioritycode", PICKLIST, options=PRIORITY, default=1),
        string_column("activitytypecode", 64, create=False, update=False, default=kind),
    ]


def _activity_navs(kind: str) -> list[NavProperty]:
    return [NavProperty(f"regardingobjectid_{t}_{kind}", "regardingobjectid", t) for t in REGARDING_TARGETS]


def _build() -> dict[str, Table]:
    tables = [
        make_table(
            "account",
            "accounts",
            "accountid",
            "name",
            1,
            "Account",
            [
                string_column("name", 160),
                string_column("accountnumber", 20),
                string_column("emailaddress1", 100),
                string_column("emailaddress2", 100),
                string_column("emailaddress3", 100),
                string_column("telephone1", 50),
                string_column("telephone2", 50),
                string_column("telephone3", 50),
                string_column("fax", 50),
                string_column("websiteurl", 200),
                *_address1(),
                _description(),
                Column("numberofemployees", INT),
                Column("industrycode", PICKLIST, options=INDUSTRY),
                Column("primarycontactid", LOOKUP, targets=("contact",)),
                Column("parentaccountid", LOOKUP, targets=("account",)),
                Column("revenue", MONEY),
                Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
                Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
                *common_columns(),
            ],
            collections=[
                CollectionNav("contact_customer_accounts", "contact", "parentcustomerid", "parentcustomerid_account"),
                CollectionNav("account_parent_account", "account", "parentaccountid", "parentaccountid"),
                CollectionNav("lead_parent_account", "lead", "parentaccountid", "parentaccountid"),
                CollectionNav("opportunity_parent_account", "opportunity", "parentaccountid", "parentaccountid"),
                CollectionNav("opportunity_customer_accounts", "opportunity", "customerid", "customerid_account"),
                CollectionNav("incident_customer_accounts", "incident", "customerid", "customerid_account"),
                *_activities("account", "Account"),
            ],
            # An alternate key on accountnumber (Dataverse has none by default; environments often define one).
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/define-alternate-keys-entity
            keys=(AlternateKey("accountnumber_key", ("accountnumber",), "Account Number"),),
        ),
        make_table(
            "contact",
            "contacts",
            "contactid",
            "fullname",
            2,
            "Contact",
            [
                string_column("firstname", 50),
                string_column("lastname", 50),
                string_column("fullname", 160, create=False, update=False),
                string_column("emailaddress1", 100),
                string_column("emailaddress2", 100),
                string_column("emailaddress3", 100),
                string_column("telephone1", 50),
                string_column("telephone2", 50),
                string_column("mobilephone", 50),
                string_column("jobtitle", 100),
                *_address1(),
                _description(),
                # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/contact#BKMK_BirthDate
                Column("birthdate", DATEONLY),
                Column("gendercode", PICKLIST, options=GENDER),
                Column("parentcustomerid", LOOKUP, targets=("account", "contact")),
                Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
                Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
                *common_columns(),
            ],
            navs=[
                NavProperty("parentcustomerid_account", "parentcustomerid", "account"),
                NavProperty("parentcustomerid_contact", "parentcustomerid", "contact"),
            ],
            collections=[
                CollectionNav("contact_customer_contacts", "contact", "parentcustomerid", "parentcustomerid_contact"),
                CollectionNav("account_primary_contact", "account", "primarycontactid", "primarycontactid"),
                CollectionNav("opportunity_customer_contacts", "opportunity", "customerid", "customerid_contact"),
                CollectionNav("incident_customer_contacts", "incident", "customerid", "customerid_contact"),
                *_activities("contact", "Contact"),
            ],
        ),
        make_table(
            "lead",
            "leads",
            "leadid",
            "fullname",
            4,
            "Lead",
            [
                string_column("subject", 300),
                string_column("firstname", 50),
                string_column("lastname", 50),
                string_column("fullname", 160, create=False, update=False),
                string_column("companyname", 100),
                string_column("emailaddress1", 100),
                string_column("emailaddress2", 100),
                string_column("emailaddress3", 100),
                string_column("telephone1", 50),
                string_column("telephone2", 50),
                string_column("mobilephone", 20),
                string_column("jobtitle", 100),
                *_address1(),
                _description(),
                Column("numberofemployees", INT),
                Column("industrycode", PICKLIST, options=INDUSTRY),
                Column("parentaccountid", LOOKUP, targets=("account",)),
                Column("parentcontactid", LOOKUP, targets=("contact",)),
                Column("statecode", PICKLIST, options={0: "Open", 1: "Qualified", 2: "Disqualified"}, default=0),
                Column(
                    "statuscode",
                    PICKLIST,
                    options={
                        1: "New",
                        2: "Contacted",
                        3: "Qualified",
                        4: "Lost",
                        5: "Cannot Contact",
                        6: "No Longer Interested",
                        7: "Canceled",
                    },
                    default=1,
                ),
                *common_columns(),
            ],
            collections=_activities("lead", "Lead"),
        ),
        make_table(
            "opportunity",
            "opportunities",
            "opportunityid",
            "name",
            3,
            "Opportunity",
            [
                string_column("name", 300),
                _description(),
                Column("customerid", LOOKUP, targets=("account", "contact")),
                Column("parentaccountid", LOOKUP, targets=("account",)),
                Column("parentcontactid", LOOKUP, targets=("contact",)),
                Column("estimatedvalue", MONEY),
                Column("estimatedclosedate", DATEONLY),
                Column("statecode", PICKLIST, options={0: "Open", 1: "Won", 2: "Lost"}, default=0),
                Column(
                    "statuscode",
                    PICKLIST,
                    options={1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
                    default=1,
                ),
                *common_columns(),
            ],
            navs=[
                NavProperty("customerid_account", "customerid", "account"),
                NavProperty("customerid_contact", "customerid", "contact"),
            ],
            collections=_activities("opportunity", "Opportunity"),
        ),
        make_table(
            "incident",
            "incidents",
            "incidentid",
            "title",
            112,
            "Incident",
            [
                string_column("title", 200),
                string_column("ticketnumber", 100, update=False),
                string_column("description", 2000),
                # "You should specify a parent contact or account." — customerid is SystemRequired on cases.
                Column("customerid", LOOKUP, targets=("account", "contact"), required=True),
                Column("prioritycode", PICKLIST, options={1: "High", 2: "Normal", 3: "Low"}, default=2),
                Column("caseorigincode", PICKLIST, options={1: "Phone", 2: "Email", 3: "Web"}),
                Column("statecode", PICKLIST, options={0: "Active", 1: "Resolved", 2: "Canceled"}, default=0),
                Column(
                    "statuscode",
                    PICKLIST,
                    options={
                        1: "In Progress",
                        2: "On Hold",
                        3: "Waiting for Details",
                        4: "Researching",
                        5: "Problem Solved",
                        1000: "Information Provided",
                        6: "Canceled",
                        2000: "Merged",
                    },
                    default=1,
                ),
                *common_columns(),
            ],
            navs=[
                NavProperty("customerid_account", "customerid", "account"),
                NavProperty("customerid_contact", "customerid", "contact"),
            ],
            collections=_activities("incident", "Incident"),
        ),
        make_table(
            "systemuser",
            "systemusers",
            "systemuserid",
            "fullname",
            8,
            "User",
            [
                string_column("firstname", 64),
                string_column("lastname", 64),
                string_column("fullname", 200, create=False, update=False),
                string_column("internalemailaddress", 100),
                string_column("domainname", 1024),
                Column("azureactivedirectoryobjectid", GUID),
                Column("applicationid", GUID),  # set on application users: the app registration's client id
                string_column("jobtitle", 100),
                string_column("title", 128),
                Column("isdisabled", BOOL, default=False, labels=("Enabled", "Disabled")),
                Column("businessunitid", LOOKUP, targets=("businessunit",)),
                # mailbox sync: the address's approval (0 Empty, 1 Approved, 2 Pending Approval, 3 Rejected) and
                # the user's mailbox. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/systemuser
                Column(
                    "emailrouteraccessapproval",
                    PICKLIST,
                    options={0: "Empty", 1: "Approved", 2: "Pending Approval", 3: "Rejected"},
                    default=0,
                ),
                Column("defaultmailbox", LOOKUP, targets=("mailbox",), create=False, update=False),
                *common_columns(owned=False),
            ],
        ),
        make_table(
            "email",
            "emails",
            "activityid",
            "subject",
            4202,
            "Email",
            [
                string_column("subject", 800),
                Column("description", MEMO, 1073741823),
                Column("directioncode", BOOL, default=True, labels=("Incoming", "Outgoing")),
                string_column("messageid", 320),
                string_column("conversationindex", 2048, create=False, update=False),
                string_column("inreplyto", 320, create=False, update=False),
                string_column("sender", 250),
                string_column("torecipients", 500),
                string_column("trackingtoken", 50),
                Column("senton", DATETIME, create=False, update=False),
                # the mailboxes that send / received it (server-side synchronization)
                Column("sendermailboxid", LOOKUP, targets=("mailbox",)),
                Column("receivingmailboxid", LOOKUP, targets=("mailbox",)),
                *_activity_columns("email"),
                Column("statecode", PICKLIST, options=EMAIL_STATE, default=0),
                Column("statuscode", PICKLIST, options=EMAIL_STATUS, default=1),
                *common_columns(),
            ],
            navs=_activity_navs("email"),
            collections=[
                CollectionNav("email_activity_parties", "activityparty", "activityid"),
                CollectionNav("email_activity_mime_attachment", "activitymimeattachment", "objectid"),
            ],
        ),
        make_table(
            "appointment",
            "appointments",
            "activityid",
            "subject",
            4201,
            "Appointment",
            [
                string_column("subject", 200),
                string_column("location", 200),
                Column("description", MEMO, 1048576),
                Column("isalldayevent", BOOL, default=False),
                string_column("globalobjectid", 300),
                Column("outlookownerapptid", INT),
                Column(
                    "instancetypecode",
                    PICKLIST,
                    create=False,
                    update=False,
                    default=0,
                    options={
                        0: "Not Recurring",
                        1: "Recurring Master",
                        2: "Recurring Instance",
                        3: "Recurring Exception",
                        4: "Recurring Future Exception",
                    },
                ),
                *_activity_columns("appointment"),
                # IsValidForCreate False: appointments are created Scheduled/Busy and moved by PATCH.
                # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment
                Column("statecode", PICKLIST, options=APPOINTMENT_STATE, default=3, create=False),
                Column("statuscode", PICKLIST, options=APPOINTMENT_STATUS, default=5),
                *common_columns(),
            ],
            navs=_activity_navs("appointment"),
            collections=[
                CollectionNav("appointment_activity_parties", "activityparty", "activityid"),
                CollectionNav("appointment_activity_mime_attachment", "activitymimeattachment", "objectid"),
            ],
        ),
        make_table(
            "activityparty",
            "activityparties",
            "activitypartyid",
            "partyid",
            135,
            "ActivityParty",
            [
                Column("activityid", LOOKUP, targets=("email", "appointment")),
                Column("partyid", LOOKUP, targets=PARTY_TARGETS),
                Column("participationtypemask", PICKLIST, options=PARTICIPATION, required=True),
                string_column("addressused", 320),
                *common_columns(owned=False),
            ],
            navs=[
                *(NavProperty(f"partyid_{t}", "partyid", t) for t in PARTY_TARGETS),
                NavProperty("activityid_email", "activityid", "email"),
                NavProperty("activityid_appointment", "activityid", "appointment"),
                NavProperty("activityid_activitypointer", "activityid", "activitypointer"),
            ],
        ),
        make_table(
            "activitymimeattachment",
            "activitymimeattachments",
            "activitymimeattachmentid",
            "filename",
            1001,
            "ActivityMimeAttachment",
            [
                Column("objectid", LOOKUP, targets=("email", "appointment"), required=True),
                string_column("objecttypecode", 64, required=True),
                Column("body", MEMO, 1073741823),
                string_column("filename", 255),
                string_column("mimetype", 256),
                string_column("subject", 2000),
                Column("filesize", INT, create=False, update=False),
                *common_columns(owned=False),
            ],
            navs=[
                NavProperty("objectid_activitypointer", "objectid", "activitypointer"),
                NavProperty("objectid_email", "objectid", "email"),
                NavProperty("objectid_appointment", "objectid", "appointment"),
            ],
        ),
        make_table(
            "activitypointer",
            "activitypointers",
            "activityid",
            "subject",
            4200,
            "Activity",
            [
                string_column("subject", 800),
                Column("description", MEMO, 1073741823),
                *_activity_columns("activitypointer"),
                Column("statecode", PICKLIST, options=ACTIVITY_STATE),
                Column("statuscode", PICKLIST),
                *common_columns(),
            ],
            navs=[NavProperty(f"regardingobjectid_{t}", "regardingobjectid", t) for t in REGARDING_TARGETS],
            read_only=True,
        ),
    ]
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
    (`systemusers(<id>)/lk_accountbase_createdby`); those not declared above get the name Dataverse gives them.
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
