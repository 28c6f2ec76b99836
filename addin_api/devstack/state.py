"""What one running devstack holds: config, keys, the emulated Dataverse, request log, faults and limits.

One `DevstackState` per devstack app, reachable from views as `current_app.extensions["devstack"]`; the server
builds it from the layers below (nothing below imports this module but the routes and the server).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from addin_api.devstack.config import DevConfig
from addin_api.devstack.dataverse.store import DataverseStore
from addin_api.devstack.dataverse.throttle import ServiceProtectionLimits
from addin_api.devstack.faults import FaultTable
from addin_api.devstack.identity import VerifiedTokens
from addin_api.devstack.keys import KeyRing
from addin_api.devstack.refresh_tokens import RefreshTokenStore
from addin_api.devstack.request_log import RequestLog


@dataclass
class DevstackState:
    """Everything one running devstack holds."""

    data_dir: Path
    config: DevConfig
    keys: KeyRing
    dataverse: DataverseStore
    base_url: str = "https://127.0.0.1:5001"
    log: RequestLog = field(default_factory=RequestLog)
    faults: FaultTable = field(default_factory=FaultTable)
    limits: ServiceProtectionLimits = field(default_factory=ServiceProtectionLimits)
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    refresh_tokens: RefreshTokenStore = field(default_factory=RefreshTokenStore)  # not forgotten on reset
    # what `POST /_devstack/reset` also runs (the Graph emulator registers its own)
    reset_hooks: list[Callable[[], None]] = field(default_factory=list)

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust."""
        return self.data_dir / "ca.pem"

    @property
    def environment_url(self) -> str:
        """The emulated Dataverse environment URL (token audience; Web API at `/api/data/v9.2/`)."""
        return self.base_url

    def authority(self, tenant_id: str) -> str:
        """The MSAL `authority=` for a tenant."""
        return f"{self.base_url}/{tenant_id}"

    def issuer_v2(self, tenant_id: str) -> str:
        """The v2 issuer the dev identity provider writes into add-in tokens for a tenant."""
        return f"{self.base_url}/{tenant_id}/v2.0"


def current_state() -> DevstackState:
    """Return the state of the devstack app handling this request."""
    state = current_app.extensions["devstack"]
    assert isinstance(state, DevstackState)
    return state
