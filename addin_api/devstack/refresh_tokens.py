"""Refresh tokens the dev identity provider issued, each valid until it expires.

Entra refresh tokens live 90 days (24 h for single-page apps); redeeming one returns a new one, and the old one
stays valid until it expires or is revoked (Entra does not revoke it on use).
https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from addin_api.devstack.config import DevUser

REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
# The devstack keeps this many refresh tokens, forgetting the oldest beyond (each redemption issues one more).
MAX_REFRESH_TOKENS = 100_000


@dataclass
class RefreshGrant:
    """What an issued refresh token stands for: a user's delegated grant to one client."""

    client_id: str
    tenant_id: str
    oid: str
    amr: tuple[str, ...]
    expires_at: float


class RefreshTokenStore:
    """Refresh tokens issued by one devstack app, each valid until it expires: redeeming one does not revoke it."""

    def __init__(self, size: int = MAX_REFRESH_TOKENS) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._grants: OrderedDict[str, RefreshGrant] = OrderedDict()

    def issue(self, client_id: str, user: DevUser, amr: tuple[str, ...]) -> str:
        """Issue an opaque refresh token for `user` and `client_id`."""
        token = "1.AdevRT." + secrets.token_urlsafe(48)
        grant = RefreshGrant(client_id, user.tenant_id, user.oid, amr, time.time() + REFRESH_TOKEN_LIFETIME)
        with self._lock:
            self._grants[token] = grant
            while len(self._grants) > self._size:
                self._grants.popitem(last=False)
        return token

    def redeem(self, token: str) -> RefreshGrant | None | str:
        """Look a refresh token up: its grant, None if unknown, or "expired"; it stays usable after this."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None:
                return None
            if grant.expires_at < time.time():
                self._grants.pop(token, None)
                return "expired"
            return grant
