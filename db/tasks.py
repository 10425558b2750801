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
    " WHERE t.project_id = ? AND t.status = 'open' AND t.gold IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.worker_id = ?"
    "   AND a.status != 'withdrawn')"
    " ORDER BY t.id LIMIT 1"
)
# A control task this worker has not seen, from a pivot id on (so students do not all meet
# them in the same order); walks the partial index tasks_gold.
NEXT_GOLD_TASK_SQL = (
    "SELECT t.id FROM tasks t"
    " WHERE t.project_id = ? AND t.status = 'open' AND t.gold IS NOT NULL AND t.id >= ?"
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
    explanation: str | None = None


async def insert_many(
    tx: Tx, project_id: int, upload_id: int, needed: int, tasks: Iterable[NewTask]
) -> int:
    """Insert tasks, skipping external ids the project already has; return how many were new."""
    before = await tx.fetchone("SELECT total_changes()")
    await tx.executemany(
        "INSERT INTO tasks (project_id, external_id, text, payload, gold, needed, upload_id,"
        " explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (project_id, external_id) DO NOTHING",
        (
            (
                project_id,
                t.external_id,
                t.text,
                json.dumps(t.payload, ensure_ascii=False) if t.payload else "{}",
                t.gold,
                needed,
                upload_id,
                t.explanation,
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


async def next_gold(tx: Tx | Database, project_id: int, worker_id: int, pivot: int) -> int | None:
    """A control task the worker has not seen: the first from `pivot` on, else from the start."""
    for start in (pivot, 0):
        row = await tx.fetchone(NEXT_GOLD_TASK_SQL, (project_id, start, worker_id))
        if row:
            return row[0]
    return None


async def gold_id_range(tx: Tx | Database, project_id: int) -> tuple[int, int] | None:
    # Two subqueries: each reads one end of the tasks_gold index (a plain MIN/MAX over the
    # WHERE clause walks all of a project's control tasks).
    row = await tx.fetchone(
        "SELECT (SELECT MIN(id) FROM tasks WHERE project_id = ?1 AND status = 'open'"
        "   AND gold IS NOT NULL),"
        " (SELECT MAX(id) FROM tasks WHERE project_id = ?1 AND status = 'open'"
        "   AND gold IS NOT NULL)",
        (project_id,),
    )
    return (row[0], row[1]) if row and row[0] is not None else None


async def has_open_beyond(tx: Tx | Database, project_id: int, n: int) -> bool:
    """Whether the project has more than n regular tasks open (an index walk of n entries,
    no table rows read)."""
    row = await tx.fetchone(
        "SELECT 1 FROM tasks WHERE project_id = ? AND status = 'open' AND gold IS NULL"
        " ORDER BY id LIMIT 1 OFFSET ?",
        (project_id, n),
    )
    return row is not None


async def open_slots_upto(tx: Tx | Database, project_id: int, limit: int) -> int:
    """How many more answers regular tasks can take (needed − answered − in flight), looking
    at no more than `limit` open tasks, so the count stays cheap on a big project."""
    row = await tx.fetchone(
        "SELECT COALESCE(SUM(needed - answers - in_flight), 0) FROM (SELECT needed, answers,"
        " in_flight FROM tasks WHERE project_id = ? AND status = 'open' AND gold IS NULL"
        " LIMIT ?)",
        (project_id, limit),
    )
    return int(row[0]) if row else 0


async def extend_if_disputed(tx: Tx, task_id: int, cap: int) -> bool:
    """Adaptive overlap: a finished task whose answers disagree asks for one more answer,
    up to `cap`. True if it did."""
    return bool(
        await tx.execute(
            "UPDATE tasks SET needed = needed + 1, status = 'open'"
            " WHERE id = ? AND gold IS NULL AND status = 'done' AND needed < ?"
            " AND (SELECT COUNT(DISTINCT value) FROM answers WHERE task_id = tasks.id) > 1",
            (task_id, cap),
        )
    )


async def bump(tx: Tx, task_id: int, *, answers: int = 0, in_flight: int = 0) -> None:
    """Move a task's counters and recompute whether it can still be handed out."""
    await tx.execute(
        "UPDATE tasks SET answers = answers + :da, in_flight = in_flight + :df,"
        " status = CASE WHEN status = 'withdrawn' OR gold IS NOT NULL THEN status"
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


async def set_image_file_id(tx: Tx, assignment_id: int, file_id: str) -> None:
    """Keep Telegram's file_id of the image an assignment's task showed (sent by URL once)."""
    await tx.execute(
        "UPDATE tasks SET payload = json_set(payload, '$.image_file_id', ?)"
        " WHERE id = (SELECT task_id FROM assignments WHERE id = ?)"
        " AND json_extract(payload, '$.image_file_id') IS NULL",
        (file_id, assignment_id),
    )
