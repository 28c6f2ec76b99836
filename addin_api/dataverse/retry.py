"""When a Dataverse call is sent again, and how long we wait first (docs/dataverse.md).

- Only idempotent operations are retried: GET, PATCH with If-Match / If-None-Match, DELETE, creates whose body
  carries a client-generated key and `$batch` of GETs only (the caller says which: `Attempts.idempotent`).
- 429: an idempotent call retries (at most twice) when the wait is ≤ `max_retry_after_wait` and fits the budget.
  Until the user's window ends no call for that user is sent: a short remaining window is waited out, a long one
  raises `Throttled(remaining, rounded up)` at once.
- 502/503/504, connection errors and timeouts: ≤ 2 retries with full-jitter exponential backoff (0.5 s base, 4 s
  cap) inside the budget. A certificate we do not trust is never retried.
- 401: the Dataverse token is refreshed once per client and the call repeated.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits#how-to-re-try

`parse_retry_after` reads the header for every caller (Dataverse and Entra): each applies its own bounds.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from urllib3 import exceptions as urllib3_errors

from addin_api.dataverse.limits import UserGate
from addin_api.errors import Throttled

RETRYABLE_STATUS = frozenset({502, 503, 504})
MAX_TRANSIENT_RETRIES = 2
MAX_THROTTLE_RETRIES = 2
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 4.0

# delta-seconds is digits (https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3); we also take a sign and a
# fraction, but not what `float()` would add (exponents, underscores, "inf", "nan").
_SECONDS = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3), never below 0.

    A date in the past or a negative number means "now" (0.0); a missing or unreadable value is None, and the
    caller picks its default.
    """
    if not value:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


class Budget:
    """The time one inbound request may spend on Dataverse, from when it was built, and how to wait inside it."""

    def __init__(self, seconds: float, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.clock = clock
        self.sleep = sleep
        self._deadline = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (negative once overrun)."""
        return self._deadline - self.clock()


@dataclass
class Attempts:
    """The retries one call has made so far."""

    idempotent: bool
    transient: int = 0
    throttled: int = 0


class RetryPolicy:
    """The retry decisions of one client (module docstring); the token refresh after a 401 happens once per client."""

    def __init__(
        self,
        budget: Budget,
        max_retry_after_wait: float,
        *,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._budget = budget
        self._max_wait = max_retry_after_wait
        self._jitter = jitter
        self._refreshed = False

    def wait_out_throttle(self, gate: UserGate, user_key: Hashable) -> None:
        """Send nothing inside the user's Retry-After window: wait out a short one, refuse a long one."""
        left = gate.blocked_for(user_key)
        while left > 0:
            if left > self._max_wait or left >= self._budget.remaining():
                raise Throttled(retry_after=max(1, math.ceil(left)))
            self._budget.sleep(left)
            left = gate.blocked_for(user_key)

    def refresh_token(self, status: int) -> bool:
        """After the first 401: the cached OBO token may have been revoked or expired early, so get a fresh one."""
        if status != 401 or self._refreshed:
            return False
        self._refreshed = True
        return True

    def retry_unreachable(self, attempts: Attempts, exc: Exception) -> bool:
        """After a refused or dropped connection or a timeout (they may pass; an untrusted certificate will not)."""
        if isinstance(exc, urllib3_errors.SSLError) or not attempts.idempotent:
            return False
        return self._transient_retry(attempts, None)

    def retry_throttled(self, attempts: Attempts, wait: float) -> bool:
        """After a 429 asking for `wait` seconds: resend once the window ends if it is short and fits the budget."""
        if not (attempts.idempotent and attempts.throttled < MAX_THROTTLE_RETRIES):
            return False
        if wait > self._max_wait or wait >= self._budget.remaining():
            return False
        attempts.throttled += 1
        return True

    def retry_unavailable(self, attempts: Attempts, status: int, retry_after: float | None) -> bool:
        """After a 502/503/504: back off and resend, unless Dataverse asked for longer than we would wait."""
        if status not in RETRYABLE_STATUS or not attempts.idempotent:
            return False
        if retry_after is not None and retry_after > self._max_wait:
            return False
        return self._transient_retry(attempts, retry_after)

    def _transient_retry(self, attempts: Attempts, retry_after: float | None) -> bool:
        if attempts.transient >= MAX_TRANSIENT_RETRIES or not self.back_off(attempts.transient, retry_after):
            return False
        attempts.transient += 1
        return True

    def back_off(self, attempt: int, retry_after: float | None) -> bool:
        """Sleep before retry `attempt` (full jitter), unless that would overrun the budget; tell if it slept."""
        delay = self._jitter(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
        if retry_after is not None:
            delay = max(delay, retry_after)
        if delay >= self._budget.remaining():
            return False
        self._budget.sleep(delay)
        return True
