"""A circuit breaker per Dataverse environment: stop calling an environment that keeps failing, for a while.

Policy (our design; docs/dataverse.md): 5 consecutive failures (a 5xx answer, a refused or
dropped connection, a timeout) within 30 s open the circuit for 30 s. While open, calls fail at once with
`DataverseUnavailable` and `Retry-After` set to the seconds left — nobody's request waits out timeouts against an
environment that is down, and the environment gets room to recover. Then one call goes through (half-open): its
success closes the circuit, its failure opens it for another 30 s. Any answer below 500 counts as success (a 404 or a
429 says Dataverse is up). The breaker is per process; each gunicorn worker learns on its own.
https://learn.microsoft.com/en-us/azure/architecture/patterns/circuit-breaker
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from addin_api.errors import DataverseUnavailable

FAILURES_TO_OPEN = 5
FAILURE_WINDOW_SECONDS = 30.0
OPEN_SECONDS = 30.0

log = logging.getLogger(__name__)


class CircuitBreaker:
    """The circuit of one environment (thread-safe)."""

    def __init__(
        self,
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        failure_window: float = FAILURE_WINDOW_SECONDS,
        open_for: float = OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures_to_open = failures_to_open
        self._failure_window = failure_window
        self._open_for = open_for
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._first_failure = 0.0
        self._open_until: float | None = None
        self._probing = False

    def before_call(self) -> bool:
        """Let a call through, or raise DataverseUnavailable while open; tell whether this call is the probe."""
        with self._lock:
            if self._open_until is None:
                return False
            left = self._open_until - self._clock()
            if left > 0 or self._probing:
                # While the probe is out, the others are refused as if still open (for at most a second more).
                raise DataverseUnavailable(retry_after=max(1, math.ceil(left)))
            self._probing = True
            return True

    def record(self, ok: bool, probe: bool = False) -> None:
        """Record a call's outcome: an answer below 500 is ok; a 5xx, connection error or timeout is not."""
        with self._lock:
            if probe:
                self._probing = False
            now = self._clock()
            if ok:
                self._failures = 0
                self._open_until = None
                return
            if self._open_until is not None:
                if probe:
                    self._open_until = now + self._open_for  # still failing: another full period
                return
            if self._failures == 0 or now - self._first_failure > self._failure_window:
                self._failures, self._first_failure = 0, now
            self._failures += 1
            if self._failures >= self._failures_to_open:
                self._open_until = now + self._open_for
                self._failures = 0
                log.warning("dataverse.circuit_open", extra={"event": "dataverse.circuit_open"})

    def is_open(self) -> bool:
        """Tell whether calls are refused now."""
        with self._lock:
            return self._open_until is not None and (self._probing or self._open_until > self._clock())


class Breakers:
    """One circuit per environment URL, created on first use."""

    def __init__(self, factory: Callable[[], CircuitBreaker] = CircuitBreaker) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._circuits: dict[str, CircuitBreaker] = {}

    def for_environment(self, environment_url: str) -> CircuitBreaker:
        """The circuit of `environment_url`."""
        key = environment_url.rstrip("/").lower()
        with self._lock:
            found = self._circuits.get(key)
            if found is None:
                found = self._circuits[key] = self._factory()
            return found
