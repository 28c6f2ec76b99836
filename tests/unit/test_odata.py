"""OData literal, wildcard, GUID, name and query-string helpers: golden strings for hostile input."""

from __future__ import annotations

import pytest

from addin_api.dataverse import odata


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("", "''"),
        ("x' or 1 eq 1 or '", "'x'' or 1 eq 1 or '''"),
        ("%", "'%'"),
        ("_", "'_'"),
        ("[", "'['"),
        ("&$expand=x", "'&$expand=x'"),
        ("#", "'#'"),
        ("+", "'+'"),
        ("/", "'/'"),
        ("😀 ‮evil", "'😀 ‮evil'"),
        ("dana@fabrikam.example", "'dana@fabrikam.example'"),
    ],
)
def test_literal_doubles_quotes_and_wraps(value: str, expected: str) -> None:
    """A literal doubles every single quote and wraps the value in single quotes, nothing else."""
    assert expected == odata.literal(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O''Brien'"),
        ("%", "'[%]'"),
        ("_", "'[_]'"),
        ("[", "'[[]'"),
        ("]", "']'"),
        ("a[%]_b", "'a[[][%]][_]b'"),
        ("100%_done'", "'100[%][_]done'''"),
        ("x' or 1 eq 1 or '", "'x'' or 1 eq 1 or '''"),
        ("&$expand=x", "'&$expand=x'"),
    ],
)
def test_like_literal_brackets_wildcards(value: str, expected: str) -> None:
    """A LIKE literal brackets `[` first, then `%` and `_`, then escapes quotes."""
    assert expected == odata.like_literal(value)


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb", "\x00", "tab\there", "\x1f"])
@pytest.mark.parametrize("helper", [odata.literal, odata.like_literal])
def test_control_characters_are_rejected(helper: object, value: str) -> None:
    """CR, LF, NUL and every other C0 control character are refused."""
    with pytest.raises(ValueError):
        helper(value)  # type: ignore[operator]


def test_length_is_capped() -> None:
    """10 000 characters exceed the default cap; a larger cap admits them; the cap is on the raw value."""
    long = "a" * 10_000
    with pytest.raises(ValueError):
        odata.literal(long)
    with pytest.raises(ValueError):
        odata.like_literal(long)
    assert 10_002 == len(odata.literal(long, max_length=10_000))
    assert "'" + "[%]" * 4000 + "'" == odata.like_literal("%" * 4000)


def test_non_strings_are_rejected() -> None:
    """Only str values become literals."""
    with pytest.raises(ValueError):
        odata.literal(1)  # type: ignore[arg-type]


def test_guid_normalises_case() -> None:
    """A GUID comes back canonical and lower case."""
    assert "6f1c2a3b-0000-4d5e-8f90-123456789abc" == odata.guid("6F1C2A3B-0000-4D5E-8F90-123456789ABC")
    assert "6f1c2a3b-0000-4d5e-8f90-123456789abc" == odata.guid("{6f1c2a3b-0000-4d5e-8f90-123456789abc}")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-a-guid",
        "6f1c2a3b-0000-4d5e-8f90-123456789ab",
        "6f1c2a3b-0000-4d5e-8f90-123456789abc) or (true",
        "6f1c2a3b-0000-4d5e-8f90-123456789abg",
        "'6f1c2a3b-0000-4d5e-8f90-123456789abc'",
    ],
)
def test_guid_rejects_non_guids(value: str) -> None:
    """Anything that is not a GUID raises ValueError."""
    with pytest.raises(ValueError):
        odata.guid(value)


def test_guid_rejects_non_strings() -> None:
    """A GUID must arrive as text."""
    with pytest.raises(ValueError):
        odata.guid(None)  # type: ignore[arg-type]


def test_name_allows_only_the_allowlist() -> None:
    """Names pass only when allowlisted, exactly (no case folding, no prefixes)."""
    allowed = {"contacts", "accounts"}
    assert "contacts" == odata.name("contacts", allowed)
    for value in ("Contacts", "contacts?$expand=x", "systemusers", "", "contacts/../accounts"):
        with pytest.raises(ValueError):
            odata.name(value, allowed)


def test_query_string_encodes_values_completely() -> None:
    """Space, `+`, `&`, `#`, `/`, `=`, quotes and non-ASCII are percent-encoded; `$` stays in keys."""
    params = {
        "$select": "fullname,emailaddress1",
        "$filter": f"emailaddress1 eq {odata.literal('a+b&$expand=x#/=')}",
        "$top": "5",
    }
    expected = (
        "$select=fullname%2Cemailaddress1&$filter=emailaddress1%20eq%20%27a%2Bb%26%24expand%3Dx%23%2F%3D%27&$top=5"
    )
    assert expected == odata.query_string(params)


def test_query_string_encodes_non_ascii_as_utf8() -> None:
    """Non-ASCII characters are UTF-8 percent-encoded."""
    assert "$filter=%27%F0%9F%98%80%27" == odata.query_string({"$filter": odata.literal("😀")})


def test_query_string_keeps_injection_inside_one_value() -> None:
    """An injected `&$expand=` cannot become a second query option."""
    encoded = odata.query_string({"$filter": "name eq " + odata.literal("x&$expand=owninguser")})
    assert 0 == encoded.count("&")
    assert "$filter" == encoded.split("=", 1)[0]
