"""Seed data of the emulated Dataverse: users, customers, sales records, cases and a few tracked activities.

Every id is a uuid5 of a stable name, so tests and demos can name records. Well-known records:

- `FABRIKAM_ACCOUNT_ID` — account "Fabrikam, Inc." (info@fabrikam.example)
- `DANA_CONTACT_ID` — contact "Dana Smith" <dana@fabrikam.example> at Fabrikam; `DANA_LEAD_ID` is a lead with the
  same address (`DANA_EMAIL`), so sender resolution sees a contact and a lead
- `SHARED_CONTACT_ADDRESS` (info@northwind.example) — held by two contacts, `SHARED_CONTACT_IDS`
- `ADVENTURE_WORKS_ACCOUNT_ID`, `NORTHWIND_ACCOUNT_ID`, `OBRIEN_ACCOUNT_ID` ("O'Brien & Sons", for quote escaping),
  `NATURAL_FOODS_ACCOUNT_ID` ("100% Natural Foods", for LIKE wildcards)
- `FABRIKAM_OPPORTUNITY_ID` (opportunity "Fabrikam laptop refresh"), `FABRIKAM_CASE_ID` (case "Printer jams on
  floor 3")
- `TRACKED_EMAIL_ID` / `TRACKED_EMAIL_MESSAGE_ID` — a received email from Dana to Alice regarding Fabrikam;
  `TRACKED_APPOINTMENT_ID` — a meeting Alice organised with Dana regarding Adventure Works
- `COLLEAGUE_IDS` — systemusers who never sign in; `BUSINESS_UNIT_ID`, `ORGANIZATION_ID` — what WhoAmI answers
"""

from __future__ import annotations

import uuid
from typing import Any

from addin_api.devstack.config import DevConfig, DevUser
from addin_api.devstack.dataverse import mail_rows
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.rows import apply_computed, blank_record, set_lookup
from addin_api.devstack.dataverse.store import Seeded
from addin_api.devstack.seed_ids import BUSINESS_UNIT_ID, ORGANIZATION_ID, SEED_NAMESPACE, seed_id

SEED_TIME = "2025-01-06T09:00:00Z"

FABRIKAM_ACCOUNT_ID = seed_id("account", "Fabrikam, Inc.")
ADVENTURE_WORKS_ACCOUNT_ID = seed_id("account", "Adventure Works Cycles")
NORTHWIND_ACCOUNT_ID = seed_id("account", "Northwind Traders")
OBRIEN_ACCOUNT_ID = seed_id("account", "O'Brien & Sons")
NATURAL_FOODS_ACCOUNT_ID = seed_id("account", "100% Natural Foods")
DANA_EMAIL = "dana@fabrikam.example"
DANA_CONTACT_ID = seed_id("contact", "Dana Smith")
DANA_LEAD_ID = seed_id("lead", "Dana Smith")
SHARED_CONTACT_ADDRESS = "info@northwind.example"
SHARED_CONTACT_IDS = (seed_id("contact", "Nancy Davolio"), seed_id("contact", "Andrew Fuller"))
FABRIKAM_OPPORTUNITY_ID = seed_id("opportunity", "Fabrikam laptop refresh")
FABRIKAM_CASE_ID = seed_id("incident", "Printer jams on floor 3")
TRACKED_EMAIL_ID = seed_id("email", "Re: Laptop refresh quote")
TRACKED_EMAIL_MESSAGE_ID = "<CAF3xq1-seed-0001@mail.fabrikam.example>"
TRACKED_APPOINTMENT_ID = seed_id("appointment", "Adventure Works quarterly review")

COLLEAGUES = (
    ("Priya", "Patel", "priya@contoso.example", "Sales Manager"),
    ("Tom", "Becker", "tom@contoso.example", "Account Executive"),
    ("Sofia", "Rossi", "sofia@contoso.example", "Customer Service Representative"),
)
COLLEAGUE_IDS = tuple(seed_id("systemuser", upn) for _, _, upn, _ in COLLEAGUES)

