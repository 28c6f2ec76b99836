"""After a Retry-After window one request probes first; windows are shared by the processes of one host."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import ManualClock

from addin_api.dataverse.limits import SqliteThrottleWindows, UserGate
from addin_api.errors import Throttled

ALICE = ("tenant", "alice")


def test_first_request_after_a_window_probes_alone() -> None:
    """While the probe is out, the user's other requests wait; its success lets them all through."""
    clock = ManualClock()
    gate = UserGate(4, clock=clock)
    gate.block(ALICE, 2.0)
    clock.now += 2.5
    assert 0.0 == gate.blocked_for(ALICE)
    with gate.slot(ALICE, 1.0):
        assert gate.probing(ALICE)
        with pytest.raises(Throttled):
            with gate.slot(ALICE, 0.0):
                pass
    assert not gate.probing(ALICE)
    with gate.slot(ALICE, 0.0), gate.slot(ALICE, 0.0):
        assert 2 == gate.in_flight(ALICE)


def test_a_throttled_probe_arms_the_next_probe() -> None:
    """A probe answered 429 opens a new window, after which again one request goes first."""
    clock = ManualClock()
    gate = UserGate(4, clock=clock)
    gate.block(ALICE, 1.0)
    clock.now += 1.5
    with gate.slot(ALICE, 1.0):
        gate.block(ALICE, 1.0)
    clock.now += 1.5
    with gate.slot(ALICE, 1.0):
        assert gate.probing(ALICE)


def test_waiters_proceed_when_the_probe_returns() -> None:
    """A request queued behind the probe gets its slot as soon as the probe releases it."""
    gate = UserGate(4)
    gate.block(ALICE, 0.0)
    released = threading.Event()
    got_slot: list[bool] = []

    def second() -> None:
        with gate.slot(ALICE, 5.0):
            got_slot.append(released.is_set())

    with gate.slot(ALICE, 1.0):
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.2)
        assert [] == got_slot
        released.set()
    waiter.join(5)
    assert [True] == got_slot


def test_other_users_are_not_held_by_a_probe() -> None:
    """Probing is per user."""
    gate = UserGate(4)
    gate.block(ALICE, 0.0)
    with gate.slot(ALICE, 1.0), gate.slot(("tenant", "bob"), 0.0):
        assert gate.probing(ALICE)


def test_sqlite_windows_are_shared_between_instances(tmp_path: Path) -> None:
    """A window opened through one instance (one worker) holds for another on the same file; the longer wins."""
    path = tmp_path / "windows.sqlite3"
    first, second = SqliteThrottleWindows(path), SqliteThrottleWindows(path)
    assert 0.0 == second.remaining(ALICE)
    first.block(ALICE, 60)
    second.block(ALICE, 5)
    assert 55 < second.remaining(ALICE) <= 60
    assert 0.0 == second.remaining(("tenant", "bob"))
    gate = UserGate(4, shared=second)
    assert gate.blocked_for(ALICE) > 55


def test_sqlite_windows_opened_after_a_read_are_seen_at_once(tmp_path: Path) -> None:
    """An instance that has read (and kept) the windows sees one opened elsewhere on its very next question."""
    path = tmp_path / "windows.sqlite3"
    first, second = SqliteThrottleWindows(path), SqliteThrottleWindows(path)
    bob = ("tenant", "bob")
    first.block(bob, 60)
    assert (0.0, True) == (second.remaining(ALICE), second.remaining(bob) > 55)
    first.block(ALICE, 30)  # most likely within the same clock tick as the read above
    assert 25 < second.remaining(ALICE) <= 30
    assert 25 < SqliteThrottleWindows(path).remaining(ALICE) <= 30  # a recycled worker starts with them too


def test_sqlite_windows_fail_open_to_the_local_window(tmp_path: Path) -> None:
    """A broken store never fails a request: the process's own window still holds."""
    windows = SqliteThrottleWindows(tmp_path)  # a directory: every query fails
    windows.block(ALICE, 30)
    assert 0.0 == windows.remaining(ALICE)
    gate = UserGate(4, shared=windows)
    gate.block(ALICE, 30)
    assert gate.blocked_for(ALICE) > 29
