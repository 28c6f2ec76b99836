"""Microsoft's Python SDK for Dataverse (PowerPlatform-Dataverse-Client), unchanged and unpatched, on the devstack.

Each test uses the SDK as its README and Microsoft Learn show it
(https://learn.microsoft.com/en-us/power-apps/developer/data-platform/sdk-python/work-data,
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/sdk-python/query): a `DataverseClient` for the
environment URL and an azure-core `TokenCredential`; only the credential is ours, as every caller's is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken, TokenCredential
from conftest import ALICE, Devstack
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models import col

from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID


class DevstackCredential:
    """A TokenCredential that gets a Dataverse token for a demo user from the devstack's control surface."""

    def __init__(self, devstack: Devstack, user: str) -> None:
        self.devstack = devstack
        self.user = user
        self.scopes: list[tuple[str, ...]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Mint a Dataverse access token (the scopes asked for are kept for the assertions)."""
        self.scopes.append(scopes)
        body = {"user": self.user, "audience": "dataverse"}
        response = self.devstack.http.post(f"{self.devstack.url}/_devstack/token", json=body, timeout=10)
        response.raise_for_status()
        minted = response.json()
        return AccessToken(minted["access_token"], int(time.time()) + int(minted["expires_in"]))


@pytest.fixture()
def credential(devstack: Devstack) -> DevstackCredential:
    """Alice's credential."""
    return DevstackCredential(devstack, ALICE)


@pytest.fixture()
def client(devstack: Devstack, credential: DevstackCredential, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's client on the devstack's environment URL, trusting the devstack CA as requests does."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", devstack.ca_file)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with DataverseClient(devstack.config["environmentUrl"], credential) as sdk:
        yield sdk


def test_credential_is_a_token_credential(credential: DevstackCredential) -> None:
    """The SDK accepts any azure-core TokenCredential; ours is one."""
    assert isinstance(credential, TokenCredential)


def test_create_retrieve_update_delete(client: Any, credential: DevstackCredential, devstack: Devstack) -> None:
    """records.create/retrieve/update/delete round-trip an account, with the SDK asking for `<env>/.default`."""
    account_id = client.records.create("account", {"name": "Contoso Ltd", "description": "From the SDK"})
    account = client.records.retrieve("account", account_id, select=["name", "description"])
    assert account is not None
    assert ("Contoso Ltd", "From the SDK") == (account["name"], account["description"])

    client.records.update("account", account_id, {"telephone1": "555-0199", "numberofemployees": 12})
    updated = client.records.retrieve("account", account_id, select=["telephone1", "numberofemployees"])
    assert ("555-0199", 12) == (updated["telephone1"], updated["numberofemployees"])

    client.records.delete("account", account_id)
    assert client.records.retrieve("account", account_id) is None
    assert {(f"{devstack.config['environmentUrl']}/.default",)} == set(credential.scopes)


def test_choice_labels_become_values(client: Any) -> None:
    """A choice column given by its label is written as its value, read from the picklist metadata."""
    account_id = client.records.create("account", {"name": "Labelled", "industrycode": "Consulting"})
    account = client.records.retrieve("account", account_id, select=["industrycode"])
    assert 7 == account["industrycode"]


def test_filtered_and_paged_list(client: Any) -> None:
    """The query builder filters and orders; page_size pages through @odata.nextLink."""
    for n in range(5):
        client.records.create("account", {"name": f"Paged {n}", "numberofemployees": n})
    result = (
        client.query.builder("account")
        .select("name", "numberofemployees")
        .where(col("numberofemployees") >= 1)
        .where(col("name").startswith("Paged"))
        .order_by("numberofemployees", descending=True)
        .execute()
    )
    assert ["Paged 4", "Paged 3", "Paged 2", "Paged 1"] == [r["name"] for r in result]

    pages = list(
        client.query.builder("account")
        .select("name")
        .where(col("name").startswith("Paged"))
        .page_size(2)
        .execute_pages()
    )
    assert [2, 2, 1] == [len(list(page)) for page in pages]


def test_expand_a_lookup(client: Any) -> None:
    """`.expand()` brings the related record inline."""
    contact_id = client.records.create(
        "contact",
        {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "parentcustomerid_account@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
        },
    )
    rows = list(
        client.query.builder("contact")
        .select("fullname")
        .where(col("contactid") == contact_id)
        .expand("parentcustomerid_account")
        .execute()
    )
    assert 1 == len(rows)
    assert "Fabrikam, Inc." == rows[0]["parentcustomerid_account"]["name"]


def test_table_metadata(client: Any) -> None:
    """tables.get and list_columns read EntityDefinitions and its Attributes."""
    info = client.tables.get("account")
    assert info is not None
    assert ("accounts", "accountid", "name") == (
        info["entity_set_name"],
        info["primary_id_attribute"],
        info["primary_name_attribute"],
    )
    strings = client.tables.list_columns(
        "account", select=["LogicalName", "AttributeType"], filter="AttributeType eq 'String'"
    )
    names = {c["LogicalName"] for c in strings}
    assert {"name", "telephone2", "address1_line1"} <= names
    assert "numberofemployees" not in names
    keys = client.tables.get_alternate_keys("account")
    assert [["accountnumber"]] == [list(k.key_attributes) for k in keys]


def test_fetchxml_query(client: Any) -> None:
    """A FetchXML query with a filter, an order and a link-entity, paged by the SDK through the paging cookie."""
    for n in range(3):
        client.records.create(
            "contact",
            {
                "firstname": "Fetch",
                "lastname": f"Person {n}",
                "parentcustomerid_account@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
            },
        )
    xml = """
      <fetch count="2">
        <entity name="contact">
          <attribute name="fullname" />
          <filter>
            <condition attribute="firstname" operator="eq" value="Fetch" />
          </filter>
          <order attribute="lastname" descending="true" />
          <link-entity name="account" from="accountid" to="parentcustomerid" alias="a" link-type="inner">
            <attribute name="name" />
          </link-entity>
        </entity>
      </fetch>
    """
    pages = list(client.query.fetchxml(xml).execute_pages())
    assert [2, 1] == [len(list(p)) for p in pages]
    rows = [r for page in pages for r in page]
    assert ["Fetch Person 2", "Fetch Person 1", "Fetch Person 0"] == [r["fullname"] for r in rows]
    assert {"Fabrikam, Inc."} == {r["a.name"] for r in rows}


def test_sql_fails_as_an_http_error(client: Any) -> None:
    """The emulator cannot run `?sql=`: the SDK sees a 400 with Dataverse's error body, not wrong rows."""
    with pytest.raises(HttpError) as raised:
        client.query.sql("SELECT TOP 5 name FROM account ORDER BY name")
    assert 400 == raised.value.status_code


def test_records_list_with_filter_and_pages(client: Any) -> None:
    """records.list collects every page of a filtered, ordered list; list_pages yields them one by one."""
    for n in range(3):
        client.records.create("contact", {"firstname": "Listed", "lastname": f"L{n}", "description": "sdk"})
    listed = client.records.list(
        "contact", filter="firstname eq 'Listed'", select=["lastname"], orderby=["lastname desc"], page_size=2
    )
    assert ["L2", "L1", "L0"] == [r["lastname"] for r in listed]
    pages = list(client.records.list_pages("contact", filter="firstname eq 'Listed'", select=["lastname"], page_size=2))
    assert [2, 1] == [len(list(p)) for p in pages]


def test_tables_and_relationships(client: Any) -> None:
    """tables.list sees every table; list_table_relationships sees account's one-to-many relationships."""
    tables = {t["LogicalName"] for t in client.tables.list(select=["LogicalName"])}
    assert {"account", "contact", "email", "systemuser"} <= tables
    relationships = client.tables.list_table_relationships("account", select=["SchemaName"])
    names = {r["SchemaName"] for r in relationships}
    assert {"contact_customer_accounts", "Account_Emails"} <= names


def test_typed_columns_through_retrieve_metadata_changes(client: Any) -> None:
    """typed=True reads columns through RetrieveMetadataChanges, with each derived type's own properties."""
    columns = {c["LogicalName"]: c for c in client.tables.list_columns("account", typed=True)}
    assert (160, 2000) == (columns["name"]["MaxLength"], columns["description"]["MaxLength"])
    employees = client.tables.get_column("account", "numberofemployees", typed=True)
    assert ("Integer", 2147483647) == (employees["AttributeType"], employees["MaxValue"])
    assert client.tables.get_column("account", "nosuchcolumn", typed=True) is None
