"""What the devstack keeps while it runs: config, request log, injected faults and service-protection limits.

One `DevstackState` per devstack app, reachable from views as `current_app.extensions["devstack"]`.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from addin_api.devstack.config import DevConfig

if TYPE_CHECKING:
    from addin_api.devstack.dataverse.store import DataverseStore
    from addin_api.devstack.identity import VerifiedTokens
    from addin_api.devstack.keys import KeyRing


class RequestLog:
    """The requests the devstack served, in arrival order (a `$batch` is one entry with its parts).

    Only the newest `capacity` entries are kept, so a devstack left running under `make dev` or a long benchmark does
    not grow without bound (tests and the bench clear the log before what they look at).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)

    def append(self, entry: dict[str, Any]) -> None:
        """Record one served request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Return a copy of the log."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()


@dataclass
class Fault:
    """An injected failure or delay for requests matching target, method and a path regex."""

    target: str  # "dataverse" | "identity"
    path: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    retry_after: int | None = None
    count: int | None = None  # None: until cleared
    delay_ms: int = 0
    code: str | None = None  # Dataverse hex code or AADSTS error to send instead of the default
    user: str | None = None  # only requests made for this user (UPN, case-insensitive)
    body: dict[str, Any] | None = None  # answer this JSON body (with `status`, default 200) instead of an error
    skip: int = 0  # let this many matching requests through first (e.g. fail only a track's second $batch)

    def matches(self, target: str, method: str, path: str, user: Callable[[], str | None] = lambda: None) -> bool:
        """Tell whether this fault applies to a request (`user` names who it is for, asked only when needed)."""
        if self.target != target or (self.count is not None and self.count <= 0):
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path.search(path) is None:
            return False
        if self.user is None:
            return True
        caller = user()
        return caller is not None and caller.casefold() == self.user.casefold()

    @property
    def answers(self) -> bool:
        """Tell whether this fault answers the request itself (rather than only delaying it)."""
        return self.status is not None or self.body is not None


class FaultTable:
    """Faults and latency injected through `/_devstack/faults`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Inject a fault; later ones are matched first."""
        with self._lock:
            self._faults.insert(0, fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, target: str, method: str, path: str, user: Callable[[], str | None] = lambda: None) -> list[Fault]:
        """Return the faults that apply to this request, using up one of each counted fault."""
        with self._lock:
            hits = [f for f in self._faults if f.matches(target, method, path, user)]
            for f in [f for f in hits if f.skip > 0]:
                f.skip -= 1
                hits.remove(f)
            for f in hits:
                if f.count is not None:
                    f.count -= 1
            return hits


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


def _verified_tokens() -> VerifiedTokens:
    from addin_api.devstack.identity import VerifiedTokens

    return VerifiedTokens()


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
    verified_tokens: VerifiedTokens = field(default_factory=_verified_tokens)
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