# name, domain, city, phone
ACCOUNTS = (
    ("Fabrikam, Inc.", "fabrikam.example", "Redmond", "+1 425 555 0100"),
    ("Adventure Works Cycles", "adventure-works.example", "Bothell", "+1 425 555 0101"),
    ("Northwind Traders", "northwind.example", "Seattle", "+1 206 555 0102"),
    ("Contoso Pharmaceuticals", "contoso-pharma.example", "Boston", "+1 617 555 0103"),
    ("Litware, Inc.", "litware.example", "Dallas", "+1 214 555 0104"),
    ("A. Datum Corporation", "adatum.example", "Chicago", "+1 312 555 0105"),
    ("Coho Winery", "cohowinery.example", "Napa", "+1 707 555 0106"),
    ("Alpine Ski House", "alpineskihouse.example", "Denver", "+1 303 555 0107"),
    ("Blue Yonder Airlines", "blueyonder.example", "Phoenix", "+1 602 555 0108"),
    ("City Power & Light", "cpandl.example", "Portland", "+1 503 555 0109"),
    ("Wide World Importers", "wideworldimporters.example", "San Francisco", "+1 415 555 0110"),
    ("Tailspin Toys", "tailspintoys.example", "Austin", "+1 512 555 0111"),
    ("Woodgrove Bank", "woodgrovebank.example", "New York", "+1 212 555 0112"),
    ("Proseware, Inc.", "proseware.example", "Atlanta", "+1 404 555 0113"),
    ("O'Brien & Sons", "obrien.example", "Dublin", "+353 1 555 0114"),
    ("100% Natural Foods", "natural-foods.example", "Sacramento", "+1 916 555 0115"),
)

# first, last, email, account name, job title
CONTACTS = (
    ("Dana", "Smith", DANA_EMAIL, "Fabrikam, Inc.", "Purchasing Manager"),
    ("Ravi", "Kumar", "ravi.kumar@fabrikam.example", "Fabrikam, Inc.", "IT Director"),
    ("Maria", "Garcia", "maria@adventure-works.example", "Adventure Works Cycles", "Buyer"),
    ("John", "Chen", "john.chen@adventure-works.example", "Adventure Works Cycles", "CFO"),
    ("Nancy", "Davolio", SHARED_CONTACT_ADDRESS, "Northwind Traders", "Sales Representative"),
    ("Andrew", "Fuller", SHARED_CONTACT_ADDRESS, "Northwind Traders", "Vice President, Sales"),
    ("Janet", "Leverling", "janet@northwind.example", "Northwind Traders", "Sales Representative"),
    ("Yvonne", "McKay", "yvonne@contoso-pharma.example", "Contoso Pharmaceuticals", "Procurement Lead"),
    ("Paul", "Cannon", "paul@litware.example", "Litware, Inc.", "Operations Manager"),
    ("Susan", "Burk", "susan@adatum.example", "A. Datum Corporation", "CEO"),
    ("Kim", "Abercrombie", "kim@cohowinery.example", "Coho Winery", "Owner"),
    ("Luis", "Bonifaz", "luis@alpineskihouse.example", "Alpine Ski House", "General Manager"),
    ("Rene", "Valdes", "rene@blueyonder.example", "Blue Yonder Airlines", "Fleet Manager"),
    ("Patrick", "Sands", "patrick@cpandl.example", "City Power & Light", "Facilities Director"),
    ("Thomas", "Andersen", "thomas@wideworldimporters.example", "Wide World Importers", "Logistics Lead"),
    ("Eva", "Corets", "eva@tailspintoys.example", "Tailspin Toys", "Marketing Director"),
    ("Hao", "Chen", "hao@woodgrovebank.example", "Woodgrove Bank", "Branch Manager"),
    ("Molly", "Clark", "molly@proseware.example", "Proseware, Inc.", "Product Manager"),
    ("Sean", "O'Brien", "sean@obrien.example", "O'Brien & Sons", "Managing Director"),
    ("Anna", "Lidman", "anna@natural-foods.example", "100% Natural Foods", "Buyer"),
)

# first, last, email, company, topic
LEADS = (
    ("Dana", "Smith", DANA_EMAIL, "Fabrikam, Inc.", "Interested in extended warranty"),
    ("Oliver", "Lee", "oliver@trey-research.example", "Trey Research", "Needs 40 workstations"),
    ("Grace", "Hopper", "grace@lucerne-publishing.example", "Lucerne Publishing", "Print fleet renewal"),
    ("Jamal", "Wright", "jamal@fourthcoffee.example", "Fourth Coffee", "Point-of-sale tablets"),
    ("Chloe", "Martin", "chloe@margies-travel.example", "Margie's Travel", "Booking kiosk pilot"),
    ("Ben", "Miller", "ben@graphic-design.example", "Graphic Design Institute", "Design laptops"),
    ("Ines", "Silva", "ines@southridge-video.example", "Southridge Video", "Editing suites"),
    ("Noah", "Kim", "noah@humongous-insurance.example", "Humongous Insurance", "Field tablets"),
)

