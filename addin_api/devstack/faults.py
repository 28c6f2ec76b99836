"""Failures and latency injected through `/_devstack/faults` (a leaf: imports no other devstack module)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
