"""SQLite storage of the emulated Dataverse: one row per record, its columns as JSON, one connection and a lock.

Every operation runs in `transaction()`; a `$batch` change set is one transaction (nested calls join the outer
one). The primary key of `records` is what turns 20 concurrent creates of one `activityid` into one row and 19
duplicate-key errors. `reset()` restores the seeded rows kept in memory, which takes a few milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from addin_api.devstack.config import DevConfig
from addin_api.devstack.dataverse.throttle import UsageTracker

Record = dict[str, Any]


class DuplicateKey(Exception):
    """A record with this table and id already exists."""


class DataverseStore:
    """The emulated environment's rows, thread-safe, with a seeded snapshot to go back to."""

    def __init__(self, db_path: Path, config: DevConfig) -> None:
        from addin_api.devstack.seed import seed_records

        self.db_path = db_path
        self.config = config
        self.usage = UsageTracker()
        self._lock = threading.RLock()
        self._depth = 0
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
            " data TEXT NOT NULL, PRIMARY KEY (tbl, id))"
        )
        self._seed: list[tuple[str, str, int, str]] = [
            (table, str(rec_id), int(data["versionnumber"]), json.dumps(data))
            for table, rec_id, data in seed_records(config)
        ]
        (count,) = self._conn.execute("SELECT COUNT(*) FROM records").fetchone()
        if count == 0:
            self.reset()
        (top,) = self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM records").fetchone()
        self._version = max(int(top), 1_000_000)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def reset(self) -> None:
        """Back to the seeded state (and forget service-protection usage)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM records")
            self._conn.executemany("INSERT INTO records (tbl, id, version, data) VALUES (?, ?, ?, ?)", self._seed)
            self._conn.execute("COMMIT")
            self.usage.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically; nested blocks join the outermost transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def next_version(self) -> int:
        """Return a fresh row version (`versionnumber`, the ETag)."""
        with self._lock:
            self._version += 1
            return self._version

    def get(self, table: str, record_id: str) -> Record | None:
        """Return one record, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM records WHERE tbl = ? AND id = ?", (table, record_id.lower())
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, table: str) -> list[Record]:
        """Return every record of a table in insertion order."""
        with self._lock:
            rows = self._conn.execute("SELECT data FROM records WHERE tbl = ? ORDER BY rowid", (table,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def insert(self, table: str, record_id: str, data: Record) -> None:
        """Insert a record; raise DuplicateKey if its id is taken."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO records (tbl, id, version, data) VALUES (?, ?, ?, ?)",
                    (table, record_id.lower(), int(data["versionnumber"]), json.dumps(data)),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(f"{table}({record_id})") from exc

    def replace(self, table: str, record_id: str, data: Record) -> None:
        """Overwrite an existing record."""
        with self._lock:
            self._conn.execute(
                "UPDATE records SET version = ?, data = ? WHERE tbl = ? AND id = ?",
                (int(data["versionnumber"]), json.dumps(data), table, record_id.lower()),
            )

    def delete(self, table: str, record_id: str) -> bool:
        """Delete a record; tell whether it existed."""
        with self._lock:
            cursor = self._conn.execute("DELETE FROM records WHERE tbl = ? AND id = ?", (table, record_id.lower()))
        return cursor.rowcount > 0
