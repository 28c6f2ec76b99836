"""State shared by every instance through Redis (`ADDIN_API_REDIS_URL`): OBO tokens and users' Retry-After windows.

With N instances (processes or hosts) behind a load balancer, a user's requests land anywhere. Sharing the Dataverse
token cache means N instances make no more identity calls than one; sharing the Retry-After window means once
Dataverse throttled a user on one instance, no instance sends for that user until the window ends. Windows live in
Redis as keys with a TTL, so Redis's clock decides when they end (no clock skew between hosts).

Redis failing must not fail requests: reads then miss, writes are dropped, and each instance keeps its own state.
Keys are hashed so Redis never holds tenant or user ids in clear; the tokens themselves are stored as values — use
`rediss://` with a password outside a private network.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Hashable
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "addin-api:"
# Set the window only if it is longer than the one already recorded (a longer Retry-After wins).
_EXTEND_WINDOW = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def connect(url: str, timeout: float = 0.5) -> redis.Redis:
    """A client for `url` with short timeouts: shared state is an optimization, never worth a slow request."""
    client: redis.Redis = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
    )
    return client


def _hashed(namespace: str, key: str) -> str:
    return f"{PREFIX}{namespace}:{hashlib.sha256(key.encode()).hexdigest()}"


class RedisTokenCache:
    """The `TokenCache` port on Redis: `SET key token PX ttl`, shared by every instance."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def get(self, key: str) -> str | None:
        """Return the token stored under `key`, or None (also when Redis is unreachable)."""
        try:
            value: Any = self._client.get(_hashed("obo", key))
        except redis.RedisError as exc:
            log.warning("redis_unavailable", extra={"operation": "token_get", "error": type(exc).__name__})
            return None
        if isinstance(value, bytes):
            return value.decode()
        return value if isinstance(value, str) else None

    def set(self, key: str, token: str, ttl_seconds: float) -> None:
        """Store `token` under `key` for `ttl_seconds` (nothing for a non-positive ttl)."""
        milliseconds = int(ttl_seconds * 1000)
        if milliseconds <= 0:
            return
        try:
            self._client.set(_hashed("obo", key), token, px=milliseconds)
        except redis.RedisError as exc:
            log.warning("redis_unavailable", extra={"operation": "token_set", "error": type(exc).__name__})

    def delete(self, key: str) -> None:
        """Forget the token stored under `key`."""
        try:
            self._client.delete(_hashed("obo", key))
        except redis.RedisError as exc:
            log.warning("redis_unavailable", extra={"operation": "token_delete", "error": type(exc).__name__})


class RedisThrottleWindows:
    """Users' Retry-After windows as Redis keys with a TTL (the `ThrottleWindows` port of `UserGate`)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._extend = client.register_script(_EXTEND_WINDOW)

    @staticmethod
    def _key(user_key: Hashable) -> str:
        raw = "|".join(user_key) if isinstance(user_key, tuple) else str(user_key)
        return _hashed("blocked", raw)

    def remaining(self, user_key: Hashable) -> float:
        """Seconds left in the user's window (0.0 when none, or when Redis is unreachable)."""
        try:
            left: Any = self._client.pttl(self._key(user_key))
        except redis.RedisError as exc:
            log.warning("redis_unavailable", extra={"operation": "window_get", "error": type(exc).__name__})
            return 0.0
        return left / 1000 if isinstance(left, int) and left > 0 else 0.0

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Open (or lengthen) the user's window for every instance."""
        milliseconds = math.ceil(seconds * 1000)
        if milliseconds <= 0:
            return
        try:
            self._extend(keys=[self._key(user_key)], args=[milliseconds])
        except redis.RedisError as exc:
            log.warning("redis_unavailable", extra={"operation": "window_set", "error": type(exc).__name__})
