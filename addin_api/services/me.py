"""Who the caller is in Dataverse and whether they may use the add-in (`prvUseOfficeApps`), cached per user."""

from __future__ import annotations

import threading
import time

from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.whoami import read_me
from addin_api.model import Features, Me, MeInfo

__all__ = ["MeCache", "MeInfo", "current_me", "me"]


class MeCache:
    """Per-user `MeInfo` kept for a few minutes so a warm request costs no Dataverse round trip."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[float, MeInfo]] = {}

    def get(self, key: tuple[str, str, str]) -> MeInfo | None:
        """The cached info for (tenant, user, environment) if still fresh."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def put(self, key: tuple[str, str, str], info: MeInfo) -> None:
        """Remember a user's info for the cache's lifetime."""
        with self._lock:
            if len(self._entries) >= self._max:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, info)


def current_me(dv: Dataverse, cache: MeCache, key: tuple[str, str, str]) -> MeInfo:
    """The caller's info from the cache, fetched on a miss."""
    info = cache.get(key)
    if info is None:
        info = read_me(dv)
        cache.put(key, info)
    return info


def me(caller: MeInfo, tenant_id: str, environment_url: str) -> Me:
    """The caller as `GET /me` shows them: who, where, and what the pane may offer."""
    return Me(
        user_id=caller.user_id,
        name=caller.name,
        email=caller.email,
        tenant_id=tenant_id,
        business_unit_id=caller.business_unit_id,
        organization_id=caller.organization_id,
        environment_url=environment_url,
        can_use_add_in=caller.can_use_add_in,
        features=Features(track=caller.can_track, set_regarding=caller.can_track),
    )
