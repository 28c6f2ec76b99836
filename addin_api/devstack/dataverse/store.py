"""SQLite storage of the emulated Dataverse: one row per record, its columns as JSON, one connection and a lock.

The store does not seed itself: whoever builds it passes the seeded rows (`seed.seed_records`), which a new
database starts with and `reset()` goes back to.

Every operation runs in `transaction()`; a `$batch` change set is one transaction (nested calls join the outer
one). Transactions take turns on one lock, so 20 concurrent creates of one `activityid` make one row and 19
duplicate-key errors. `reset()` restores the seeded rows kept in memory, which takes a few milliseconds.

Reads come from memory: the process owns the database file, so the decoded rows of every table are kept (in rowid
order) and written through on every change; a rollback reloads the tables it touched. Queries that can only match
rows whose column equals one of some strings (`find`) use an equality index per column, built on first use and
kept up to date. Records handed out are shared and must be treated as read-only (updates copy them first).

A transaction changes memory under the lock and queues its statements; they reach the database after the lock is
released and before the transaction returns, several transactions in one database commit when they queue up
together. SQLite releases the GIL while it works: holding the lock through it made every reader wait for the
writer to win the GIL back from all the other threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from addin_api.devstack.config import DevConfig
from addin_api.devstack.dataverse.throttle import UsageTracker

Record = dict[str, Any]
Seeded = tuple[str, str, Record]  # (table, id, record)
_Statement = tuple[str, tuple[Any, ...]]


class DuplicateKey(Exception):
    """A record with this table and id already exists."""


def index_key(value: Any) -> str | None:
    """The key a column value has in an equality index: strings compared case-insensitively, nothing else indexed."""
    return value.casefold().lower() if isinstance(value, str) else None


_SCALARS = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})


def _decoded(data: Record, text: str) -> Record:
    """What reading `text` (`json.dumps(data)`) back gives: a copy of a flat record is that, and much cheaper."""
    if _SCALARS.issuperset(map(type, data.values())) and _STR.issuperset(map(type, data)):
        return dict(data)
    return dict(json.loads(text))


class _Table:
    """The decoded records of one table in rowid order, and the equality indexes built on it so far."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}  # id -> record; dict order is insertion (rowid) order
        self.position: dict[str, int] = {}  # id -> insertion counter, to put index hits back in rowid order
        self.indexes: dict[str, dict[str, set[str]]] = {}  # attribute -> index key -> ids
        self._next = 0

    def put(self, record_id: str, record: Record) -> None:
        """Insert a record, or replace it in place (an UPDATE keeps its rowid)."""
        old = self.records.get(record_id)
        if old is None:
            self.position[record_id] = self._next
            self._next += 1
        self.records[record_id] = record
        for attribute, index in self.indexes.items():
            if old is not None:
                _unindex(index, index_key(old.get(attribute)), record_id)
            key = index_key(record.get(attribute))
            if key is not None:
                index.setdefault(key, set()).add(record_id)

    def remove(self, record_id: str) -> None:
        """Forget a record."""
        old = self.records.pop(record_id, None)
        self.position.pop(record_id, None)
        if old is not None:
            for attribute, index in self.indexes.items():
                _unindex(index, index_key(old.get(attribute)), record_id)

    def index(self, attribute: str) -> dict[str, set[str]]:
        """The equality index of a column, built now if needed."""
        index = self.indexes.get(attribute)
        if index is None:
            index = {}
            for record_id, record in self.records.items():
                key = index_key(record.get(attribute))
                if key is not None:
                    index.setdefault(key, set()).add(record_id)
            self.indexes[attribute] = index
        return index


def _unindex(index: dict[str, set[str]], key: str | None, record_id: str) -> None:
    ids = index.get(key) if key is not None else None
    if ids is not None and key is not None:
        ids.discard(record_id)
        if not ids:
            del index[key]


