"""The one Retry-After parser (RFC 9110 §10.2.3) and the bounds each caller puts on it, without HTTP.

https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from addin_api.auth.retry_after import identity_retry_after
from addin_api.dataverse.retry import parse_retry_after

NOW = datetime(2026, 12, 2, 17, 0, 0, tzinfo=UTC).timestamp()


def at_now() -> float:
    """A fixed wall clock."""
    return NOW


def http_date(offset: float) -> str:
    """The IMF-fixdate `offset` seconds from NOW, as a server writes it."""
    return format_datetime(datetime.fromtimestamp(NOW + offset, UTC), usegmt=True)


@pytest.mark.parametrize(("value", "expected"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("2.5", 2.5)])
def test_delta_seconds_are_read_as_seconds(value: str, expected: float) -> None:
    """delta-seconds (and a decimal fraction, which some servers send) is the wait itself."""
    assert expected == parse_retry_after(value, now=at_now)


def test_an_http_date_is_the_time_until_then() -> None:
    """`Retry-After: Wed, 02 Dec 2026 17:01:30 GMT` at 17:00:00 is a wait of 90 s."""
    assert "Wed, 02 Dec 2026 17:01:30 GMT" == http_date(90)
    assert 90.0 == parse_retry_after("Wed, 02 Dec 2026 17:01:30 GMT", now=at_now)


def test_an_http_date_without_a_zone_is_gmt() -> None:
    """`-0000` (no zone information) still means GMT, as every HTTP-date does."""
    assert 60.0 == parse_retry_after("Wed, 02 Dec 2026 17:01:00 -0000", now=at_now)


def test_a_date_in_the_past_means_now() -> None:
    """A date already passed (clock skew) asks for no wait at all."""
    assert 0.0 == parse_retry_after(http_date(-600), now=at_now)


def test_a_negative_number_means_now() -> None:
    """A negative delta is never a negative wait."""
    assert 0.0 == parse_retry_after("-5", now=at_now)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "5s", "1e3", "1_000", "inf", "nan", "Wed, 99 Foo 2026"])
def test_garbage_is_none(value: str | None) -> None:
    """Anything that is neither delta-seconds nor an HTTP-date leaves the default to the caller."""
    assert None is parse_retry_after(value, now=at_now)


def test_a_huge_value_is_kept_for_the_caller_to_bound() -> None:
    """The parser does not cap; a number too big to represent is unreadable."""
    assert 10.0**12 == parse_retry_after("1000000000000", now=at_now)
    assert None is parse_retry_after("9" * 400, now=at_now)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30),
        ("0", 1),
        ("-5", 1),
        ("1.2", 2),
        ("86400", 3600),
        ("1000000000000", 3600),
        ("soon", None),
        (None, None),
    ],
)
def test_the_identity_provider_wait_is_whole_seconds_between_one_second_and_an_hour(
    value: str | None, expected: int | None
) -> None:
    """Entra's Retry-After (token endpoint, key set) is rounded up and clamped to 1 s..1 h."""
    assert expected == identity_retry_after(value)


def test_the_identity_provider_wait_reads_an_http_date() -> None:
    """An HTTP-date two minutes ahead (written to the whole second) is a wait of about 120 s."""
    in_two_minutes = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, UTC)
    assert identity_retry_after(format_datetime(in_two_minutes, usegmt=True)) in (119, 120)
