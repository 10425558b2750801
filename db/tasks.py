"""Tasks: the items to label, their answer counters and the next-task query."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from db.connection import Database, Tx

# The hot query: the first task of a project that can still be handed out and that this
# worker has not held (a task taken back by a pause does not count). It walks the partial
# index tasks_open in id order.
NEXT_OPEN_TASK_SQL = (
    "SELECT t.id FROM tasks t"
    " WHERE t.project_id = ? AND t.status = 'open'"
    " AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.worker_id = ?"
    "   AND a.status != 'withdrawn')"
    " ORDER BY t.id LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class NewTask:
    external_id: str | None
    text: str
    gold: str | None
    payload: dict[str, str]


async def insert_many(
    tx: Tx, project_id: int, upload_id: int, needed: int, tasks: Iterable[NewTask]
) -> int:
    """Insert tasks, skipping external ids the project already has; return how many were new."""
    before = await tx.fetchone("SELECT total_changes()")
    await tx.executemany(
        "INSERT INTO tasks (project_id, external_id, text, payload, gold, needed, upload_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, external_id) DO NOTHING",
        (
            (
                project_id,
                t.external_id,
                t.text,
                json.dumps(t.payload, ensure_ascii=False) if t.payload else "{}",
                t.gold,
                needed,
                upload_id,
            )
            for t in tasks
        ),
    )
    after = await tx.fetchone("SELECT total_changes()")
    assert before is not None
    assert after is not None
    return int(after[0]) - int(before[0])


async def next_open(tx: Tx | Database, project_id: int, worker_id: int) -> int | None:
    row = await tx.fetchone(NEXT_OPEN_TASK_SQL, (project_id, worker_id))
    return row[0] if row else None


async def bump(tx: Tx, task_id: int, *, answers: int = 0, in_flight: int = 0) -> None:
    """Move a task's counters and recompute whether it can still be handed out."""
    await tx.execute(
        "UPDATE tasks SET answers = answers + :da, in_flight = in_flight + :df,"
        " status = CASE WHEN status = 'withdrawn' THEN 'withdrawn'"
        "   WHEN answers + :da >= needed THEN 'done'"
        "   WHEN answers + :da + in_flight + :df >= needed THEN 'full'"
        "   ELSE 'open' END"
        " WHERE id = :id",
        {"da": answers, "df": in_flight, "id": task_id},
    )


async def release_many(tx: Tx, task_ids: Iterable[int]) -> None:
    """Give one in-flight slot back for each id (an id may repeat)."""
    for task_id in task_ids:
        await bump(tx, task_id, in_flight=-1)
