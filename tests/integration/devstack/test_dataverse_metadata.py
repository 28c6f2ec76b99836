"""The emulated Dataverse's metadata over real HTTPS: service document, `$metadata` (CSDL) and EntityDefinitions.

Every table the emulator runs on must be described, and described as it behaves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
import requests
from dataverse_support import WebApi

from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import LOOKUP

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NS = "Microsoft.Dynamics.CRM"


Dv = WebApi


@pytest.fixture()
def dv(devstack: Any) -> Dv:
    """Alice's Web API client."""
    return Dv(devstack)


def test_service_document_lists_every_entity_set(dv: Dv) -> None:
    """`GET /api/data/v9.2/` lists one EntitySet per table, with the `$metadata` context."""
    body = dv.json("")
    assert f"{dv.api}$metadata" == body["@odata.context"]
    assert {t.entity_set for t in TABLES.values()} == {v["name"] for v in body["value"]}
    assert all(v["kind"] == "EntitySet" and v["url"] == v["name"] for v in body["value"])


def test_metadata_needs_a_token(devstack: Any) -> None:
    """Metadata is part of the Web API: no bearer token, 401."""
    assert 401 == devstack.http.get(devstack.api + "$metadata", timeout=10).status_code


def test_csdl_describes_the_tables_the_emulator_runs_on(dv: Dv) -> None:
    """`$metadata` is CSDL with one EntityType (key, properties, navigation properties) and EntitySet per table."""
    response = dv.call("GET", "$metadata")
    assert 200 == response.status_code
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    schema = root.find(f"{{http://docs.oasis-open.org/odata/ns/edmx}}DataServices/{EDM}Schema")
    assert schema is not None and NS == schema.get("Namespace")
    types = {e.get("Name"): e for e in schema.findall(f"{EDM}EntityType")}
    for table in TABLES.values():
        entity = types[table.logical]
        assert [table.key] == [p.get("Name") for p in entity.findall(f"{EDM}Key/{EDM}PropertyRef")]
        assert set(table.attributes) == {p.get("Name") for p in entity.findall(f"{EDM}Property")}
        navs = {n.get("Name"): n.get("Type") for n in entity.findall(f"{EDM}NavigationProperty")}
        for nav in table.navs.values():
            if nav.target in TABLES:
                assert f"mscrm.{nav.target}" == navs[nav.name]
        for collection in table.collections.values():
            assert f"Collection(mscrm.{collection.child})" == navs[collection.name]
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None
    sets = {s.get("Name"): s.get("EntityType") for s in container.findall(f"{EDM}EntitySet")}
    assert {t.entity_set: f"{NS}.{t.logical}" for t in TABLES.values()} == sets


def test_a_generic_odata_client_reflects_the_csdl(dv: Dv, devstack: Any) -> None:
    """python-odata builds entity classes from `$metadata` and queries an entity set through them."""
    from odata import ODataService

    session = requests.Session()
    session.verify = devstack.ca_file
    session.trust_env = False
    session.headers.update({"Authorization": dv.headers["Authorization"]})
    service = ODataService(dv.api, reflect_entities=True, session=session, quiet_progress=True)
    assert {t.entity_set for t in TABLES.values()} == set(service.entities)
    account = service.entities["accounts"]
    found = service.query(account).filter(account.name == "Fabrikam, Inc.").all()
    assert ["Fabrikam, Inc."] == [a.name for a in found]
    assert all(hasattr(account, name) for name in ("accountid", "telephone2", "_primarycontactid_value"))


def test_entity_definitions_as_the_sdk_asks(dv: Dv) -> None:
    """`$select` and `$filter` on EntityDefinitions answer only the asked properties (and MetadataId)."""
    query = "$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=" + quote("LogicalName eq 'contact'")
    body = dv.json(f"EntityDefinitions?{query}")
    assert 1 == len(body["value"])
    item = body["value"][0]
    assert {"MetadataId", "LogicalName", "EntitySetName", "PrimaryIdAttribute"} == set(item)
    assert ("contact", "contacts", "contactid") == (
        item["LogicalName"],
        item["EntitySetName"],
        item["PrimaryIdAttribute"],
    )


