"""The CSDL `$metadata` document, derived from `metadata.TABLES` like every other definition.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-service-documents#csdl-metadata-document
"""

from __future__ import annotations

import functools
from xml.etree import ElementTree

from addin_api.devstack.dataverse.definition_json import NS
from addin_api.devstack.dataverse.metadata import TABLES, partner_of
from addin_api.devstack.dataverse.schema import EDM_TYPES, MEMO, MONEY, STRING, Table

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


@functools.lru_cache(maxsize=1)
def csdl() -> bytes:
    """The CSDL document of every table: entity types with keys, properties and navigation properties, and the
    `System` entity container with one entity set per table.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-service-documents#csdl-metadata-document
    """
    ElementTree.register_namespace("edmx", EDMX)
    root = ElementTree.Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"})
    services = ElementTree.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = ElementTree.SubElement(services, "Schema", {"Namespace": NS, "Alias": "mscrm", "xmlns": EDM})
    ElementTree.SubElement(schema, "EntityType", {"Name": "crmbaseentity", "Abstract": "true"})
    for table in TABLES.values():
        _entity_type(schema, table)
    _functions(schema)
    _container(schema)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + document


def _entity_type(schema: ElementTree.Element, table: Table) -> None:
    """A table's EntityType: key, properties and navigation properties."""
    entity = ElementTree.SubElement(schema, "EntityType", {"Name": table.logical, "BaseType": "mscrm.crmbaseentity"})
    key = ElementTree.SubElement(entity, "Key")
    ElementTree.SubElement(key, "PropertyRef", {"Name": table.key})
    for column in table.columns.values():
        edm = "Edm.Int64" if column.name == "versionnumber" else EDM_TYPES[column.type]
        attrs = {"Name": column.attribute, "Type": edm}
        if column.name == table.key:
            attrs["Nullable"] = "false"
        if column.type in (STRING, MEMO):
            attrs["Unicode"] = "false"
        if column.type == MONEY:
            attrs["Scale"] = "Variable"
        ElementTree.SubElement(entity, "Property", attrs)
    _navigation_properties(entity, table)


def _navigation_properties(entity: ElementTree.Element, table: Table) -> None:
    """Single-valued navigation properties (with partner and referential constraint) and collection ones."""
    for nav in table.navs.values():
        target = TABLES.get(nav.target)
        if target is None:
            continue
        partner = next(
            (
                c.name
                for c in target.collections.values()
                if c.child == table.logical and c.column == nav.column and partner_of(c, target) == nav.name
            ),
            None,
        )
        attrs = {"Name": nav.name, "Type": f"mscrm.{target.logical}", "Nullable": "false"}
        if partner:
            attrs["Partner"] = partner
        element = ElementTree.SubElement(entity, "NavigationProperty", attrs)
        ElementTree.SubElement(
            element, "ReferentialConstraint", {"Property": f"_{nav.column}_value", "ReferencedProperty": target.key}
        )
    for collection in table.collections.values():
        ElementTree.SubElement(
            entity,
            "NavigationProperty",
            {
                "Name": collection.name,
                "Type": f"Collection(mscrm.{collection.child})",
                "Partner": partner_of(collection, table),
            },
        )


def _container(schema: ElementTree.Element) -> None:
    """The `System` entity container: one entity set per table with its navigation bindings, and WhoAmI."""
    container = ElementTree.SubElement(schema, "EntityContainer", {"Name": "System"})
    for table in TABLES.values():
        entity_set = ElementTree.SubElement(
            container, "EntitySet", {"Name": table.entity_set, "EntityType": f"{NS}.{table.logical}"}
        )
        targets = {nav.name: nav.target for nav in table.navs.values() if nav.target in TABLES}
        targets.update({c.name: c.child for c in table.collections.values()})
        for path, target_name in targets.items():
            ElementTree.SubElement(
                entity_set, "NavigationPropertyBinding", {"Path": path, "Target": TABLES[target_name].entity_set}
            )
    ElementTree.SubElement(container, "FunctionImport", {"Name": "WhoAmI", "Function": f"{NS}.WhoAmI"})


def _functions(schema: ElementTree.Element) -> None:
    """The functions the emulator answers: WhoAmI and RetrieveUserPrivilegeByPrivilegeName."""
    who = ElementTree.SubElement(schema, "ComplexType", {"Name": "WhoAmIResponse"})
    for name in ("BusinessUnitId", "UserId", "OrganizationId"):
        ElementTree.SubElement(who, "Property", {"Name": name, "Type": "Edm.Guid", "Nullable": "false"})
    privilege = ElementTree.SubElement(schema, "ComplexType", {"Name": "RolePrivilege"})
    for name, edm in (("Depth", "Edm.String"), ("PrivilegeId", "Edm.Guid"), ("BusinessUnitId", "Edm.Guid")):
        ElementTree.SubElement(privilege, "Property", {"Name": name, "Type": edm})
    ElementTree.SubElement(privilege, "Property", {"Name": "PrivilegeName", "Type": "Edm.String"})
    response = ElementTree.SubElement(schema, "ComplexType", {"Name": "RetrieveUserPrivilegeByPrivilegeNameResponse"})
    ElementTree.SubElement(response, "Property", {"Name": "RolePrivileges", "Type": "Collection(mscrm.RolePrivilege)"})
    function = ElementTree.SubElement(schema, "Function", {"Name": "WhoAmI"})
    ElementTree.SubElement(function, "ReturnType", {"Type": "mscrm.WhoAmIResponse", "Nullable": "false"})
    bound = ElementTree.SubElement(
        schema, "Function", {"Name": "RetrieveUserPrivilegeByPrivilegeName", "IsBound": "true"}
    )
    ElementTree.SubElement(bound, "Parameter", {"Name": "entity", "Type": "mscrm.systemuser", "Nullable": "false"})
    ElementTree.SubElement(bound, "Parameter", {"Name": "PrivilegeName", "Type": "Edm.String", "Nullable": "false"})
    ElementTree.SubElement(
        bound, "ReturnType", {"Type": "mscrm.RetrieveUserPrivilegeByPrivilegeNameResponse", "Nullable": "false"}
    )
