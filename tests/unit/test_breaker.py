"""The per-environment circuit breaker: when it opens, how long, the probe, and one circuit per environment."""

from __future__ import annotations

import pytest
from conftest import ManualClock

from addin_api.dataverse.breaker import Breakers, CircuitBreaker
from addin_api.errors import DataverseUnavailable


def fail(breaker: CircuitBreaker, times: int) -> None:
    """Record `times` failed calls."""
    for _ in range(times):
        breaker.record(False, breaker.before_call())


def test_five_failures_in_a_row_open_it_for_thirty_seconds() -> None:
    """Four failures let calls through; the fifth opens the circuit and calls are refused with the seconds left."""
    clock = ManualClock()
    breaker = CircuitBreaker(clock=clock)
    fail(breaker, 4)
    assert (False, False) == (breaker.before_call(), breaker.is_open())
    breaker.record(False)
    clock.advance(10.5)
    with pytest.raises(DataverseUnavailable) as refused:
        breaker.before_call()
    assert 20 == refused.value.retry_after


def test_an_answer_below_500_resets_the_count() -> None:
    """A success between failures means Dataverse is up: the count starts again."""
    breaker = CircuitBreaker(clock=ManualClock())
    fail(breaker, 4)
    breaker.record(True)
    fail(breaker, 4)
    assert not breaker.is_open()


def test_failures_spread_beyond_the_window_do_not_open_it() -> None:
    """Five failures over more than 30 s are not an outage."""
    clock = ManualClock()
    breaker = CircuitBreaker(clock=clock)
    fail(breaker, 3)
    clock.advance(31)
    fail(breaker, 2)
    assert not breaker.is_open()
    fail(breaker, 3)
    assert breaker.is_open()


def test_after_the_open_period_one_probe_decides() -> None:
    """Once open time is over one call goes through while others are still refused; its outcome decides."""
    clock = ManualClock()
    breaker = CircuitBreaker(clock=clock)
    fail(breaker, 5)
    clock.advance(30)
    assert breaker.before_call() is True  # the probe
    with pytest.raises(DataverseUnavailable) as refused:
        breaker.before_call()
    assert 1 == refused.value.retry_after
    breaker.record(False, probe=True)  # still down: another full period
    clock.advance(29)
    assert breaker.is_open()
    clock.advance(1)
    assert breaker.before_call() is True
    breaker.record(True, probe=True)
    assert (False, False) == (breaker.is_open(), breaker.before_call())


def test_one_circuit_per_environment() -> None:
    """Environments fail independently; a URL's case and trailing slash do not make a second circuit."""
    breakers = Breakers()
    first = breakers.for_environment("https://org1.crm.dynamics.com/")
    assert first is breakers.for_environment("https://ORG1.crm.dynamics.com")
    assert first is not breakers.for_environment("https://org2.crm.dynamics.com")