def test_entity_definition_by_name_and_by_id(dv: Dv) -> None:
    """`EntityDefinitions(LogicalName='account')` and `EntityDefinitions(<MetadataId>)` are the same definition."""
    by_name = dv.json("EntityDefinitions(LogicalName='account')")
    assert (1, "Account", "name", "UserOwned") == (
        by_name["ObjectTypeCode"],
        by_name["SchemaName"],
        by_name["PrimaryNameAttribute"],
        by_name["OwnershipType"],
    )
    assert "Accounts" == by_name["DisplayCollectionName"]["UserLocalizedLabel"]["Label"]
    by_id = dv.json(f"EntityDefinitions({by_name['MetadataId']})?$select=LogicalName")
    assert "account" == by_id["LogicalName"]


def test_unknown_table_is_a_json_404(dv: Dv) -> None:
    """A table that does not exist answers 404 with Dataverse's error body."""
    response = dv.call("GET", "EntityDefinitions(LogicalName='nosuchtable')")
    assert 404 == response.status_code
    assert "0x80040217" == response.json()["error"]["code"]


def test_filter_on_enum_and_boolean_properties(dv: Dv) -> None:
    """Enum literals (`Microsoft.Dynamics.CRM.OwnershipTypes'…'`) and booleans filter definitions."""
    owned = quote(f"OwnershipType eq {NS}.OwnershipTypes'BusinessOwned'")
    assert ["systemuser", "usersettings"] == [
        e["LogicalName"] for e in dv.json(f"EntityDefinitions?$filter={owned}")["value"]
    ]
    activities = dv.json("EntityDefinitions?$select=LogicalName&$filter=" + quote("IsActivity eq true"))["value"]
    assert {"email", "appointment", "activitypointer"} == {e["LogicalName"] for e in activities}


def test_attributes_list_every_column_with_its_type(dv: Dv) -> None:
    """`…/Attributes` lists each column once, with AttributeType, the derived @odata.type and type properties."""
    body = dv.json("EntityDefinitions(LogicalName='account')/Attributes")
    attributes = {a["LogicalName"]: a for a in body["value"]}
    assert set(TABLES["account"].columns) == set(attributes)
    name = attributes["name"]
    assert ("String", f"#{NS}.StringAttributeMetadata", 160, True) == (
        name["AttributeType"],
        name["@odata.type"],
        name["MaxLength"],
        name["IsPrimaryName"],
    )
    assert ("Memo", 2000) == (attributes["description"]["AttributeType"], attributes["description"]["MaxLength"])
    assert "Integer" == attributes["numberofemployees"]["AttributeType"]
    assert (["contact"], "Lookup") == (
        attributes["primarycontactid"]["Targets"],
        attributes["primarycontactid"]["AttributeType"],
    )
    assert "Owner" == attributes["ownerid"]["AttributeType"]
    assert ("State", "Status") == (attributes["statecode"]["AttributeType"], attributes["statuscode"]["AttributeType"])


def test_attribute_by_name_with_select(dv: Dv) -> None:
    """`Attributes(LogicalName='birthdate')` is the date-only column of contact."""
    body = dv.json("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='birthdate')")
    assert ("DateTime", "DateOnly") == (body["AttributeType"], body["Format"])
    missing = dv.call("GET", "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='nosuchcolumn')")
    assert 404 == missing.status_code


def test_picklist_cast_with_option_set(dv: Dv) -> None:
    """The cast to PicklistAttributeMetadata keeps choice columns only; `$expand=OptionSet` brings their options."""
    path = f"EntityDefinitions(LogicalName='account')/Attributes/{NS}.PicklistAttributeMetadata"
    body = dv.json(f"{path}?$select=LogicalName&$expand=OptionSet($select=Options)")
    by_name = {a["LogicalName"]: a for a in body["value"]}
    assert {"industrycode"} == set(by_name)  # statecode/statuscode are State/Status, not Picklist
    options = by_name["industrycode"]["OptionSet"]["Options"]
    consulting = next(o for o in options if o["Value"] == 7)
    assert "Consulting" == consulting["Label"]["LocalizedLabels"][0]["Label"]
    assert 1033 == consulting["Label"]["LocalizedLabels"][0]["LanguageCode"]
    assert {"MetadataId", "Options"} == set(by_name["industrycode"]["OptionSet"])


