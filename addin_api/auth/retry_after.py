"""How long Entra asked us to wait (token endpoint, key set): its `Retry-After` in whole seconds, 1 s to 1 h."""

from __future__ import annotations

import math

from addin_api.dataverse.retry import parse_retry_after

MIN_SECONDS = 1
MAX_SECONDS = 3600


def identity_retry_after(value: str | None) -> int | None:
    """The header's seconds rounded up and clamped to 1 s..1 h, or None when absent or unreadable."""
    seconds = parse_retry_after(value)
    if seconds is None:
        return None
    return min(max(math.ceil(seconds), MIN_SECONDS), MAX_SECONDS)
