"""The services' commands and results agree with the Dataverse allowlists they stand for."""

from __future__ import annotations

from test_layering import PACKAGE, imported_modules

from addin_api.dataverse.parties import ROLE_NAMES
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.model import REGARDING_TABLE_NAMES, ROLES, Attachment


def test_the_regarding_table_names_are_the_dataverse_allowlist() -> None:
    """The names the edge validates against are exactly the tables the services may bind."""
    assert tuple(REGARDING_TABLES) == REGARDING_TABLE_NAMES


def test_the_roles_are_the_participation_types_names() -> None:
    """Every role the API shows is one participation type, and each type has a role."""
    assert sorted(ROLE_NAMES.values()) == sorted(ROLES)


def test_an_attachment_knows_its_decoded_size_from_base64() -> None:
    """Padding counts: 'YWJj' is 3 bytes, 'YWI=' 2, 'YQ==' 1."""
    assert [3, 2, 1] == [Attachment("a", "t", c).size for c in ("YWJj", "YWI=", "YQ==")]


def test_the_edge_and_its_schemas_speak_to_the_services_never_to_dataverse() -> None:
    """Views and schemas load commands and dump results; only the services reach `addin_api.dataverse`."""
    edge = sorted((PACKAGE / "api").rglob("*.py")) + sorted((PACKAGE / "schemas").rglob("*.py"))

    assert [] == [
        str(p.relative_to(PACKAGE))
        for p in edge
        if any(m.startswith("addin_api.dataverse") for m in imported_modules(p))
    ]