# name, account, estimated value, close date
OPPORTUNITIES = (
    ("Fabrikam laptop refresh", "Fabrikam, Inc.", 125000.0, "2025-03-31"),
    ("Fabrikam printer fleet", "Fabrikam, Inc.", 42000.0, "2025-05-15"),
    ("Adventure Works bike shop POS", "Adventure Works Cycles", 68000.0, "2025-04-30"),
    ("Northwind warehouse scanners", "Northwind Traders", 31000.0, "2025-02-28"),
    ("Contoso lab tablets", "Contoso Pharmaceuticals", 89000.0, "2025-06-30"),
    ("Litware conference rooms", "Litware, Inc.", 27500.0, "2025-03-15"),
    ("Woodgrove branch kiosks", "Woodgrove Bank", 150000.0, "2025-09-30"),
    ("Coho Winery tasting room", "Coho Winery", 12000.0, "2025-04-01"),
)

# title, account, priority
CASES = (
    ("Printer jams on floor 3", "Fabrikam, Inc.", 1),
    ("Laptop battery swelling", "Fabrikam, Inc.", 1),
    ("POS terminal offline", "Adventure Works Cycles", 2),
    ("Scanner firmware update", "Northwind Traders", 3),
    ("Tablet screen cracked", "Contoso Pharmaceuticals", 2),
    ("Projector flickers", "Litware, Inc.", 3),
)


