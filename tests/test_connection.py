"""The one-hop transactions of db.connection: a body runs whole in the database thread."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from db.connection import Database, Tx


async def make_table(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")


async def values(db: Database) -> list[str]:
    return [row["v"] for row in await db.fetchall("SELECT v FROM t ORDER BY id")]


async def test_run_commits_a_body_and_returns_its_value(db: Database) -> None:
    await make_table(db)

    async def body(tx: Tx, first: str, second: str) -> int:
        a = await tx.insert("INSERT INTO t (v) VALUES (?)", (first,))
        await tx.insert("INSERT INTO t (v) VALUES (?)", (second,))
        row = await tx.fetchone("SELECT count(*) FROM t")
        assert row is not None
        return a * 100 + row[0]

    assert await db.run(body, "x", "y") == 102
    assert await values(db) == ["x", "y"]


async def test_run_rolls_back_everything_when_the_body_fails(db: Database) -> None:
    await make_table(db)

    async def body(tx: Tx) -> None:
        await tx.insert("INSERT INTO t (v) VALUES ('kept-out')")
        await tx.insert("INSERT INTO t (v) VALUES ('kept-out')")  # UNIQUE violated

    with pytest.raises(sqlite3.IntegrityError):
        await db.run(body)
    assert await values(db) == []
    # The connection is usable afterwards: no transaction was left open.
    await db.run(lambda tx: tx.insert("INSERT INTO t (v) VALUES ('after')"))
    assert await values(db) == ["after"]


async def test_run_refuses_a_body_that_awaits_anything_but_its_transaction(db: Database) -> None:
    await make_table(db)

    async def body(tx: Tx) -> None:
        await tx.insert("INSERT INTO t (v) VALUES ('never')")
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other"):
        await db.run(body)
    assert await values(db) == []


async def test_run_and_transaction_never_interleave(db: Database) -> None:
    await make_table(db)

    async def slow_multi_hop(tag: str) -> None:
        async with db.transaction() as tx:
            await tx.insert("INSERT INTO t (v) VALUES (?)", (tag + "1",))
            await asyncio.sleep(0.01)
            await tx.insert("INSERT INTO t (v) VALUES (?)", (tag + "2",))

    async def one_hop(tx: Tx, tag: str) -> None:
        await tx.insert("INSERT INTO t (v) VALUES (?)", (tag + "1",))
        await tx.insert("INSERT INTO t (v) VALUES (?)", (tag + "2",))

    await asyncio.gather(
        slow_multi_hop("a"), db.run(one_hop, "b"), slow_multi_hop("c"), db.run(one_hop, "d")
    )
    got = await values(db)
    # Each transaction's two rows are next to each other.
    assert sorted(got[i] + got[i + 1] for i in range(0, 8, 2)) == ["a1a2", "b1b2", "c1c2", "d1d2"]
