"""The dev identity provider's token-signing keys, with rotation like Entra ID's.

Entra publishes a new key before signing with it and keeps retired keys in the JWKS for a while, so validators
that cache keys keep working across a rollover.
https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# How long a retired key stays in the JWKS after rotation.
RETIRED_KEY_SECONDS = 24 * 3600


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """One RSA key with its `kid` and, once retired, when it leaves the JWKS."""

    kid: str
    private_key: rsa.RSAPrivateKey
    retired_at: float | None = None

    def jwk(self, issuer: str | None = None) -> dict[str, Any]:
        """The public JWK as Entra publishes it (`kty`, `use`, `kid`, `n`, `e`, optional `issuer`)."""
        numbers = self.private_key.public_key().public_numbers()
        jwk: dict[str, Any] = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }
        if issuer is not None:
            jwk["issuer"] = issuer
        return jwk


class KeyRing:
    """The active signing key plus recently retired ones, persisted in the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "signing-keys.json"
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = self._load()
        if not self._keys:
            self._keys = [self._new_key()]
            self._save()

    @staticmethod
    def _new_key() -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return SigningKey(kid=uuid.uuid4().hex[:27], private_key=key)

    def _load(self) -> list[SigningKey]:
        if not self._path.exists():
            return []
        keys = []
        for item in json.loads(self._path.read_text()):
            private = serialization.load_pem_private_key(item["pem"].encode("ascii"), password=None)
            assert isinstance(private, rsa.RSAPrivateKey)
            keys.append(SigningKey(kid=item["kid"], private_key=private, retired_at=item.get("retiredAt")))
        return keys

    def _save(self) -> None:
        items = [
            {
                "kid": k.kid,
                "retiredAt": k.retired_at,
                "pem": k.private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode("ascii"),
            }
            for k in self._keys
        ]
        self._path.write_text(json.dumps(items))
        self._path.chmod(0o600)

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with."""
        with self._lock:
            return self._keys[0]

    def published(self) -> list[SigningKey]:
        """The keys in the JWKS: the active one and those retired less than a day ago."""
        now = time.time()
        with self._lock:
            return [k for k in self._keys if k.retired_at is None or now - k.retired_at < RETIRED_KEY_SECONDS]

    def jwks(self, issuer: str | None = None) -> dict[str, Any]:
        """The JWKS document (`{"keys": [...]}`)."""
        return {"keys": [k.jwk(issuer) for k in self.published()]}

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None) -> str:
        """Sign claims as an RS256 JWT with the active key (or `key`)."""
        key = key or self.active
        headers = {"typ": "JWT", "kid": key.kid, "x5t": key.kid}
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)

    def rotate(self) -> str:
        """Retire the active key (it stays published) and start signing with a new one; return the new kid."""
        with self._lock:
            self._keys[0].retired_at = time.time()
            self._keys.insert(0, self._new_key())
            self._keys = [
                k for k in self._keys if k.retired_at is None or time.time() - k.retired_at < RETIRED_KEY_SECONDS
            ]
            self._save()
            return self._keys[0].kid

    def find(self, kid: str) -> SigningKey | None:
        """Find a published key by kid (used by the emulated Dataverse and the OBO grant to verify tokens)."""
        now = time.time()
        with self._lock:  # asked on every Dataverse request: no list of the published keys built for it
            for k in self._keys:
                if k.kid == kid and (k.retired_at is None or now - k.retired_at < RETIRED_KEY_SECONDS):
                    return k
        return None
