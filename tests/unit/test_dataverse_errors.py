"""Dataverse error mapping and the per-user gate, without HTTP."""

from __future__ import annotations

import pytest
from conftest import ManualClock

from addin_api.dataverse.errors import REJECTED_VALUE, DuplicateRecord, error_code, error_for
from addin_api.dataverse.limits import UserGate
from addin_api.errors import (
    ApiError,
    Conflict,
    DataverseError,
    DataverseForbidden,
    DataverseUnavailable,
    NotFound,
    PayloadTooLarge,
    Throttled,
    ValidationFailed,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "0x80040220", DataverseForbidden),
        (403, "", DataverseForbidden),
        (400, "0x80040231", DataverseForbidden),
        (404, "0x80040217", NotFound),
        (404, "", NotFound),
        (400, "0x80040217", NotFound),
        (412, "0x80040237", DuplicateRecord),
        (412, "", Conflict),
        (409, "", Conflict),
        (413, "", PayloadTooLarge),
        (400, "0x80044331", ValidationFailed),
        (429, "0x80072322", Throttled),
        (429, "", Throttled),
        (500, "", DataverseUnavailable),
        (503, "", DataverseUnavailable),
        (401, "0x8005f101", DataverseError),
        (418, "", DataverseError),
        (302, "", DataverseError),
    ],
)
def test_error_for_maps_status_and_code(status: int, code: str, expected: type[ApiError]) -> None:
    """Each Dataverse status / hex code pair maps to exactly one of our exceptions."""
    assert expected is type(error_for(status, code))


def test_precondition_failed_on_a_create_only_upsert_is_a_duplicate() -> None:
    """A 412 answering If-None-Match: * means the record exists."""
    assert DuplicateRecord is type(error_for(412, "", precondition_means_duplicate=True))


def test_codes_are_matched_case_insensitively() -> None:
    """Upper-case hex codes map the same."""
    assert DuplicateRecord is type(error_for(412, "0X80040237"))


def test_retry_after_is_kept_in_whole_seconds() -> None:
    """Throttled and DataverseUnavailable carry Retry-After rounded up, with a default when absent."""
    assert 2 == error_for(429, "", retry_after=1.2).retry_after
    assert 5 == error_for(429, "").retry_after
    assert 30 == error_for(503, "", retry_after=30).retry_after
    assert 5 == error_for(503, "").retry_after


def test_validation_failure_carries_only_our_message() -> None:
    """A 400 never carries Dataverse's words."""
    error = error_for(400, "0x80044331")
    assert isinstance(error, ValidationFailed)
    assert {"dataverse": [REJECTED_VALUE]} == error.errors


def test_duplicate_record_is_a_conflict() -> None:
    """Uncaught, a DuplicateRecord answers 409 conflict."""
    assert (409, "conflict") == (DuplicateRecord.status, DuplicateRecord.code)
    assert issubclass(DuplicateRecord, Conflict)


def test_block_remembers_a_window_per_user() -> None:
    """A blocked user stays blocked until the window ends; others are never blocked."""
    clock = ManualClock()
    gate = UserGate(4, clock=clock)
    gate.block(("t", "alice"), 120)
    clock.now += 0.5
    assert 119.5 == gate.blocked_for(("t", "alice"))
    assert 0.0 == gate.blocked_for(("t", "bob"))
    with pytest.raises(Throttled) as raised:
        gate.check(("t", "alice"))
    assert 120 == raised.value.retry_after
    gate.check(("t", "bob"))
    clock.now += 120
    assert 0.0 == gate.blocked_for(("t", "alice"))
    gate.check(("t", "alice"))


def test_a_longer_window_wins() -> None:
    """A short Retry-After does not shorten a longer one already recorded."""
    clock = ManualClock()
    gate = UserGate(4, clock=clock)
    gate.block("u", 60)
    gate.block("u", 1)
    assert 60.0 == gate.blocked_for("u")


def test_slot_refuses_when_the_user_is_at_the_cap() -> None:
    """With every slot held and no time left to wait, Throttled(1); slots free again on exit."""
    gate = UserGate(2)
    with gate.slot("u", 1), gate.slot("u", 1):
        assert 2 == gate.in_flight("u")
        with pytest.raises(Throttled) as raised, gate.slot("u", 0.01):
            pass
        assert 1 == raised.value.retry_after
        with gate.slot("other", 0.01):
            assert 1 == gate.in_flight("other")
    assert (0, 0) == (gate.in_flight("u"), gate.in_flight("other"))


def test_cap_must_be_positive() -> None:
    """A gate needs at least one slot."""
    with pytest.raises(ValueError):
        UserGate(0)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"code": "0x80040237", "message": "A record already exists."}},
            "0x80040237",
        ),
        ({"error": {"message": "no code"}}, ""),
        ({"error": {"code": 42}}, ""),
        ({"error": "0x80040237"}, ""),
        (["0x80040237"], ""),
        (None, ""),
    ],
)
def test_error_code_reads_only_a_well_formed_error_body(body: object, expected: str) -> None:
    """The hex code comes from `{"error": {"code": …}}` only; anything else has none (the status decides)."""
    assert expected == error_code(body)


def test_a_dataverse_message_never_reaches_our_error() -> None:
    """Whatever Dataverse said, our exception carries our own words."""
    body = {"error": {"code": "0x80040217", "message": "secret internal detail"}}

    error = error_for(404, error_code(body))

    assert "secret internal detail" not in f"{error.title} {error.detail}"
