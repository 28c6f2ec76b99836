"""Per-user service-protection accounting: requests, execution time and concurrency in a sliding window.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits — limits are per user, in a
sliding window; the request that breaches one gets 429 with `Retry-After` and one of three codes. A `$batch`
is one incoming request: it counts once against the number of requests and once against concurrency, and its
whole duration counts as execution time (the page warns that batching is no way around the execution-time
limit; https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
describes a batch as a single HTTP request).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

REQUESTS_CODE = "0x80072322"
EXECUTION_CODE = "0x80072321"
CONCURRENCY_CODE = "0x80072326"


@dataclass
class ServiceProtectionLimits:
    """Per-user Dataverse service-protection limits, scaled down by tests.

    Defaults are the documented ones: 6000 requests and 1200 s of execution time per user in a 300 s sliding
    window, 52 concurrent requests.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits
    """

    requests: int = 6000
    window_seconds: float = 300.0
    execution_ms: int = 1_200_000
    concurrent: int = 52
    retry_after_seconds: int | None = None  # None: the time until the window frees a slot


@dataclass
class Throttled:
    """A refused request: code, message and seconds to wait."""

    code: str
    message: str
    retry_after: int


@dataclass
class _Usage:
    starts: deque[float] = field(default_factory=deque)
    durations: deque[tuple[float, float]] = field(default_factory=deque)  # (end time, ms)
    total_ms: float = 0.0  # the sum of `durations`, kept as they come and go
    in_flight: int = 0


class UsageTracker:
    """Who sent what when; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, _Usage] = {}

    def clear(self) -> None:
        """Forget all usage."""
        with self._lock:
            self._users.clear()

    def begin(self, user: str, limits: ServiceProtectionLimits) -> Throttled | None:
        """Admit a request (counting it) or say why it is refused."""
        now = time.monotonic()
        window = limits.window_seconds
        with self._lock:
            usage = self._users.setdefault(user, _Usage())
            while usage.starts and usage.starts[0] <= now - window:
                usage.starts.popleft()
            while usage.durations and usage.durations[0][0] <= now - window:
                usage.total_ms -= usage.durations.popleft()[1]
            if not usage.durations:
                usage.total_ms = 0.0  # no rounding drift left behind
            refused: Throttled | None = None
            if usage.in_flight >= limits.concurrent:
                refused = Throttled(
                    CONCURRENCY_CODE,
                    f"Number of concurrent requests exceeded the limit of {limits.concurrent}.",
                    1,
                )
            elif len(usage.starts) >= limits.requests:
                wait = usage.starts[0] + window - now if usage.starts else window
                refused = Throttled(
                    REQUESTS_CODE,
                    f"Number of requests exceeded the limit of {limits.requests} over time window of "
                    f"{window:g} seconds.",
                    max(1, math.ceil(wait)),
                )
            elif usage.total_ms >= limits.execution_ms:
                wait = usage.durations[0][0] + window - now if usage.durations else window
                refused = Throttled(
                    EXECUTION_CODE,
                    f"Combined execution time of incoming requests exceeded limit of {limits.execution_ms:,} "
                    f"milliseconds over time window of {window:g} seconds. Decrease number of concurrent "
                    "requests or reduce the duration of requests and try again later.",
                    max(1, math.ceil(wait)),
                )
            if refused is not None:
                if limits.retry_after_seconds is not None:
                    refused.retry_after = limits.retry_after_seconds
                return refused
            usage.starts.append(now)
            usage.in_flight += 1
            return None

    def end(self, user: str, duration_ms: float) -> None:
        """Record the end of an admitted request."""
        with self._lock:
            usage = self._users.setdefault(user, _Usage())
            usage.in_flight = max(0, usage.in_flight - 1)
            usage.durations.append((time.monotonic(), duration_ms))
            usage.total_ms += duration_ms
