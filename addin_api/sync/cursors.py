"""Where a mailbox's sync position is kept between passes: per-folder delta links and the tracking category's id.

A delta link is the cursor of a folder's next round, and a next link resumes a round part-way; either is stored
only once the page before it is done. https://learn.microsoft.com/en-us/graph/delta-query-messages
`InMemoryCursors` serves tests and one process; `SqliteCursors` keeps them in a file for `addin-api sync --once`.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Protocol

__all__ = ["CursorStore", "InMemoryCursors", "SqliteCursors"]


class CursorStore(Protocol):
    """Values kept per mailbox (`scope`) under a name."""

    def get(self, scope: str, name: str) -> str | None:
        """The stored value, or None."""
        ...

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a value (None forgets it)."""
        ...


class InMemoryCursors:
    """Cursors held in this process."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, name: str) -> str | None:
        """The stored value, or None."""
        with self._lock:
            return self._values.get((scope, name))

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a value (None forgets it)."""
        with self._lock:
            if value is None:
                self._values.pop((scope, name), None)
            else:
                self._values[(scope, name)] = value


class SqliteCursors:
    """Cursors in one SQLite file; each write is committed before `put` returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with closing(self._connect()) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS cursors (scope TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
                " PRIMARY KEY (scope, name))"
            )

    def get(self, scope: str, name: str) -> str | None:
        """The stored value, or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT value FROM cursors WHERE scope = ? AND name = ?", (scope, name)).fetchone()
        return None if row is None else str(row[0])

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a value (None forgets it)."""
        with closing(self._connect()) as db:
            if value is None:
                db.execute("DELETE FROM cursors WHERE scope = ? AND name = ?", (scope, name))
            else:
                db.execute(
                    "INSERT INTO cursors (scope, name, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value",
                    (scope, name, value),
                )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10, isolation_level=None)
