"""Students (and admins) known to the bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class Worker:
    id: int
    first_name: str
    username: str | None
    language: str
    timezone: str
    status: str
    alerts: bool


def _worker(row: Row) -> Worker:
    return Worker(
        id=row["id"],
        first_name=row["first_name"],
        username=row["username"],
        language=row["language"],
        timezone=row["timezone"],
        status=row["status"],
        alerts=bool(row["alerts"]),
    )


async def get(db: Database | Tx, worker_id: int) -> Worker | None:
    row = await db.fetchone("SELECT * FROM workers WHERE id = ?", (worker_id,))
    return _worker(row) if row else None


async def insert_or_refresh(
    tx: Tx,
    worker_id: int,
    first_name: str,
    username: str | None,
    language: str,
    timezone: str,
    now: datetime,
) -> tuple[Worker, bool]:
    """Create the worker, or refresh their name; return (worker, created)."""
    created = await tx.execute(
        "INSERT INTO workers (id, first_name, username, language, timezone, joined_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (worker_id, first_name, username, language, timezone, to_db(now)),
    )
    if not created:
        await tx.execute(
            "UPDATE workers SET first_name = ?, username = ? WHERE id = ?",
            (first_name, username, worker_id),
        )
    worker = await get(tx, worker_id)
    assert worker is not None
    return worker, bool(created)


async def get_by_username(db: Database | Tx, username: str) -> Worker | None:
    row = await db.fetchone(
        "SELECT * FROM workers WHERE username = ? COLLATE NOCASE ORDER BY id LIMIT 1", (username,)
    )
    return _worker(row) if row else None


async def set_language(tx: Tx, worker_id: int, language: str) -> bool:
    return bool(
        await tx.execute("UPDATE workers SET language = ? WHERE id = ?", (language, worker_id))
    )