class DataverseStore:
    """The emulated environment's rows, thread-safe, with a seeded snapshot to go back to."""

    def __init__(self, db_path: Path, config: DevConfig, seed: Iterable[Seeded]) -> None:
        self.db_path = db_path
        self.config = config  # the environment's users, which the Web API's privilege functions consult
        self.usage = UsageTracker()
        self._lock = threading.RLock()  # memory; held through a transaction
        self._depth = 0
        self._tables: dict[str, _Table] = {}
        self._touched: set[str] = set()  # tables written in the open transaction
        self._statements: list[_Statement] = []  # of the open transaction
        # Lock order: `_lock`, then `_db_lock`, then `_queue_lock`.
        self._db_lock = threading.Lock()  # the connection
        self._queue_lock = threading.Lock()
        self._queue: list[_Statement] = []  # committed in memory, not yet in the database, in commit order
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
            " data TEXT NOT NULL, PRIMARY KEY (tbl, id))"
        )
        self._seed: list[tuple[str, str, int, str]] = [
            (table, str(rec_id), int(data["versionnumber"]), json.dumps(data)) for table, rec_id, data in seed
        ]
        (count,) = self._conn.execute("SELECT COUNT(*) FROM records").fetchone()
        if count == 0:
            self.reset()
        else:
            self._load()
        (top,) = self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM records").fetchone()
        self._version = max(int(top), 1_000_000)

    def _load(self, tables: set[str] | None = None) -> None:
        """(Re)read tables (all of them by default) from the database into memory; call with the lock held."""
        self._flush()  # the database must hold every earlier commit first
        with self._db_lock:
            if tables is None:
                rows = self._conn.execute("SELECT tbl, id, data FROM records ORDER BY rowid").fetchall()
            else:
                marks = ",".join("?" * len(tables))
                rows = self._conn.execute(
                    f"SELECT tbl, id, data FROM records WHERE tbl IN ({marks}) ORDER BY rowid", sorted(tables)
                ).fetchall()
        if tables is None:
            self._tables = {}
        else:
            for name in tables:
                self._tables.pop(name, None)
        for table, record_id, data in rows:
            self._table(table).put(record_id, json.loads(data))

    def _table(self, name: str) -> _Table:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = _Table()
        return table

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a write (the lock is held); the open transaction queues its writes when it commits."""
        if self._depth:
            self._statements.append((sql, params))
        else:
            with self._queue_lock:
                self._queue.append((sql, params))

    def _flush(self) -> None:
        """Write every queued statement to the database in one transaction (other threads' too)."""
        with self._db_lock:
            with self._queue_lock:
                statements, self._queue = self._queue, []
            if not statements:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._conn.execute(sql, params)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Write what is queued and close the database connection."""
        with self._lock:
            self._flush()
            with self._db_lock:
                self._conn.close()

    def reset(self) -> None:
        """Back to the seeded state (and forget service-protection usage)."""
        with self._lock:
            with self._db_lock:
                with self._queue_lock:
                    self._queue = []  # the seeded rows replace whatever they would have written
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("DELETE FROM records")
                self._conn.executemany("INSERT INTO records (tbl, id, version, data) VALUES (?, ?, ?, ?)", self._seed)
                self._conn.execute("COMMIT")
            self._load()
            self.usage.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically; nested blocks join the outermost transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._touched = set()
                self._statements = []
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._statements = []
                    if self._touched:
                        self._load(self._touched)
                raise
            self._depth -= 1
            if outer and self._statements:
                with self._queue_lock:
                    self._queue.extend(self._statements)
                self._statements = []
        if outer:
            self._flush()

    def next_version(self) -> int:
        """Return a fresh row version (`versionnumber`, the ETag)."""
        with self._lock:
            self._version += 1
            return self._version

    def get(self, table: str, record_id: str) -> Record | None:
        """Return one record (shared: do not modify it), or None."""
        with self._lock:
            found = self._tables.get(table)
            return found.records.get(record_id.lower()) if found is not None else None

    def all(self, table: str) -> list[Record]:
        """Return every record of a table in insertion order (the records are shared: do not modify them)."""
        with self._lock:
            found = self._tables.get(table)
            return list(found.records.values()) if found is not None else []

    def find(self, table: str, keys: Iterable[tuple[str, str]]) -> list[Record]:
        """Records with, for one of the (attribute, key) pairs, `index_key(record[attribute]) == key`, in rowid order.

        A superset of what `eq` comparisons with those strings match: callers still apply their predicate.
        """
        with self._lock:
            found = self._tables.get(table)
            if found is None:
                return []
            ids: set[str] = set()
            for attribute, key in keys:
                ids.update(found.index(attribute).get(key, ()))
            if len(ids) < 2:  # the usual answer of an address or id lookup: nothing to order
                return [found.records[i] for i in ids]
            ordered = sorted(ids, key=found.position.__getitem__)
            return [found.records[i] for i in ordered]

    def _written(self, table: str) -> _Table:
        if self._depth:
            self._touched.add(table)
        return self._table(table)

    def insert(self, table: str, record_id: str, data: Record) -> None:
        """Insert a record; raise DuplicateKey if its id is taken."""
        text = json.dumps(data)
        key = record_id.lower()
        with self._lock:
            params = (table, key, int(data["versionnumber"]), text)
            # Memory holds every row the database holds or is about to: the primary key's check, made here.
            found = self._tables.get(table)
            if found is not None and key in found.records:
                raise DuplicateKey(f"{table}({record_id})")
            self._execute("INSERT INTO records (tbl, id, version, data) VALUES (?, ?, ?, ?)", params)
            self._written(table).put(key, _decoded(data, text))
            flush = not self._depth
        if flush:
            self._flush()

    def replace(self, table: str, record_id: str, data: Record) -> None:
        """Overwrite an existing record."""
        text = json.dumps(data)
        key = record_id.lower()
        with self._lock:
            params = (int(data["versionnumber"]), text, table, key)
            found = self._tables.get(table)
            if found is None or key not in found.records:
                return
            self._execute("UPDATE records SET version = ?, data = ? WHERE tbl = ? AND id = ?", params)
            self._written(table).put(key, _decoded(data, text))
            flush = not self._depth
        if flush:
            self._flush()

    def delete(self, table: str, record_id: str) -> bool:
        """Delete a record; tell whether it existed."""
        key = record_id.lower()
        with self._lock:
            found = self._tables.get(table)
            if found is None or key not in found.records:
                return False
            self._execute("DELETE FROM records WHERE tbl = ? AND id = ?", (table, key))
            self._written(table).remove(key)
            flush = not self._depth
        if flush:
            self._flush()
        return True
