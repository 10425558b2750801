"""The one long-lived aiosqlite connection and the one place where write transactions begin."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from db.migrations import MIGRATIONS

# Bound parameters: positional (`?`) or named (`:name`), never formatted into the SQL.
Params = Sequence[Any] | Mapping[str, Any]

log = logging.getLogger(__name__)

Row = sqlite3.Row
T = TypeVar("T")


class DatabaseError(Exception):
    """A database problem the caller should report as "please try again"."""


class SchemaTooNew(DatabaseError):
    """The database was written by a newer version of Labelgram."""


class Database:
    """One aiosqlite connection; reads go straight through, writes go through `transaction()`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        # Facts a service may remember between transactions on this database (see Tx.memo).
        self.memo: dict[Any, Any] = {}

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> Database:
        """Open (creating if needed) the database with WAL and foreign keys, and migrate it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            for pragma in (
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA temp_store = MEMORY",
            ):
                await conn.execute(pragma)
            db = cls(conn, path)
            if migrate:
                await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Wait for a running transaction, then close the connection."""
        async with self._lock:
            await self._conn.close()

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply pending migrations in one transaction; return the resulting version."""
        current = await self.schema_version()
        target = len(MIGRATIONS)
        if current > target:
            raise SchemaTooNew(
                f"database schema version {current} is newer than this code ({target})"
            )
        if current == target:
            return current
        async with self.transaction() as tx:
            for version in range(current, target):
                await tx.executescript_in_tx(MIGRATIONS[version])
            await tx.execute("PRAGMA user_version = " + str(int(target)))
        log.info("database migrated from version %d to %d", current, target)
        return target

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception. Only one at a time."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn, self.memo)
            except BaseException:
                await self._conn.rollback()
                raise
            else:
                await self._conn.commit()

    async def run(self, body: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """`await body(tx, *args)` as one BEGIN IMMEDIATE … COMMIT in the database thread.

        The whole transaction is one hop to aiosqlite's thread instead of one per statement
        (a tap's ~20 statements cost far less than 20 round trips between threads). `body` is
        an ordinary repository-using coroutine function; its `tx` runs each statement
        synchronously, so `body` must await nothing but `tx` (anything else is an error and
        the transaction is rolled back). Serialised with `transaction()` by the same lock.
        """
        async with self._lock:
            return await self._conn._execute(_run_in_thread, self._raw(), self.memo, body, args)

    def _raw(self) -> sqlite3.Connection:
        raw = self._conn._conn  # aiosqlite's own sqlite3 connection, used only in its thread
        assert raw is not None
        return raw

    # Each call below is one hop to aiosqlite's thread (the hops, not SQLite, are the cost
    # of a tap's transaction): results come back with the call, cursors are not closed
    # separately.
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def backup_to(self, target: str | Path) -> None:
        """Copy the live database to `target` with SQLite's online backup API."""
        async with aiosqlite.connect(target) as dest:
            await self._conn.backup(dest)


class Tx:
    """The handle repositories write through inside a transaction; it never commits."""

    __slots__ = ("_conn", "memo")

    def __init__(self, conn: aiosqlite.Connection, memo: dict[Any, Any] | None = None) -> None:
        self._conn = conn
        # The database's memo: what a service learnt in an earlier transaction and may reuse
        # for a moment (for example that a project has plenty of open tasks), never money.
        self.memo: dict[Any, Any] = {} if memo is None else memo

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; return the new row id."""
        cur = await self._conn.execute(sql, params)
        rowid = cur.lastrowid
        assert rowid is not None
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def executescript_in_tx(self, script: str) -> None:
        """Run each statement of a migration script (executescript would COMMIT first)."""
        for statement in _split_sql(script):
            await self._conn.execute(statement)

    # Each call below is one hop to aiosqlite's thread (the hops, not SQLite, are the cost
    # of a tap's transaction): results come back with the call, cursors are not closed
    # separately.
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class ThreadTx(Tx):
    """A `Tx` whose statements run at once on the raw connection, in the database thread.

    Its methods are coroutines only so that repositories serve both kinds of transaction;
    none of them ever suspends, which is what lets `_run_in_thread` drive a body to its end
    with a single `send`."""

    __slots__ = ("_raw",)

    def __init__(self, raw: sqlite3.Connection, memo: dict[Any, Any]) -> None:
        self._raw = raw
        self.memo = memo

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self._raw.execute(sql, params).rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        rowid = self._raw.execute(sql, params).lastrowid
        assert rowid is not None
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._raw.executemany(sql, rows)

    async def executescript_in_tx(self, script: str) -> None:
        for statement in _split_sql(script):
            self._raw.execute(statement)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return self._raw.execute(sql, params).fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._raw.execute(sql, params).fetchall()


def _in_transaction(raw: sqlite3.Connection, work: Callable[[], T]) -> T:
    """BEGIN IMMEDIATE, `work()`, COMMIT; ROLLBACK if either of the last two fails."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    return result


def _run_in_thread(
    raw: sqlite3.Connection,
    memo: dict[Any, Any],
    body: Callable[..., Coroutine[Any, Any, T]],
    args: tuple[Any, ...],
) -> T:
    def work() -> T:
        coro = body(ThreadTx(raw, memo), *args)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError(f"{body.__qualname__} awaited something other than its transaction")

    return _in_transaction(raw, work)


# Plain, synchronous helpers for the `labelgram check / backup / restore` commands, which run
# as their own short process next to the bot. None of them creates or migrates a database.


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that can only read `path` and fails if there is no such file.

    In WAL mode SQLite may leave an empty `-wal` and `-shm` beside a database it read; the
    bot's next clean close removes them.
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=10)


