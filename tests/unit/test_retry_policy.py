"""The Dataverse retry decisions (dataverse/retry.py) without HTTP: a manual clock, recorded sleeps, fixed jitter.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits#how-to-re-try
"""

from __future__ import annotations

import pytest
from conftest import ManualClock
from urllib3 import exceptions as urllib3_errors

from addin_api.dataverse.limits import UserGate
from addin_api.dataverse.retry import Attempts, Budget, RetryPolicy
from addin_api.errors import Throttled


class Sleeps:
    """A sleep that moves the manual clock and writes down each wait."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def the_most(low: float, high: float) -> float:
    """Jitter that always picks the top of the range (the worst case)."""
    return high


def policy(clock: ManualClock, sleeps: Sleeps, *, budget: float = 20.0, max_wait: float = 3.0) -> RetryPolicy:
    """A policy for one client with `budget` seconds from now."""
    return RetryPolicy(Budget(budget, clock=clock, sleep=sleeps), max_wait, jitter=the_most)


@pytest.fixture()
def clock() -> ManualClock:
    """The budget's clock."""
    return ManualClock()


@pytest.fixture()
def sleeps(clock: ManualClock) -> Sleeps:
    """The waits the policy took."""
    return Sleeps(clock)


def test_unavailable_is_retried_twice_with_growing_backoff(clock: ManualClock, sleeps: Sleeps) -> None:
    """503 on an idempotent call: two retries, 0.5 s then 1 s (full jitter's ceiling), then give up."""
    retries = policy(clock, sleeps)
    attempts = Attempts(idempotent=True)

    decisions = [retries.retry_unavailable(attempts, 503, None) for _ in range(3)]

    assert ([True, True, False], [0.5, 1.0]) == (decisions, sleeps.waits)


def test_backoff_never_exceeds_its_cap(clock: ManualClock, sleeps: Sleeps) -> None:
    """The fifth retry's backoff (0.5 s × 2⁵ = 16 s uncapped) is 4 s at most."""
    assert policy(clock, sleeps, budget=100).back_off(5, None)
    assert [4.0] == sleeps.waits


@pytest.mark.parametrize("status", [500, 501, 400, 404, 409])
def test_only_502_503_504_are_retried(clock: ManualClock, sleeps: Sleeps, status: int) -> None:
    """Other errors are answered at once."""
    assert not policy(clock, sleeps).retry_unavailable(Attempts(idempotent=True), status, None)
    assert [] == sleeps.waits


def test_a_non_idempotent_call_is_never_retried(clock: ManualClock, sleeps: Sleeps) -> None:
    """A POST without a client-generated key could create twice: no retry after 503, 429 or a dropped connection."""
    retries = policy(clock, sleeps)
    attempts = Attempts(idempotent=False)

    assert (False, False, False) == (
        retries.retry_unavailable(attempts, 503, None),
        retries.retry_throttled(attempts, 1.0),
        retries.retry_unreachable(attempts, urllib3_errors.ProtocolError("reset")),
    )


def test_a_retry_after_on_503_is_honoured_and_a_long_one_is_not_waited_for(clock: ManualClock, sleeps: Sleeps) -> None:
    """503 with Retry-After 2 s waits 2 s; with 10 s (over the 3 s we would wait) it is answered at once."""
    retries = policy(clock, sleeps)

    assert retries.retry_unavailable(Attempts(idempotent=True), 503, 2.0)
    assert not retries.retry_unavailable(Attempts(idempotent=True), 503, 10.0)
    assert [2.0] == sleeps.waits


def test_no_backoff_overruns_the_budget(clock: ManualClock, sleeps: Sleeps) -> None:
    """With 0.4 s left, a 0.5 s backoff is not taken."""
    assert not policy(clock, sleeps, budget=0.4).retry_unavailable(Attempts(idempotent=True), 504, None)
    assert [] == sleeps.waits


def test_an_untrusted_certificate_is_never_retried(clock: ManualClock, sleeps: Sleeps) -> None:
    """A refused connection may pass; a certificate we do not trust will not."""
    retries = policy(clock, sleeps)

    assert retries.retry_unreachable(Attempts(idempotent=True), urllib3_errors.ConnectTimeoutError())
    assert not retries.retry_unreachable(Attempts(idempotent=True), urllib3_errors.SSLError("untrusted"))


def test_throttled_retries_are_at_most_two_and_only_for_short_waits(clock: ManualClock, sleeps: Sleeps) -> None:
    """429 asking for 1 s: retried twice; 429 asking for 5 s (over 3 s): never; no sleep is taken here."""
    retries = policy(clock, sleeps)
    attempts = Attempts(idempotent=True)

    assert [True, True, False] == [retries.retry_throttled(attempts, 1.0) for _ in range(3)]
    assert not retries.retry_throttled(Attempts(idempotent=True), 5.0)
    assert [] == sleeps.waits


def test_a_throttle_wait_must_fit_the_budget(clock: ManualClock, sleeps: Sleeps) -> None:
    """A 2 s window with 1 s of budget left is not waited for."""
    assert not policy(clock, sleeps, budget=1.0).retry_throttled(Attempts(idempotent=True), 2.0)


def test_the_token_is_refreshed_after_the_first_401_only(clock: ManualClock, sleeps: Sleeps) -> None:
    """Once per client: a second 401 is an error, not a loop."""
    retries = policy(clock, sleeps)

    assert [False, True, False, False] == [retries.refresh_token(s) for s in (403, 401, 401, 401)]


def test_a_short_window_is_waited_out(clock: ManualClock, sleeps: Sleeps) -> None:
    """Inside a 2 s window for the user, the call waits 2 s, then goes."""
    gate = UserGate(4, clock=clock)
    gate.block("alice", 2.0)

    policy(clock, sleeps).wait_out_throttle(gate, "alice")

    assert [2.0] == sleeps.waits


def test_a_long_window_is_refused_at_once_with_the_seconds_left(clock: ManualClock, sleeps: Sleeps) -> None:
    """Inside a 60 s window the call is Throttled(60) without waiting; another user is not held."""
    gate = UserGate(4, clock=clock)
    gate.block("alice", 59.5)
    retries = policy(clock, sleeps)

    with pytest.raises(Throttled) as raised:
        retries.wait_out_throttle(gate, "alice")
    retries.wait_out_throttle(gate, "bob")

    assert (60, []) == (raised.value.retry_after, sleeps.waits)
