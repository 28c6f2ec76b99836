"""Table definitions of the emulated Dataverse: entity sets, keys, columns (types, max lengths), option sets, lookups.

Column names, max lengths and option-set values follow the Dataverse table reference pages, e.g.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
(see /work/shared/reference/dynamics-outlook-and-dataverse.md §2 for the collected facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column types (the Edm type each maps to is in EDM_TYPES).
STRING = "string"
MEMO = "memo"
INT = "int"
BOOL = "bool"
DATETIME = "datetime"
DATEONLY = "dateonly"
PICKLIST = "picklist"
MONEY = "money"
GUID = "guid"
LOOKUP = "lookup"

EDM_TYPES = {
    STRING: "Edm.String",
    MEMO: "Edm.String",
    INT: "Edm.Int32",
    BOOL: "Edm.Boolean",
    DATETIME: "Edm.DateTimeOffset",
    DATEONLY: "Edm.Date",
    PICKLIST: "Edm.Int32",
    MONEY: "Edm.Decimal",
    GUID: "Edm.Guid",
    LOOKUP: "Edm.Guid",
}


@dataclass(frozen=True)
class Column:
    """One column (attribute) of a table."""

    name: str
    type: str
    max_length: int | None = None
    required: bool = False  # SystemRequired: the platform refuses a create without it
    create: bool = True  # IsValidForCreate
    update: bool = True  # IsValidForUpdate
    options: dict[int, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # lookups: the tables it may point to
    labels: tuple[str, str] = ("No", "Yes")  # booleans: (false, true) labels
    default: object = None

    @property
    def attribute(self) -> str:
        """The Web API property name: `_x_value` for lookups, the logical name otherwise."""
        return f"_{self.name}_value" if self.type == LOOKUP else self.name


@dataclass(frozen=True)
class NavProperty:
    """A single-valued navigation property: binds `column` (a lookup) to one `target` table."""

    name: str
    column: str
    target: str


@dataclass(frozen=True)
class CollectionNav:
    """A collection-valued navigation property: rows of `child` whose lookup `column` points here.

    `partner` is the single-valued navigation property of the child that points back (`parentcustomerid_account`
    for `contact_customer_accounts`); empty: `<column>_<this table>`. The pair is one one-to-many relationship,
    whose SchemaName is the collection's name, as in Dataverse.
    """

    name: str
    child: str
    column: str
    partner: str = ""


@dataclass(frozen=True)
class AlternateKey:
    """An alternate key (EntityKeyMetadata): the columns whose values identify one record."""

    name: str
    columns: tuple[str, ...]
    display: str


@dataclass
class Table:
    """A Dataverse table as the Web API exposes it."""

    logical: str
    entity_set: str
    key: str
    primary_name: str
    otc: int  # object type code (privilege-denied messages quote it)
    schema: str  # privilege suffix: prvCreate<schema>
    columns: dict[str, Column] = field(default_factory=dict)
    navs: dict[str, NavProperty] = field(default_factory=dict)
    collections: dict[str, CollectionNav] = field(default_factory=dict)
    read_only: bool = False  # activitypointer is a read view here
    keys: tuple[AlternateKey, ...] = ()
    display: tuple[str, str] = ("", "")  # DisplayName, DisplayCollectionName
    schema_name: str = ""  # SchemaName when it differs from `schema` (the privilege suffix)
    ownership: str = "UserOwned"  # OwnershipType
    is_activity: bool = False

    @property
    def alternate_keys(self) -> dict[str, tuple[str, ...]]:
        """Alternate keys by name, their columns in order.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/define-alternate-keys-entity
        """
        return {key.name: key.columns for key in self.keys}

    def column_for_attribute(self, attribute: str) -> Column | None:
        """Find a column by its Web API property name (`_x_value` for lookups)."""
        if attribute.startswith("_") and attribute.endswith("_value"):
            col = self.columns.get(attribute[1:-6])
            return col if col is not None and col.type == LOOKUP else None
        col = self.columns.get(attribute)
        return col if col is not None and col.type != LOOKUP else None

    @property
    def attributes(self) -> list[str]:
        """Every Web API property name, in definition order."""
        return [c.attribute for c in self.columns.values()]


def _s(name: str, max_length: int, **kw: object) -> Column:
    return Column(name, STRING, max_length, **kw)  # type: ignore[arg-type]


def _address1() -> list[Column]:
    """The address1_* columns of account, contact and lead (MaxLengths from their table reference pages)."""
    return [
        _s("address1_line1", 250),
        _s("address1_line2", 250),
        _s("address1_line3", 250),
        _s("address1_city", 80),
        _s("address1_stateorprovince", 50),
        _s("address1_postalcode", 20),
        _s("address1_country", 80),
        _s("address1_telephone1", 50),
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


def _common(owned: bool = True) -> list[Column]:
    cols = [
        Column("createdon", DATETIME, create=False, update=False),
        Column("modifiedon", DATETIME, create=False, update=False),
        Column("createdby", LOOKUP, create=False, update=False, targets=("systemuser",)),
        Column("modifiedby", LOOKUP, create=False, update=False, targets=("systemuser",)),
        # the impersonating caller, when a write was made on behalf of another user
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
        Column("createdonbehalfby", LOOKUP, create=False, update=False, targets=("systemuser",)),
        Column("modifiedonbehalfby", LOOKUP, create=False, update=False, targets=("systemuser",)),
        Column("versionnumber", INT, create=False, update=False),
    ]
    if owned:
        cols.append(Column("ownerid", LOOKUP, targets=("systemuser",)))
    return cols


ACTIVE_STATE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: "Active", 2: "Inactive"}
REGARDING_TARGETS = ("account", "contact", "lead", "opportunity", "incident")
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


def _table(
    logical: str,
    entity_set: str,
    key: str,
    primary: str,
    otc: int,
    schema: str,
    columns: list[Column],
    navs: list[NavProperty] | None = None,
    collections: list[CollectionNav] | None = None,
    read_only: bool = False,
    **extra: object,
) -> Table:
    table = Table(logical, entity_set, key, primary, otc, schema, read_only=read_only, **extra)  # type: ignore[arg-type]
    table.columns = {c.name: c for c in [Column(key, GUID, update=False), *columns]}
    table.navs = {n.name: n for n in navs or []}
    for col in table.columns.values():
        # the owner/createdby/modifiedby lookups are navigable under their own names
        if col.type == LOOKUP and len(col.targets) == 1 and col.name not in table.navs:
            table.navs.setdefault(col.name, NavProperty(col.name, col.name, col.targets[0]))
    table.collections = {c.name: c for c in collections or []}
    return table


def _activity_columns(kind: str) -> list[Column]:
    return [
        Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS),
        Column("actualstart", DATETIME),
        Column("actualend", DATETIME),
        Column("scheduledstart", DATETIME),
        Column("scheduledend", DATETIME),
        Column("prioritycode", PICKLIST, options=PRIORITY, default=1),
        _s("activitytypecode", 64, create=False, update=False, default=kind),
    ]


def _activity_navs(kind: str) -> list[NavProperty]:
    return [NavProperty(f"regardingobjectid_{t}_{kind}", "regardingobjectid", t) for t in REGARDING_TARGETS]


def _build() -> dict[str, Table]:
    tables = [
        _table(
            "account",
            "accounts",
            "accountid",
            "name",
            1,
            "Account",
            [
                _s("name", 160),
                _s("accountnumber", 20),
                _s("emailaddress1", 100),
                _s("emailaddress2", 100),
                _s("emailaddress3", 100),
                _s("telephone1", 50),
                _s("telephone2", 50),
                _s("telephone3", 50),
                _s("fax", 50),
                _s("websiteurl", 200),
                *_address1(),
                _description(),
                Column("numberofemployees", INT),
                Column("industrycode", PICKLIST, options=INDUSTRY),
                Column("primarycontactid", LOOKUP, targets=("contact",)),
                Column("parentaccountid", LOOKUP, targets=("account",)),
                Column("revenue", MONEY),
                Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
                Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
                *_common(),
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
        _table(
            "contact",
            "contacts",
            "contactid",
            "fullname",
            2,
            "Contact",
            [
                _s("firstname", 50),
                _s("lastname", 50),
                _s("fullname", 160, create=False, update=False),
                _s("emailaddress1", 100),
                _s("emailaddress2", 100),
                _s("emailaddress3", 100),
                _s("telephone1", 50),
                _s("telephone2", 50),
                _s("mobilephone", 50),
                _s("jobtitle", 100),
                *_address1(),
                _description(),
                # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/contact#BKMK_BirthDate
                Column("birthdate", DATEONLY),
                Column("gendercode", PICKLIST, options=GENDER),
                Column("parentcustomerid", LOOKUP, targets=("account", "contact")),
                Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
                Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
                *_common(),
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
        _table(
            "lead",
            "leads",
            "leadid",
            "fullname",
            4,
            "Lead",
            [
                _s("subject", 300),
                _s("firstname", 50),
                _s("lastname", 50),
                _s("fullname", 160, create=False, update=False),
                _s("companyname", 100),
                _s("emailaddress1", 100),
                _s("emailaddress2", 100),
                _s("emailaddress3", 100),
                _s("telephone1", 50),
                _s("telephone2", 50),
                _s("mobilephone", 20),
                _s("jobtitle", 100),
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
                *_common(),
            ],
            collections=_activities("lead", "Lead"),
        ),
        _table(
            "opportunity",
            "opportunities",
            "opportunityid",
            "name",
            3,
            "Opportunity",
            [
                _s("name", 300),
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
                *_common(),
            ],
            navs=[
                NavProperty("customerid_account", "customerid", "account"),
                NavProperty("customerid_contact", "customerid", "contact"),
            ],
            collections=_activities("opportunity", "Opportunity"),
        ),
        _table(
            "incident",
            "incidents",
            "incidentid",
            "title",
            112,
            "Incident",
            [
                _s("title", 200),
                _s("ticketnumber", 100, update=False),
                _s("description", 2000),
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
                *_common(),
            ],
            navs=[
                NavProperty("customerid_account", "customerid", "account"),
                NavProperty("customerid_contact", "customerid", "contact"),
            ],
            collections=_activities("incident", "Incident"),
        ),
        _table(
            "systemuser",
            "systemusers",
            "systemuserid",
            "fullname",
            8,
            "User",
            [
                _s("firstname", 64),
                _s("lastname", 64),
                _s("fullname", 200, create=False, update=False),
                _s("internalemailaddress", 100),
                _s("domainname", 1024),
                Column("azureactivedirectoryobjectid", GUID),
                Column("applicationid", GUID),  # set on application users: the app registration's client id
                _s("jobtitle", 100),
                _s("title", 128),
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
                *_common(owned=False),
            ],
        ),
        _table(
            "email",
            "emails",
            "activityid",
            "subject",
            4202,
            "Email",
            [
                _s("subject", 800),
                Column("description", MEMO, 1073741823),
                Column("directioncode", BOOL, default=True, labels=("Incoming", "Outgoing")),
                _s("messageid", 320),
                _s("conversationindex", 2048, create=False, update=False),
                _s("inreplyto", 320, create=False, update=False),
                _s("sender", 250),
                _s("torecipients", 500),
                _s("trackingtoken", 50),
                Column("senton", DATETIME, create=False, update=False),
                # the mailboxes that send / received it (server-side synchronization)
                Column("sendermailboxid", LOOKUP, targets=("mailbox",)),
                Column("receivingmailboxid", LOOKUP, targets=("mailbox",)),
                *_activity_columns("email"),
                Column("statecode", PICKLIST, options=EMAIL_STATE, default=0),
                Column("statuscode", PICKLIST, options=EMAIL_STATUS, default=1),
                *_common(),
            ],
            navs=_activity_navs("email"),
            collections=[
                CollectionNav("email_activity_parties", "activityparty", "activityid"),
                CollectionNav("email_activity_mime_attachment", "activitymimeattachment", "objectid"),
            ],
        ),
        _table(
            "appointment",
            "appointments",
            "activityid",
            "subject",
            4201,
            "Appointment",
            [
                _s("subject", 200),
                _s("location", 200),
                Column("description", MEMO, 1048576),
                Column("isalldayevent", BOOL, default=False),
                _s("globalobjectid", 300),
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
                *_common(),
            ],
            navs=_activity_navs("appointment"),
            collections=[
                CollectionNav("appointment_activity_parties", "activityparty", "activityid"),
                CollectionNav("appointment_activity_mime_attachment", "activitymimeattachment", "objectid"),
            ],
        ),
        _table(
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
                _s("addressused", 320),
                *_common(owned=False),
            ],
            navs=[
                *(NavProperty(f"partyid_{t}", "partyid", t) for t in PARTY_TARGETS),
                NavProperty("activityid_email", "activityid", "email"),
                NavProperty("activityid_appointment", "activityid", "appointment"),
                NavProperty("activityid_activitypointer", "activityid", "activitypointer"),
            ],
        ),
        _table(
            "activitymimeattachment",
            "activitymimeattachments",
            "activitymimeattachmentid",
            "filename",
            1001,
            "ActivityMimeAttachment",
            [
                Column("objectid", LOOKUP, targets=("email", "appointment"), required=True),
                _s("objecttypecode", 64, required=True),
                Column("body", MEMO, 1073741823),
                _s("filename", 255),
                _s("mimetype", 256),
                _s("subject", 2000),
                Column("filesize", INT, create=False, update=False),
                *_common(owned=False),
            ],
            navs=[
                NavProperty("objectid_activitypointer", "objectid", "activitypointer"),
                NavProperty("objectid_email", "objectid", "email"),
                NavProperty("objectid_appointment", "objectid", "appointment"),
            ],
        ),
        _table(
            "activitypointer",
            "activitypointers",
            "activityid",
            "subject",
            4200,
            "Activity",
            [
                _s("subject", 800),
                Column("description", MEMO, 1073741823),
                *_activity_columns("activitypointer"),
                Column("statecode", PICKLIST, options=ACTIVITY_STATE),
                Column("statuscode", PICKLIST),
                *_common(),
            ],
            navs=[NavProperty(f"regardingobjectid_{t}", "regardingobjectid", t) for t in REGARDING_TARGETS],
            read_only=True,
        ),
    ]
    from addin_api.devstack.dataverse import mail_tables

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