def open_or_create(path: str | Path) -> None:
    """Fail as `Database.open` would if the bot cannot open (or create) `path`, and only then.

    Plain sqlite3 and no thread: a failed `aiosqlite.connect` leaves its thread finishing
    after the call has returned, and it prints a traceback when the event loop is gone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("PRAGMA user_version").fetchone()
    finally:
        conn.close()


def read_in_process(
    path: str | Path, body: Callable[..., Coroutine[Any, Any, T]], *args: Any
) -> T:
    """`await body(tx, *args)` on a read-only connection of this process's own, in one read
    transaction (one snapshot of the database for all its queries), synchronously.

    For heavy reads in a worker process (exports): they neither wait for nor hold up the
    bot's connection, whose one thread serves every tap. `body` is an ordinary
    repository-using coroutine function that awaits nothing but `tx`, as for `Database.run`.
    """
    raw = open_read_only(path)
    try:
        raw.row_factory = sqlite3.Row
        raw.execute("BEGIN")
        try:
            coro = body(ThreadTx(raw, {}), *args)
            try:
                coro.send(None)
            except StopIteration as done:
                return done.value
            coro.close()
            raise RuntimeError(f"{body.__qualname__} awaited something other than its tx")
        finally:
            raw.execute("ROLLBACK")
    finally:
        raw.close()


def read_schema_version(path: str | Path) -> int:
    """`PRAGMA user_version` of the database file at `path`, read-only."""
    conn = open_read_only(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def integrity_problems(path: str | Path, limit: int = 10) -> list[str]:
    """What `PRAGMA integrity_check` finds in the file at `path` (empty when it is sound)."""
    conn = open_read_only(path)
    try:
        rows = conn.execute("PRAGMA integrity_check(" + str(int(limit)) + ")").fetchall()
    finally:
        conn.close()
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def backup_file(source: str | Path, target: str | Path) -> None:
    """Copy the database `source` into the new file `target` with SQLite's online backup API.

    All pages are copied in one step, inside one read transaction: in WAL mode the bot keeps
    writing meanwhile and the copy is the database as it was when the step began (a stepwise
    copy would restart on every write). The copy is switched out of WAL mode, so it is one
    self-contained file.
    """
    src = open_read_only(source)
    try:
        dest = sqlite3.connect(target, timeout=10)
        try:
            src.backup(dest, pages=-1)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
    finally:
        src.close()


# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte of
# the -shm file (the "dead man switch", UNIX_SHM_BASE + SQLITE_SHM_NLOCK in os_unix.c).
_SHM_DMS_BYTE = 128


def database_in_use(path: str | Path) -> bool:
    """Whether another process has the WAL database at `path` open (a running bot does).

    Only for a process that holds no connection to `path` itself: POSIX record locks belong
    to the process, and closing the descriptor used here drops every lock it holds on the
    -shm file. Without a -shm file nobody has the database open in WAL mode.
    """
    import fcntl

    shm = Path(str(path) + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE, os.SEEK_SET)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return True
            raise
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE, os.SEEK_SET)
        return False
    finally:
        os.close(fd)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
