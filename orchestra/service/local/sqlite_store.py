"""The SQLite store: executions that survive the process (standard library ``sqlite3``).

The database runs in WAL mode, so readers (``orchestra list`` in another terminal) never
wait for a writer. Every transaction of the engine is one ``BEGIN IMMEDIATE`` database
transaction that writes only what changed: the execution's state row, the operations it
stored, the events it appended and the callbacks it opened or heart-beat. A checkpoint call
is therefore saved whole or not at all; a process killed at any moment leaves the last
committed call, and a later process resumes from it.

Several processes may share one database. Each keeps the executions it used in memory and,
at the start of every transaction, compares their version with the database's: an execution
another process changed (a callback answered from a second terminal) is read again.

The schema is versioned (``PRAGMA user_version``); a database written by a newer orchestra
is refused, as is a file that is not an orchestra database.

Example:
    >>> import tempfile, pathlib
    >>> from orchestra.service.local.execution import Execution
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.db"
    >>> store = SQLiteStore(path)
    >>> with store.transaction() as tx:
    ...     tx.add(Execution("arn:x/durable-execution/n/abc", "n", "fn", None, entry="m:w"))
    >>> store.close()
    >>> again = SQLiteStore(path)
    >>> with again.transaction() as tx:
    ...     tx.get("arn:x/durable-execution/n/abc").entry
    'm:w'
    >>> again.close()
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestra.service.api import ServiceError
from orchestra.service.local.execution import Execution
from orchestra.service.local.snapshot import callback_of, restore, state_of
from orchestra.service.local.store import ExecutionSummary, StoreError
from orchestra.wire.converter import to_wire
from orchestra.wire.models import ExecutionStatus

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

#: The version of the schema this orchestra writes (and the newest it reads).
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    function_name TEXT NOT NULL,
    entry TEXT,
    status TEXT NOT NULL,
    start_ts TEXT,
    end_ts TEXT,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function_name);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, id)
);
CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, event_id)
);
CREATE TABLE IF NOT EXISTS callbacks (
    callback_id TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

_TABLES = {"meta", "executions", "operations", "events", "callbacks"}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SQLiteStore:
    """Executions in a SQLite database file (see the module documentation).

    Args:
        path: the database file; its folder is created when missing.
        timeout: how long (seconds) a transaction waits for another process's write lock
            before the call fails with a retryable ``ServiceException``.

    Raises:
        StoreError: the file is not an orchestra database, is corrupt, is locked for longer
            than ``timeout`` while the schema is set up, or was written by a newer version.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        if not timeout > 0:
            raise ValueError(f"SQLiteStore timeout must be > 0 seconds, got {timeout!r}")
        self.path = Path(path)
        self._lock = threading.RLock()
        self._cache: dict[str, Execution] = {}
        self._touched: dict[str, Execution] = {}
        self._depth = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists()
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            if fresh:
                os.chmod(self.path, 0o600)  # tokens and payloads live here
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        try:
            self._set_up()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "locked" in str(exc):
                raise StoreError(
                    f"the database {self.path} stayed locked by another process for "
                    f"{timeout:g} s: {exc}"
                ) from exc
            raise StoreError(
                f"{self.path} is not an orchestra database, or it is corrupt: {exc}"
            ) from exc
        except StoreError:
            self._conn.close()
            raise

    def _set_up(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} was written by a newer orchestra (schema "
                f"{version}; this version reads up to {SCHEMA_VERSION}). Upgrade orchestra, "
                "or use another --db."
            )
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if version == 0 and tables - {"sqlite_sequence"} and not tables >= _TABLES:
            raise StoreError(
                f"{self.path} is a SQLite database of something else (tables: "
                f"{', '.join(sorted(tables))}); point --db at a new file."
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SQLiteStore]:
        """One database transaction (joined when one is already open in this store)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._begin()
            self._depth = 1
            try:
                yield self
                self._write_touched()
                self._conn.execute("COMMIT")
            except BaseException:
                self._abandon()
                raise
            finally:
                self._depth = 0
                self._touched.clear()

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ServiceError(
                    "TooManyRequestsException",
                    f"the local service's database {self.path} is busy (locked by another "
                    "process); retry",
                    status=429,
                ) from exc
            raise ServiceError(
                "ServiceException",
                f"the local service's database {self.path} is failing: {exc}",
                status=500,
            ) from exc
        except sqlite3.Error as exc:
            raise ServiceError(
                "ServiceException",
                f"the local service's database {self.path} is busy or failing: {exc}",
                status=500,
            ) from exc

    def _abandon(self) -> None:
        """Roll back, and forget the in-memory changes of every touched execution."""
        with contextlib.suppress(sqlite3.Error):  # already gone if the database failed
            self._conn.execute("ROLLBACK")
        for ex in self._touched.values():
            ex.version = -1  # read again from the database before the next use

    def _write_touched(self) -> None:
        try:
            for ex in self._touched.values():
                self._write(ex)
        except sqlite3.Error as exc:
            raise ServiceError(
                "ServiceException",
                f"the local service could not save to {self.path}: {exc}",
                status=500,
            ) from exc

    def _write(self, ex: Execution) -> None:
        conn = self._conn
        arn = ex.arn
        state = _dumps(state_of(ex))
        start = ex.start_timestamp.isoformat() if ex.start_timestamp else None
        end = ex.end_timestamp.isoformat() if ex.end_timestamp else None
        conn.execute(
            "INSERT INTO executions (arn, name, function_name, entry, status, start_ts, end_ts,"
            " version, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET"
            " status = excluded.status, end_ts = excluded.end_ts, version = excluded.version,"
            " state = excluded.state",
            (arn, ex.name, ex.function_name, ex.entry, ex.status.value, start, end,
             ex.version + 1, state),
        )  # fmt: skip
        if ex.unsaved_ops:
            conn.executemany(
                "INSERT INTO operations (arn, id, hidden, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (arn, id) DO UPDATE SET hidden = excluded.hidden,"
                " body = excluded.body",
                [
                    (arn, op_id, op_id in ex.hidden, _dumps(to_wire(ex.operations[op_id])))
                    for op_id in ex.unsaved_ops
                    if op_id in ex.operations
                ],
            )
        new_events = ex.events[ex.saved_events :]
        if new_events:
            conn.executemany(
                "INSERT INTO events (arn, event_id, body) VALUES (?, ?, ?)",
                [(arn, event.event_id, _dumps(to_wire(event))) for event in new_events],
            )
            latest = new_events[-1].event_timestamp.isoformat()
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('latest', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = max(value, excluded.value)",
                (latest,),
            )
        if ex.unsaved_callbacks:
            conn.executemany(
                "INSERT INTO callbacks (callback_id, arn, body) VALUES (?, ?, ?)"
                " ON CONFLICT (callback_id) DO UPDATE SET body = excluded.body",
                [
                    (callback_id, arn, _dumps(callback_of(ex.callbacks[callback_id])))
                    for callback_id in ex.unsaved_callbacks
                ],
            )
        ex.version += 1
        ex.unsaved_ops.clear()
        ex.unsaved_callbacks.clear()
        ex.saved_events = len(ex.events)

    # --- the Transaction protocol ---------------------------------------------------------

    def get(self, arn: str) -> Execution | None:
        """The current execution ``arn``: read again if another process changed it."""
        ex = self._touched.get(arn)
        if ex is not None:
            return ex
        row = self._conn.execute("SELECT version FROM executions WHERE arn = ?", (arn,)).fetchone()
        cached = self._cache.get(arn)
        if row is None:
            return None
        if cached is None or cached.version != row[0]:
            cached = self._load(arn, cached)
        self._touched[arn] = cached
        return cached

    def _load(self, arn: str, into: Execution | None) -> Execution:
        conn = self._conn
        version, state = conn.execute(
            "SELECT version, state FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        operations = [
            (json.loads(body), bool(hidden))
            for hidden, body in conn.execute(
                "SELECT hidden, body FROM operations WHERE arn = ? ORDER BY rowid", (arn,)
            )
        ]
        events = [
            json.loads(body)
            for (body,) in conn.execute(
                "SELECT body FROM events WHERE arn = ? ORDER BY event_id", (arn,)
            )
        ]
        callbacks = [
            (callback_id, json.loads(body))
            for callback_id, body in conn.execute(
                "SELECT callback_id, body FROM callbacks WHERE arn = ?", (arn,)
            )
        ]
        ex = restore(arn, json.loads(state), operations, events, callbacks, into=into)
        ex.version = version
        self._cache[arn] = ex
        return ex

    def add(self, ex: Execution) -> None:
        """A new execution, written when the transaction commits."""
        ex.version = 0
        self._cache[ex.arn] = ex
        self._touched[ex.arn] = ex

    def callback_owner(self, callback_id: str) -> str | None:
        """The execution that started ``callback_id``."""
        for ex in self._touched.values():
            if callback_id in ex.callbacks:
                return ex.arn
        row = self._conn.execute(
            "SELECT arn FROM callbacks WHERE callback_id = ?", (callback_id,)
        ).fetchone()
        return row[0] if row is not None else None

    # --- reads outside transactions -------------------------------------------------------

    def executions(
        self, function_name: str | None = None, status: ExecutionStatus | None = None
    ) -> list[ExecutionSummary]:
        """Every stored execution (optionally of one function or status), oldest first."""
        query = "SELECT arn, name, function_name, entry, status, start_ts, end_ts FROM executions"
        clauses, params = [], []
        if function_name is not None:
            clauses.append("function_name = ?")
            params.append(function_name)
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY rowid", params).fetchall()
        return [
            ExecutionSummary(
                arn=arn,
                name=name,
                function_name=function,
                status=ExecutionStatus(status_value),
                start_timestamp=datetime.fromisoformat(start) if start else None,
                end_timestamp=datetime.fromisoformat(end) if end else None,
                entry=entry,
            )
            for arn, name, function, entry, status_value, start, end in rows
        ]

    def latest_timestamp(self) -> datetime | None:
        """The latest event timestamp any process saved here."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'latest'").fetchone()
        return datetime.fromisoformat(row[0]) if row is not None else None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