def test_state_and_status_option_sets(dv: Dv) -> None:
    """State options name their default status; status options name their state."""
    base = "EntityDefinitions(LogicalName='email')/Attributes(LogicalName='{}')/" + NS + ".{}?$expand=OptionSet"
    state = dv.json(base.format("statecode", "StateAttributeMetadata"))["OptionSet"]
    assert "State" == state["OptionSetType"]
    assert {0: 1, 1: 2, 2: 5} == {o["Value"]: o["DefaultStatus"] for o in state["Options"]}
    status = dv.json(base.format("statuscode", "StatusAttributeMetadata"))["OptionSet"]
    assert 1 == next(o["State"] for o in status["Options"] if o["Value"] == 4)  # Received is Completed


def test_boolean_option_set_and_global_option_set(dv: Dv) -> None:
    """A yes/no column has TrueOption/FalseOption; local option sets have no GlobalOptionSet."""
    path = (
        f"EntityDefinitions(LogicalName='email')/Attributes(LogicalName='directioncode')/{NS}.BooleanAttributeMetadata"
    )
    body = dv.json(f"{path}?$expand=OptionSet,GlobalOptionSet")
    assert "Outgoing" == body["OptionSet"]["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"]
    assert body["GlobalOptionSet"] is None


def test_option_set_needs_the_cast(dv: Dv) -> None:
    """OptionSet is a property of the derived types: expanding it on plain AttributeMetadata is a 400."""
    response = dv.call("GET", "EntityDefinitions(LogicalName='account')/Attributes?$expand=OptionSet")
    assert 400 == response.status_code
    assert "OptionSet" in response.json()["error"]["message"]


def test_a_cast_that_does_not_match_is_refused(dv: Dv) -> None:
    """Casting a string column to PicklistAttributeMetadata fails instead of answering a wrong shape."""
    response = dv.call(
        "GET", f"EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')/{NS}.PicklistAttributeMetadata"
    )
    assert 400 == response.status_code


def test_keys(dv: Dv) -> None:
    """`…/Keys` lists the account's alternate key on accountnumber; contact has none."""
    keys = dv.json("EntityDefinitions(LogicalName='account')/Keys")["value"]
    assert [(["accountnumber"], "Active")] == [(k["KeyAttributes"], k["EntityKeyIndexStatus"]) for k in keys]
    assert [] == dv.json("EntityDefinitions(LogicalName='contact')/Keys")["value"]


def test_relationships_match_the_navigation_properties(dv: Dv) -> None:
    """One-to-many and many-to-one relationships name navigation properties the emulator really has."""
    one_to_many = dv.json("EntityDefinitions(LogicalName='account')/OneToManyRelationships")["value"]
    by_name = {r["SchemaName"]: r for r in one_to_many}
    customer = by_name["contact_customer_accounts"]
    assert ("account", "accountid", "contact", "parentcustomerid", "parentcustomerid_account") == (
        customer["ReferencedEntity"],
        customer["ReferencedAttribute"],
        customer["ReferencingEntity"],
        customer["ReferencingAttribute"],
        customer["ReferencingEntityNavigationPropertyName"],
    )
    assert set(TABLES["account"].collections) == set(by_name)
    many_to_one = dv.json("EntityDefinitions(LogicalName='contact')/ManyToOneRelationships?$select=SchemaName")["value"]
    assert "contact_customer_accounts" in {r["SchemaName"] for r in many_to_one}
    for relationship in many_to_one:
        assert {"@odata.type", "MetadataId", "SchemaName"} == set(relationship)
    assert [] == dv.json("EntityDefinitions(LogicalName='contact')/ManyToManyRelationships")["value"]


def test_relationship_definitions_by_schema_name(dv: Dv) -> None:
    """`RelationshipDefinitions(SchemaName='Account_Emails')` is the email regarding relationship."""
    body = dv.json("RelationshipDefinitions(SchemaName='Account_Emails')")
    assert ("email", "regardingobjectid", "regardingobjectid_account_email") == (
        body["ReferencingEntity"],
        body["ReferencingAttribute"],
        body["ReferencingEntityNavigationPropertyName"],
    )


