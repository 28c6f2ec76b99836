"""A `$batch` part's URL is split and its query string decoded exactly as `urllib.parse` would."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from addin_api.devstack.dataverse.batch import _split_url, parse_query

QUERIES = [
    "",
    "$select=activityid%2Csubject&$filter=messageid%20eq%20%27%3Cx%40bench.example%3E%27&$top=1",
    "$filter=name%20eq%20%27caf%C3%A9%27",  # UTF-8 split over escapes
    "$filter=name%20eq%20%27%C3%27",  # a truncated UTF-8 sequence: replaced
    "$filter=a%C3b%A9",  # invalid bytes around plain ASCII
    "a=%zz&b=%4&c=%",  # malformed escapes stay as they are
    "a=caf\u00e9%20x",  # non-ASCII text next to an escape
    "a=back%5Cslash\\x41",  # backslashes, escaped and literal
    "a+b=c+d%2B",  # plus means space, %2B a plus
    "a&&b=&c",  # empty pairs skipped, blank values kept
    "a=1&a=2",  # the last value wins
    "a=b=c",  # only the first "=" splits
]


@pytest.mark.parametrize("text", QUERIES)
def test_query_strings_decode_as_parse_qsl(text: str) -> None:
    """`parse_query` agrees with `dict(parse_qsl(..., keep_blank_values=True))`."""
    assert dict(parse_qsl(text, keep_blank_values=True)) == parse_query(text)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5001/api/data/v9.2/emails?$select=activityid&$top=1",
        "https://127.0.0.1:5001/api/data/v9.2/emails",
        "/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000001)?$select=fullname",
        "accounts?$filter=name%20eq%20%27a?b%27",
        "https://h/api/data/v9.2/emails?$top=1#fragment",
        "$1?$select=name",
    ],
)
def test_urls_split_as_urlsplit(url: str) -> None:
    """`_split_url` finds the path and query `urlsplit` finds."""
    split = urlsplit(url)
    assert (split.path, split.query) == _split_url(url)
