"""Assignments: a task handed to one worker for a lease, and what became of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Assignment:
    id: int
    task_id: int
    worker_id: int
    project_id: int
    price: int
    issued_at: datetime
    expires_at: datetime
    chat_id: int | None
    message_id: int | None
    status: str
    shown_order: str | None = None
    draft: int = 0


@dataclass(frozen=True, slots=True)
class AssignmentView:
    """Everything needed to show an assignment's task to its worker."""

    assignment: Assignment
    project_name: str
    project_type: str
    project_status: str
    options: tuple[str, ...]
    instructions: str
    task_text: str
    task_payload: dict[str, str]
    task_status: str
    gold: str | None = None
    explanation: str | None = None
    allow_none: bool = False
    comments: str = "off"
    example_file_id: str | None = None


def _assignment(row: Row) -> Assignment:
    return Assignment(
        id=row["id"],
        task_id=row["task_id"],
        worker_id=row["worker_id"],
        project_id=row["project_id"],
        price=row["price"],
        issued_at=from_db(row["issued_at"]),
        expires_at=from_db(row["expires_at"]),
        chat_id=row["chat_id"],
        message_id=row["message_id"],
        status=row["status"],
        shown_order=row["shown_order"],
        draft=row["draft"],
    )


async def create(
    tx: Tx,
    *,
    task_id: int,
    worker_id: int,
    project_id: int,
    price: int,
    issued_at: datetime,
    expires_at: datetime,
    chat_id: int | None,
    message_id: int | None,
    shown_order: str | None = None,
) -> int:
    # A task taken back from this worker by a pause is handed to them again in its old row.
    row = await tx.fetchone(
        "INSERT INTO assignments (task_id, worker_id, project_id, price, issued_at,"
        " expires_at, chat_id, message_id, shown_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (task_id, worker_id) DO UPDATE SET status = 'open', price = excluded.price,"
        " issued_at = excluded.issued_at, expires_at = excluded.expires_at,"
        " chat_id = excluded.chat_id, message_id = excluded.message_id, closed_at = NULL,"
        " shown_order = excluded.shown_order"
        " WHERE assignments.status = 'withdrawn' RETURNING id",
        (
            task_id,
            worker_id,
            project_id,
            price,
            to_db(issued_at),
            to_db(expires_at),
            chat_id,
            message_id,
            shown_order,
        ),
    )
    assert row is not None
    return int(row[0])


async def get(db: Database | Tx, assignment_id: int) -> Assignment | None:
    row = await db.fetchone("SELECT * FROM assignments WHERE id = ?", (assignment_id,))
    return _assignment(row) if row else None


async def open_for_worker(db: Database | Tx, worker_id: int) -> Assignment | None:
    row = await db.fetchone(
        "SELECT * FROM assignments WHERE worker_id = ? AND status = 'open'", (worker_id,)
    )
    return _assignment(row) if row else None


async def view(db: Database | Tx, assignment_id: int) -> AssignmentView | None:
    row = await db.fetchone(
        "SELECT a.*, p.name AS p_name, p.type AS p_type, p.status AS p_status,"
        " p.options AS p_options, p.instructions AS p_instructions,"
        " t.text AS t_text, t.payload AS t_payload, t.status AS t_status,"
        " t.gold AS t_gold, t.explanation AS t_explanation,"
        " p.allow_none AS p_allow_none, p.comments AS p_comments,"
        " p.example_file_id AS p_example"
        " FROM assignments a JOIN tasks t ON t.id = a.task_id"
        " JOIN projects p ON p.id = a.project_id WHERE a.id = ?",
        (assignment_id,),
    )
    if row is None:
        return None
    return AssignmentView(
        assignment=_assignment(row),
        project_name=row["p_name"],
        project_type=row["p_type"],
        project_status=row["p_status"],
        options=tuple(json.loads(row["p_options"])),
        instructions=row["p_instructions"],
        task_text=row["t_text"],
        task_payload=json.loads(row["t_payload"]),
        task_status=row["t_status"],
        gold=row["t_gold"],
        explanation=row["t_explanation"],
        allow_none=bool(row["p_allow_none"]),
        comments=row["p_comments"],
        example_file_id=row["p_example"],
    )


async def active_workers_since(db: Database | Tx, project_id: int, since: datetime) -> int:
    """How many students were handed a task of the project since `since`."""
    row = await db.fetchone(
        "SELECT COUNT(DISTINCT worker_id) FROM assignments WHERE project_id = ?"
        " AND issued_at >= ?",
        (project_id, to_db(since)),
    )
    return int(row[0]) if row else 0


async def close(tx: Tx, assignment_id: int, status: str, now: datetime) -> bool:
    """Close an open assignment; False if it was not open any more."""
    changed = await tx.execute(
        "UPDATE assignments SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'",
        (status, to_db(now), assignment_id),
    )
    return bool(changed)


async def toggle(tx: Tx, assignment_id: int, option: int) -> int | None:
    """Tick or untick one option of an open multi-label assignment; the new ticks."""
    row = await tx.fetchone(
        # SQLite has no XOR: (d | bit) - (d & bit) flips the bit.
        "UPDATE assignments SET draft = (draft | (1 << ?)) - (draft & (1 << ?))"
        " WHERE id = ? AND status = 'open' RETURNING draft",
        (option, option, assignment_id),
    )
    return int(row[0]) if row else None


async def set_message(tx: Tx, assignment_id: int, chat_id: int, message_id: int) -> None:
    await tx.execute(
        "UPDATE assignments SET chat_id = ?, message_id = ? WHERE id = ?",
        (chat_id, message_id, assignment_id),
    )


async def expire_due(tx: Tx, now: datetime) -> list[int]:
    """Close every open assignment whose lease has run out; return their task ids."""
    rows = await tx.fetchall(
        "UPDATE assignments SET status = 'expired', closed_at = ?"
        " WHERE status = 'open' AND expires_at <= ? RETURNING task_id",
        (to_db(now), to_db(now)),
    )
    return [r[0] for r in rows]


async def withdraw_open(tx: Tx, project_id: int, now: datetime) -> list[int]:
    """Take back every open assignment of a project; return their task ids."""
    rows = await tx.fetchall(
        "UPDATE assignments SET status = 'withdrawn', closed_at = ?"
        " WHERE project_id = ? AND status = 'open' RETURNING task_id",
        (to_db(now), project_id),
    )
    return [r[0] for r in rows]