def test_expand_attributes_on_entity_definitions(dv: Dv) -> None:
    """`$expand=Attributes($select=LogicalName)` inlines the columns of each definition."""
    query = "$select=LogicalName&$filter=" + quote("LogicalName eq 'lead'") + "&$expand=Attributes($select=LogicalName)"
    body = dv.json(f"EntityDefinitions?{query}")
    attributes = body["value"][0]["Attributes"]
    assert set(TABLES["lead"].columns) == {a["LogicalName"] for a in attributes}
    assert all(set(a) <= {"@odata.type", "MetadataId", "LogicalName"} for a in attributes)


def test_every_lookup_is_described_as_a_lookup(dv: Dv) -> None:
    """For every table, the Attributes metadata agrees with the column types the emulator enforces."""
    for table in TABLES.values():
        body = dv.json(f"EntityDefinitions(LogicalName='{table.logical}')/Attributes?$select=LogicalName,AttributeType")
        kinds = {a["LogicalName"]: a["AttributeType"] for a in body["value"]}
        for column in table.columns.values():
            is_lookup = kinds[column.name] in ("Lookup", "Customer", "Owner")
            assert is_lookup == (column.type == LOOKUP), (table.logical, column.name)


def test_unknown_select_property(dv: Dv) -> None:
    """`$select` of a property EntityMetadata lacks is a 400 naming it."""
    response = dv.call("GET", "EntityDefinitions?$select=NoSuchProperty")
    assert 400 == response.status_code
    assert "NoSuchProperty" in response.json()["error"]["message"]


def test_schema_changes_are_refused_as_a_missing_privilege(dv: Dv) -> None:
    """Creating a table or a key needs customizer privileges the devstack's users do not hold: 403."""
    response = dv.stack.http.post(
        dv.api + "EntityDefinitions(LogicalName='account')/Keys", headers=dv.headers, json={}, timeout=10
    )
    assert 403 == response.status_code
    assert "0x80040220" == response.json()["error"]["code"]


def test_global_option_sets(dv: Dv) -> None:
    """The choice columns here use local option sets: GlobalOptionSetDefinitions is empty, a name is a 404."""
    assert [] == dv.json("GlobalOptionSetDefinitions")["value"]
    assert 404 == dv.call("GET", "GlobalOptionSetDefinitions(Name='account_industrycode')").status_code


def test_derived_properties_need_the_cast(dv: Dv) -> None:
    """MaxLength belongs to the string and memo types: selecting it on AttributeMetadata is a 400, after a cast 200."""
    plain = dv.call("GET", "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,MaxLength")
    assert 400 == plain.status_code
    assert "MaxLength" in plain.json()["error"]["message"]
    path = f"EntityDefinitions(LogicalName='account')/Attributes/{NS}.StringAttributeMetadata"
    cast = f"{path}?$select=LogicalName,MaxLength"
    lengths = {a["LogicalName"]: a["MaxLength"] for a in dv.json(cast)["value"]}
    assert (160, 250) == (lengths["name"], lengths["address1_line1"])


def test_retrieve_metadata_changes(dv: Dv) -> None:
    """An EntityQueryExpression selects tables and columns and projects the named properties only."""
    import json

    def condition(value: str) -> dict[str, Any]:
        return {
            "PropertyName": "LogicalName",
            "ConditionOperator": "Equals",
            "Value": {"Type": "System.String", "Value": value},
        }

    expression = {
        "Properties": {"PropertyNames": ["LogicalName", "Attributes"]},
        "Criteria": {"Conditions": [condition("contact")]},
        "AttributeQuery": {
            "Properties": {"PropertyNames": ["LogicalName", "Format"]},
            "Criteria": {"Conditions": [condition("birthdate")]},
        },
    }
    body = dv.json(f"RetrieveMetadataChanges(Query=@p1)?@p1={quote(json.dumps(expression))}")
    assert ["contact"] == [e["LogicalName"] for e in body["EntityMetadata"]]
    attributes = body["EntityMetadata"][0]["Attributes"]
    assert [{"@odata.type", "MetadataId", "LogicalName", "Format"}] == [set(a) for a in attributes]
    assert "DateOnly" == attributes[0]["Format"]
    refused = dv.call(
        "GET", f"RetrieveMetadataChanges(Query=@p1)?@p1={quote(json.dumps({'RelationshipQuery': {'Criteria': {}}}))}"
    )
    assert 400 == refused.status_code
