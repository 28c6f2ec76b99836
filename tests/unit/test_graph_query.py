"""The emulated Graph's `$filter` / `$expand` parser, on plain dictionaries (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from addin_api.devstack.graph.errors import GraphError
from addin_api.devstack.graph.query import parse_expand_properties, parse_filter, parse_select

CRM_ID = "String {00020329-0000-0000-C000-000000000046} Name crmid"
MESSAGE: dict[str, Any] = {
    "subject": "Pricing for O'Brien",
    "receivedDateTime": "2026-11-21T09:00:00Z",
    "isRead": False,
    "categories": ["Tracked to Dynamics 365", "Red"],
    "from": {"emailAddress": {"address": "maria@fabrikam.example"}},
    "singleValueExtendedProperties": [{"id": CRM_ID, "value": "act-1"}],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("receivedDateTime ge 2026-11-21T00:00:00Z", True),
        ("receivedDateTime gt 2026-11-22T00:00:00Z", False),
        ("isRead eq false and subject eq 'pricing for o''brien'", True),
        ("categories/any(c:c eq 'tracked to dynamics 365')", True),
        ("categories/any(c: c eq 'Blue') or not (isRead eq true)", True),
        (f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_ID}' and ep/value eq 'act-1')", True),
        (f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_ID}' and ep/value eq 'act-2')", False),
        ("from/emailAddress/address eq 'maria@fabrikam.example'", True),
        ("startswith(subject, 'pricing')", True),
        ("contains(subject, 'quote')", False),
    ],
)
def test_filters_select_what_outlook_would(text: str, expected: bool) -> None:
    """Comparisons, lambdas on categories and extended properties, nested paths and functions, case-insensitive."""
    assert expected == parse_filter(text)(MESSAGE)


@pytest.mark.parametrize("text", ["subject eq", "subject like 'x'", "(isRead eq true", "categories/any(c:c eq 'x'"])
def test_malformed_filters_are_refused_as_exchange_does(text: str) -> None:
    """A filter the parser does not understand is 400 ErrorInvalidUrlQueryFilter."""
    with pytest.raises(GraphError) as caught:
        parse_filter(text)

    assert (400, "ErrorInvalidUrlQueryFilter") == (caught.value.status, caught.value.code)


def test_expand_filters_extended_properties_by_id() -> None:
    """`$expand=singleValueExtendedProperties($filter=id eq '…')` keeps only that property."""
    keep = parse_expand_properties(f"singleValueExtendedProperties($filter=id eq '{CRM_ID}')")

    assert keep is not None
    assert [True, False] == [keep({"id": CRM_ID, "value": "1"}), keep({"id": "String 0x1042", "value": "2"})]


def test_select_and_expand_refuse_what_they_do_not_know() -> None:
    """A $select with an odd name and an $expand of another navigation property are 400."""
    with pytest.raises(GraphError):
        parse_select("subject,body)")
    with pytest.raises(GraphError):
        parse_expand_properties("attachments")
