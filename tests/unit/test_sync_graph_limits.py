"""When the Graph client sends a refused request again, and how many requests a mailbox gets at once."""

from __future__ import annotations

import threading
import time

import pytest

from addin_api.sync.graph_limits import MailboxSlots, RetryPolicy


@pytest.mark.parametrize("status", [429, 503, 504])
def test_throttling_and_unavailability_are_retried_after_retry_after(status: int) -> None:
    """429, 503 and 504 wait what Retry-After says."""
    assert 3.0 == RetryPolicy().delay(1, status, "3", 0.0)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 500, 502])
def test_other_answers_are_not_retried(status: int) -> None:
    """Nothing else is sent again, whatever Retry-After says."""
    assert RetryPolicy().delay(1, status, "1", 0.0) is None


def test_without_retry_after_the_wait_doubles_up_to_a_cap() -> None:
    """1, 2, 4, 8, 8 s for attempts 1 to 5 when Graph says nothing."""
    policy = RetryPolicy(max_attempts=10, max_total_wait=1000)

    assert [1.0, 2.0, 4.0, 8.0, 8.0] == [policy.delay(n, 429, None, 0.0) for n in range(1, 6)]


def test_an_http_date_retry_after_is_read_too() -> None:
    """Retry-After as an HTTP-date in the past means now (the one parser's rule)."""
    assert 0.0 == RetryPolicy().delay(1, 503, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0)


def test_attempts_are_bounded() -> None:
    """The last allowed attempt is not followed by another."""
    policy = RetryPolicy(max_attempts=3)

    assert [1.0, 1.0, None] == [policy.delay(n, 429, "1", 0.0) for n in (1, 2, 3)]


def test_the_total_wait_is_bounded() -> None:
    """A wait that would take the request past its total is refused: the caller sees the throttling instead."""
    policy = RetryPolicy(max_attempts=10, max_total_wait=10.0)

    assert (5.0, None) == (policy.delay(2, 429, "5", 5.0), policy.delay(2, 429, "6", 5.0))


def test_a_mailbox_gets_at_most_its_limit_of_slots() -> None:
    """Six threads holding alice's slot for a while: never more than 4 at once, and all of them get one."""
    slots = MailboxSlots()
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with slots.hold("alice@contoso.example"):
            with lock:
                seen.append(slots.in_flight("ALICE@contoso.example"))
            time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (6, 4) == (len(seen), max(seen))
    assert 0 == slots.in_flight("alice@contoso.example")


def test_a_busy_mailbox_does_not_hold_up_another() -> None:
    """With alice's only slot taken, bob's is still free."""
    slots = MailboxSlots(limit=1)

    with slots.hold("alice@contoso.example"), slots.hold("bob@contoso.example"):
        assert (1, 1) == (slots.in_flight("alice@contoso.example"), slots.in_flight("bob@contoso.example"))
