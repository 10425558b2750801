"""Answers, and the read models admins look at: stats and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class ExportRow:
    task_id: int
    external_id: str | None
    text: str
    worker_id: int
    value: str
    seconds: float
    created_at: datetime


async def insert(
    tx: Tx,
    *,
    assignment_id: int,
    task_id: int,
    worker_id: int,
    project_id: int,
    value: str,
    seconds: float,
    now: datetime,
) -> int:
    return await tx.insert(
        "INSERT INTO answers (assignment_id, task_id, worker_id, project_id, value, seconds,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (assignment_id, task_id, worker_id, project_id, value, seconds, to_db(now)),
    )


async def count_by_value(db: Database | Tx, project_id: int) -> list[tuple[str, int]]:
    rows = await db.fetchall(
        "SELECT value, COUNT(*) AS n FROM answers WHERE project_id = ?"
        " GROUP BY value ORDER BY n DESC, value",
        (project_id,),
    )
    return [(r["value"], r["n"]) for r in rows]


async def active_workers_since(db: Database | Tx, project_id: int, since: datetime) -> int:
    row = await db.fetchone(
        "SELECT COUNT(DISTINCT worker_id) FROM answers WHERE project_id = ? AND created_at >= ?",
        (project_id, to_db(since)),
    )
    return int(row[0]) if row else 0


async def for_export(db: Database | Tx, project_id: int) -> list[ExportRow]:
    rows = await db.fetchall(
        "SELECT a.task_id, t.external_id, t.text, a.worker_id, a.value, a.seconds, a.created_at"
        " FROM answers a JOIN tasks t ON t.id = a.task_id"
        " WHERE a.project_id = ? ORDER BY a.id",
        (project_id,),
    )
    return [
        ExportRow(
            task_id=r["task_id"],
            external_id=r["external_id"],
            text=r["text"],
            worker_id=r["worker_id"],
            value=r["value"],
            seconds=r["seconds"],
            created_at=from_db(r["created_at"]),
        )
        for r in rows
    ]
