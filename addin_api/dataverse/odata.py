"""Pure helpers that put untrusted values into OData URLs safely: literals, wildcards, GUIDs, names, query strings.

Escaping is not percent-encoding: `%27` is decoded before the OData parser sees it, so a quote must be doubled
first (`'O''Bryan'`) and the whole query percent-encoded afterwards.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from urllib.parse import quote

# C0 control characters (NUL, CR, LF, TAB, …) have no business in a filter value and are a classic way to smuggle
# a second header or statement past a logger or parser.
_CONTROL = re.compile(r"[\x00-\x1f]")

# `Prefer: odata.include-annotations="*"` asks for formatted values and lookup table names on every row read; a
# column's display text then arrives as `<column>@OData.Community.Display.V1.FormattedValue`.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/select-columns#formatted-values
INCLUDE_ANNOTATIONS = 'odata.include-annotations="*"'
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LOGICAL_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"


def literal(value: str, *, max_length: int = 4000) -> str:
    """Return `value` as an OData string literal: single quotes doubled, wrapped in single quotes."""
    if not isinstance(value, str):
        raise ValueError("an OData string literal must be built from a str")
    if len(value) > max_length:
        raise ValueError(f"the value is longer than {max_length} characters")
    if _CONTROL.search(value):
        raise ValueError("the value contains control characters")
    # ABNF: SQUOTE-in-string = SQUOTE SQUOTE (OData 4.0 URL conventions, odata-abnf-construction-rules).
    return "'" + value.replace("'", "''") + "'"


def like_literal(value: str, *, max_length: int = 4000) -> str:
    """Return `value` as a literal for `contains`/`startswith`/`endswith`, its wildcards `[ % _` made literal.

    Dataverse hands these functions to SQL LIKE, where `%`, `_` and `[` are wildcards; bracketing makes each a
    literal character. `[` goes first so the brackets added for `%` and `_` are not escaped again.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows#use-wildcard-characters
    """
    if not isinstance(value, str):
        raise ValueError("an OData string literal must be built from a str")
    if len(value) > max_length:
        raise ValueError(f"the value is longer than {max_length} characters")
    escaped = value.replace("[", "[[]").replace("%", "[%]").replace("_", "[_]")
    return literal(escaped, max_length=max_length * 3)


def guid(value: str) -> str:
    """Return `value` as a canonical lower-case GUID (unquoted, as Dataverse keys are written) or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("a GUID must be a str")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("the value is not a GUID") from None


def name(value: str, allowed: Collection[str]) -> str:
    """Return `value` if it is one of the `allowed` entity-set or column names, else raise ValueError."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError("the name is not one of the allowed names")
    return value


def query_string(params: Mapping[str, str]) -> str:
    """Encode query options: every reserved character percent-encoded (space %20, `+` %2B, `&` %26), `$` kept in keys.

    Keys keep `$` (and `@` for parameter aliases) so `$filter`, `$select` stay readable in logs; values are
    encoded with no safe characters, so a value can never end its option or start another (`&$expand=…`).
    """
    return "&".join(f"{quote(key, safe='$@')}={quote(value, safe='')}" for key, value in params.items())
