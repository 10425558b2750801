"""The one long-lived aiosqlite connection and the one place where write transactions begin."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from db.migrations import MIGRATIONS

log = logging.getLogger(__name__)

Row = sqlite3.Row


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
                yield Tx(self._conn)
            except BaseException:
                await self._conn.rollback()
                raise
            else:
                await self._conn.commit()

    # Each call below is one hop to aiosqlite's thread (the hops, not SQLite, are the cost
    # of a tap's transaction): results come back with the call, cursors are not closed
    # separately.
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def backup_to(self, target: str | Path) -> None:
        """Copy the live database to `target` with SQLite's online backup API."""
        async with aiosqlite.connect(target) as dest:
            await self._conn.backup(dest)


class Tx:
    """The handle repositories write through inside a transaction; it never commits."""

    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
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
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


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
