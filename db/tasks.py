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
    rows = [
        (
            t.external_id,
            t.text,
            json.dumps(t.payload, ensure_ascii=False) if t.payload else "{}",
            t.gold,
            t.explanation,
            0,
        )
        for t in tasks
    ]
    return await insert_batch(tx, project_id, upload_id, needed, encode_batch(rows)) if rows else 0


# An import's batch of tasks as ONE statement: SQLite reads the rows out of a JSON array (one
# [external_id, text, payload, gold, explanation, line] array per task, see encode_batch), so
# the whole batch runs in SQLite's C code, without a Python call (and the GIL) per row as an
# executemany needs. Rows go in in array order (ids in file order); an external id the project
# already has is skipped (WHERE true: SQLite's rule for an upsert after a SELECT).
INSERT_BATCH_SQL = (
    "INSERT INTO tasks (project_id, external_id, text, payload, gold, needed, upload_id,"
    " explanation)"
    " SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]'), ?2, ?3,"
    " json_extract(value, '$[4]')"
    " FROM json_each(?4) WHERE true"
    " ON CONFLICT (project_id, external_id) DO NOTHING"
)
# Which tasks of a batch have an external id the project already has (after the batch went in:
# the row that inserted it, an earlier one of the same upload, or one from before).
BATCH_MATCHES_SQL = (
    "SELECT json_extract(b.value, '$[0]'), json_extract(b.value, '$[5]'), t.id, t.upload_id"
    " FROM json_each(?2) b"
    " JOIN tasks t ON t.project_id = ?1 AND t.external_id = json_extract(b.value, '$[0]')"
    " ORDER BY b.key"
)

BatchRow = tuple[str | None, str, str, str | None, str | None, int]
"""One task of a batch: external id, text, payload (JSON text), gold, explanation, and the
line of the file it came from (not stored)."""


def encode_batch(rows: Iterable[BatchRow]) -> str:
    """The JSON text insert_batch and batch_matches read a batch of tasks from."""
    return json.dumps(rows if isinstance(rows, list) else list(rows), ensure_ascii=False)


async def insert_batch(tx: Tx, project_id: int, upload_id: int, needed: int, batch: str) -> int:
    """Insert a batch (encode_batch), skipping external ids the project already has (also ids
    that came earlier in the same upload); return how many tasks were inserted."""
    return await tx.execute(INSERT_BATCH_SQL, (project_id, needed, upload_id, batch))


async def batch_matches(
    tx: Tx, project_id: int, batch: str
) -> list[tuple[str, int, int, int | None]]:
    """(external id, line, task id, the task's upload id) for each task of the batch whose
    external id the project has, in batch order."""
    rows = await tx.fetchall(BATCH_MATCHES_SQL, (project_id, batch))
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def last_id(tx: Tx | Database) -> int:
    """The highest task id (0 without tasks): tasks inserted later have higher ids."""
    row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) FROM tasks")
    return int(row[0]) if row else 0


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
