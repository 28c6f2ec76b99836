"""The services' commands and results agree with the Dataverse allowlists they stand for."""

from __future__ import annotations

from addin_api.dataverse.parties import ROLE_NAMES
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.services.model import REGARDING_TABLE_NAMES, ROLES, Attachment


def test_the_regarding_table_names_are_the_dataverse_allowlist() -> None:
    """The names the edge validates against are exactly the tables the services may bind."""
    assert tuple(REGARDING_TABLES) == REGARDING_TABLE_NAMES


def test_the_roles_are_the_participation_types_names() -> None:
    """Every role the API shows is one participation type, and each type has a role."""
    assert sorted(ROLE_NAMES.values()) == sorted(ROLES)


def test_an_attachment_knows_its_decoded_size_from_base64() -> None:
    """Padding counts: 'YWJj' is 3 bytes, 'YWI=' 2, 'YQ==' 1."""
    assert [3, 2, 1] == [Attachment("a", "t", c).size for c in ("YWJj", "YWI=", "YQ==")]