class _Seeder:
    def __init__(self, creator: str) -> None:
        self.creator = creator
        self.version = 1000
        self.out: list[Seeded] = []

    def add(self, logical: str, record_id: str, values: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        self.version += 1
        table = TABLES[logical]
        record = blank_record(table, record_id, self.creator, SEED_TIME, self.version)
        record.update(values)
        if owner is not None and "ownerid" in table.columns:
            set_lookup(record, "ownerid", "systemuser", owner, "ownerid")
        apply_computed(table, record)
        self.out.append((logical, record_id, record))
        return record


def _party(seeder: _Seeder, activity: str, activity_id: str, mask: int, target: str, target_id: str, addr: str) -> None:
    party: dict[str, Any] = {"participationtypemask": mask, "addressused": addr}
    set_lookup(party, "activityid", activity, activity_id, f"activityid_{activity}")
    set_lookup(party, "partyid", target, target_id, f"partyid_{target}")
    seeder.add("activityparty", seed_id("activityparty", f"{activity_id}:{mask}:{target_id}"), party)


def seed_records(config: DevConfig) -> list[Seeded]:
    """Every seeded record as (table, id, record)."""
    seeder = _Seeder(COLLEAGUE_IDS[0])
    users = [u for u in config.users if u.tenant_id == config.tenant_id]
    owners = [u.systemuserid for u in users[:1]] + list(COLLEAGUE_IDS[:2])
    _seed_users(seeder, config)
    # each user's mailbox and personal options, and the organization row (mailbox synchronization)
    mail_rows.seed([out[2] for out in seeder.out], ORGANIZATION_ID, seeder.add)
    account_ids = _seed_accounts(seeder, owners)
    contact_ids = _seed_contacts(seeder, owners, account_ids)
    _seed_sales(seeder, owners, account_ids)
    _seed_activities(seeder, users[0], contact_ids)
    return seeder.out


def _seed_users(seeder: _Seeder, config: DevConfig) -> None:
    """The configured users, the application users and the colleagues who never sign in, in the root business unit."""
    for user in config.users:
        first, _, last = user.name.partition(" ")
        record: dict[str, Any] = {
            "firstname": first,
            "lastname": last,
            "internalemailaddress": user.upn,
            "domainname": user.upn,
            "azureactivedirectoryobjectid": user.oid,
            "jobtitle": "Sales Representative",
        }
        seeder.add("systemuser", user.systemuserid, record)
    for app_user in config.application_users:
        # https://learn.microsoft.com/en-us/power-platform/admin/manage-application-users
        first, _, last = app_user.name.partition(" ")
        record = {
            "firstname": first,
            "lastname": last,
            "internalemailaddress": app_user.upn,
            "domainname": app_user.upn,
            "azureactivedirectoryobjectid": app_user.oid,
            "applicationid": app_user.application_id,
        }
        seeder.add("systemuser", app_user.systemuserid, record)
    for (first, last, upn, title), user_id in zip(COLLEAGUES, COLLEAGUE_IDS, strict=True):
        record = {
            "firstname": first,
            "lastname": last,
            "internalemailaddress": upn,
            "domainname": upn,
            "azureactivedirectoryobjectid": str(uuid.uuid5(SEED_NAMESPACE, f"oid:{upn}")),
            "jobtitle": title,
        }
        seeder.add("systemuser", user_id, record)
    for out in seeder.out:
        set_lookup(out[2], "businessunitid", "businessunit", BUSINESS_UNIT_ID, "businessunitid")


def _seed_accounts(seeder: _Seeder, owners: list[str]) -> dict[str, str]:
    """The accounts; return their ids by name."""
    account_ids: dict[str, str] = {}
    for i, (name, domain, city, phone) in enumerate(ACCOUNTS):
        account_ids[name] = seed_id("account", name)
        seeder.add(
            "account",
            account_ids[name],
            {
                "name": name,
                "accountnumber": f"ACC-{1000 + i}",
                "emailaddress1": f"info@{domain}",
                "telephone1": phone,
                "websiteurl": f"https://www.{domain}",
                "address1_city": city,
            },
            owner=owners[i % len(owners)],
        )
    return account_ids


def _seed_contacts(seeder: _Seeder, owners: list[str], account_ids: dict[str, str]) -> dict[str, str]:
    """The contacts at their accounts, and the leads; return the contacts' ids by full name."""
    contact_ids: dict[str, str] = {}
    for i, (first, last, email, account, title) in enumerate(CONTACTS):
        contact_id = seed_id("contact", f"{first} {last}")
        contact_ids[f"{first} {last}"] = contact_id
        record: dict[str, Any] = {
            "firstname": first,
            "lastname": last,
            "emailaddress1": email,
            "jobtitle": title,
            "telephone1": f"+1 555 01{i:02d}",
        }
        set_lookup(record, "parentcustomerid", "account", account_ids[account], "parentcustomerid_account")
        seeder.add("contact", contact_id, record, owner=owners[i % len(owners)])
    for i, (first, last, email, company, topic) in enumerate(LEADS):
        record = {
            "firstname": first,
            "lastname": last,
            "emailaddress1": email,
            "companyname": company,
            "subject": topic,
        }
        seeder.add("lead", seed_id("lead", f"{first} {last}"), record, owner=owners[i % len(owners)])
    return contact_ids


def _seed_sales(seeder: _Seeder, owners: list[str], account_ids: dict[str, str]) -> None:
    """The opportunities and cases of the accounts."""
    for i, (name, account, value, close) in enumerate(OPPORTUNITIES):
        record: dict[str, Any] = {"name": name, "estimatedvalue": value, "estimatedclosedate": close}
        set_lookup(record, "customerid", "account", account_ids[account], "customerid_account")
        set_lookup(record, "parentaccountid", "account", account_ids[account], "parentaccountid")
        seeder.add("opportunity", seed_id("opportunity", name), record, owner=owners[i % len(owners)])
    for i, (title, account, priority) in enumerate(CASES):
        case: dict[str, Any] = {"title": title, "prioritycode": priority, "caseorigincode": 2}
        set_lookup(case, "customerid", "account", account_ids[account], "customerid_account")
        seeder.add("incident", seed_id("incident", title), case, owner=owners[i % len(owners)])


def _seed_activities(seeder: _Seeder, alice: DevUser, contact_ids: dict[str, str]) -> None:
    """The tracked email from Dana to Alice and Alice's tracked meeting with Maria, with their parties."""
    tracked: dict[str, Any] = {
        "subject": "Re: Laptop refresh quote",
        "description": "<p>Thanks Alice, the quote looks good. Can we talk on Thursday?</p>",
        "directioncode": False,
        "messageid": TRACKED_EMAIL_MESSAGE_ID,
        "sender": DANA_EMAIL,
        "torecipients": alice.upn,
        "actualend": "2025-01-06T08:55:00Z",
        "statecode": 1,
        "statuscode": 4,
    }
    set_lookup(tracked, "regardingobjectid", "account", FABRIKAM_ACCOUNT_ID, "regardingobjectid_account_email")
    seeder.add("email", TRACKED_EMAIL_ID, tracked, owner=alice.systemuserid)
    _party(seeder, "email", TRACKED_EMAIL_ID, 1, "contact", DANA_CONTACT_ID, DANA_EMAIL)
    _party(seeder, "email", TRACKED_EMAIL_ID, 2, "systemuser", alice.systemuserid, alice.upn)

    meeting: dict[str, Any] = {
        "subject": "Adventure Works quarterly review",
        "location": "Teams",
        "scheduledstart": "2025-01-09T16:00:00Z",
        "scheduledend": "2025-01-09T17:00:00Z",
        "globalobjectid": "040000008200E00074C5B7101A82E00800000000SEED0001",
    }
    set_lookup(
        meeting, "regardingobjectid", "account", ADVENTURE_WORKS_ACCOUNT_ID, "regardingobjectid_account_appointment"
    )
    seeder.add("appointment", TRACKED_APPOINTMENT_ID, meeting, owner=alice.systemuserid)
    _party(seeder, "appointment", TRACKED_APPOINTMENT_ID, 7, "systemuser", alice.systemuserid, alice.upn)
    _party(
        seeder,
        "appointment",
        TRACKED_APPOINTMENT_ID,
        5,
        "contact",
        contact_ids["Maria Garcia"],
        "maria@adventure-works.example",
    )
