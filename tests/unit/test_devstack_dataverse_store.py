"""The emulated Dataverse's in-memory rows and equality indexes agree with the database and with a full scan."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from addin_api.devstack.config import DevConfig
from addin_api.devstack.dataverse.errors import DataverseError
from addin_api.devstack.dataverse.filter_parser import parse_filter
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.store import DataverseStore
from addin_api.devstack.seed import DANA_CONTACT_ID, DANA_EMAIL, SHARED_CONTACT_ADDRESS, TRACKED_EMAIL_ID, seed_records

FILTERS = [
    ("contact", f"emailaddress1 eq '{DANA_EMAIL.upper()}'"),
    ("contact", f"emailaddress1 eq '{SHARED_CONTACT_ADDRESS}' or emailaddress2 eq '{SHARED_CONTACT_ADDRESS}'"),
    ("contact", f"(emailaddress1 eq '{DANA_EMAIL}' or emailaddress3 eq 'x@y.example') and statecode eq 0"),
    ("contact", f"emailaddress1 eq '{DANA_EMAIL}' or statecode eq 0"),  # one side unindexable: a scan
    ("contact", f"not (emailaddress1 eq '{DANA_EMAIL}')"),
    ("contact", "contains(emailaddress1, 'fabrikam')"),
    ("contact", f"_parentcustomerid_value eq {DANA_CONTACT_ID.upper()}"),
    ("email", f"activityid eq '{TRACKED_EMAIL_ID.upper()}'"),
    ("activityparty", f"_activityid_value eq {TRACKED_EMAIL_ID}"),
]


@pytest.fixture()
def store(tmp_path: Path) -> DataverseStore:
    """A seeded store in a temporary database."""
    config = DevConfig.load(tmp_path)
    return DataverseStore(tmp_path / "dv.sqlite3", config, seed_records(config))


def assert_index_agrees(store: DataverseStore) -> None:
    """Every filter finds through `Operations.candidates` exactly what a full scan finds, in the same order."""
    ops = Operations(store, store.config.users[0], "https://dv.example/api/data/v9.2/")
    for logical, text in FILTERS:
        table = TABLES[logical]
        predicate = parse_filter(table, text)
        scanned = [r[table.key] for r in store.all(logical) if predicate(r)]
        indexed = [r[table.key] for r in ops.candidates(table, predicate.keys) if predicate(r)]
        assert scanned == indexed, text


def test_equality_filters_are_indexable_and_others_are_not() -> None:
    """Only equality with a string narrows the candidates; a filter with an unindexable alternative does not."""
    contact = TABLES["contact"]
    assert parse_filter(contact, "emailaddress1 eq 'A@B.example'").keys == {("emailaddress1", "a@b.example")}
    assert parse_filter(contact, "emailaddress1 eq 'a' and statecode eq 0").keys == {("emailaddress1", "a")}
    assert parse_filter(contact, "emailaddress1 eq 'a' or statecode eq 0").keys is None
    assert parse_filter(contact, "not (emailaddress1 eq 'a')").keys is None
    assert parse_filter(contact, "startswith(emailaddress1, 'a')").keys is None


def test_index_agrees_with_a_scan_through_writes_and_rollbacks(store: DataverseStore) -> None:
    """Inserts, updates, deletes and a rolled-back transaction keep memory, indexes and the database in step."""
    ops = Operations(store, store.config.users[0], "https://dv.example/api/data/v9.2/")
    contact = TABLES["contact"]
    assert_index_agrees(store)  # builds the indexes
    new_id = ops.create(contact, {"lastname": "Index", "emailaddress1": "Index.Me@Example.com"})
    assert_index_agrees(store)
    ops.update(contact, new_id, {"emailaddress1": DANA_EMAIL}, ops.get(contact, new_id))
    assert_index_agrees(store)
    assert new_id in [r["contactid"] for r in store.find("contact", [("emailaddress1", DANA_EMAIL)])]
    assert [] == store.find("contact", [("emailaddress1", "index.me@example.com")])
    with pytest.raises(DataverseError), store.transaction():
        ops.update(contact, new_id, {"emailaddress1": "rolled.back@example.com"}, ops.get(contact, new_id))
        ops.create(contact, {"lastname": "Gone"})
        raise DataverseError(400, "0x0", "fail the change set")
    assert DANA_EMAIL == ops.get(contact, new_id)["emailaddress1"]
    assert not any(r.get("lastname") == "Gone" for r in store.all("contact"))
    assert_index_agrees(store)
    ops.delete(TABLES["email"], TRACKED_EMAIL_ID)  # cascades to its activity parties
    assert_index_agrees(store)
    reopened = DataverseStore(store.db_path, store.config, seed_records(store.config))
    assert store.all("contact") == reopened.all("contact")
    assert store.all("activityparty") == reopened.all("activityparty")


def test_reset_forgets_writes(store: DataverseStore) -> None:
    """`reset` brings memory back to the seeded rows too."""
    seeded = store.all("contact")
    ops = Operations(store, store.config.users[0], "https://dv.example/api/data/v9.2/")
    ops.create(TABLES["contact"], {"lastname": "Temporary", "emailaddress1": "t@example.com"})
    store.reset()
    assert seeded == store.all("contact")
    assert [] == store.find("contact", [("emailaddress1", "t@example.com")])


def test_memory_holds_what_the_database_gives_back(store: DataverseStore) -> None:
    """A written record reads back from memory as it would from its stored JSON, nested values included."""
    store.insert("contact", "C0FFEE00-0000-4000-8000-000000000001", {"versionnumber": 1, "tags": ("a", "b")})
    store.insert("contact", "c0ffee00-0000-4000-8000-000000000002", {"versionnumber": 2, "lastname": "Flat"})
    reopened = DataverseStore(store.db_path, store.config, seed_records(store.config))
    assert {"versionnumber": 1, "tags": ["a", "b"]} == store.get("contact", "c0ffee00-0000-4000-8000-000000000001")
    assert store.all("contact") == reopened.all("contact")


def test_concurrent_commits_and_rollbacks_leave_memory_and_database_alike(store: DataverseStore) -> None:
    """Writers committing while others roll back: every commit reaches the database, no rolled-back row does."""
    ops = Operations(store, store.config.users[0], "https://dv.example/api/data/v9.2/")
    contact = TABLES["contact"]

    def write(n: int) -> str | None:
        if n % 3:
            return ops.create(contact, {"lastname": f"Kept {n}", "emailaddress1": f"kept{n}@example.com"})
        with pytest.raises(DataverseError), store.transaction():
            ops.create(contact, {"lastname": f"Gone {n}"})
            raise DataverseError(400, "0x0", "fail the change set")
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        kept = {i for i in pool.map(write, range(120)) if i is not None}
    reopened = DataverseStore(store.db_path, store.config, seed_records(store.config))
    assert store.all("contact") == reopened.all("contact")
    names = [r["lastname"] for r in reopened.all("contact")]
    assert (80, 0) == (sum(n.startswith("Kept") for n in names), sum(n.startswith("Gone") for n in names))
    assert kept <= {r["contactid"] for r in reopened.all("contact")}
    assert_index_agrees(store)
