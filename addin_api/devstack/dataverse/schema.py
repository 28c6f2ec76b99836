"""The shapes of the emulated Dataverse's metadata: column types, columns, navigation properties, tables.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-types-operations
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


REGARDING_TARGETS = ("account", "contact", "lead", "opportunity", "incident")


def string_column(name: str, max_length: int, **kw: object) -> Column:
    """A string column of `max_length` characters."""
    return Column(name, STRING, max_length, **kw)  # type: ignore[arg-type]


def common_columns(owned: bool = True) -> list[Column]:
    """The audit, version and (for user-owned tables) owner columns every table has."""
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


def make_table(
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
    """Build a table with its primary key column first and a navigation property for every one-target lookup."""
    table = Table(logical, entity_set, key, primary, otc, schema, read_only=read_only, **extra)  # type: ignore[arg-type]
    table.columns = {c.name: c for c in [Column(key, GUID, update=False), *columns]}
    table.navs = {n.name: n for n in navs or []}
    for col in table.columns.values():
        # the owner/createdby/modifiedby lookups are navigable under their own names
        if col.type == LOOKUP and len(col.targets) == 1 and col.name not in table.navs:
            table.navs.setdefault(col.name, NavProperty(col.name, col.name, col.targets[0]))
    table.collections = {c.name: c for c in collections or []}
    return table
