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
    comment: str | None = None
    shown_order: str | None = None


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
    correct: bool | None = None,
    review: str | None = None,
    review_rule: str | None = None,
    shown_order: str | None = None,
) -> int:
    return await tx.insert(
        "INSERT INTO answers (assignment_id, task_id, worker_id, project_id, value, seconds,"
        " created_at, correct, review, review_rule, shown_order)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            assignment_id,
            task_id,
            worker_id,
            project_id,
            value,
            seconds,
            to_db(now),
            None if correct is None else int(correct),
            review,
            review_rule,
            shown_order,
        ),
    )


async def count_since(
    db: Database | Tx, project_id: int, since: datetime, worker_id: int | None = None
) -> int:
    """Answers in a project since a time (by one worker, or by all)."""
    row = await db.fetchone(
        "SELECT COUNT(*) FROM answers WHERE project_id = ? AND created_at >= ?"
        " AND (? IS NULL OR worker_id = ?)",
        (project_id, to_db(since), worker_id, worker_id),
    )
    return int(row[0]) if row else 0


async def nth_since(
    db: Database | Tx, project_id: int, since: datetime, worker_id: int, offset: int
) -> datetime | None:
    """When the worker gave their (offset+1)-th oldest answer in the project since a time."""
    row = await db.fetchone(
        "SELECT created_at FROM answers WHERE project_id = ? AND created_at >= ?"
        " AND worker_id = ? ORDER BY created_at, id LIMIT 1 OFFSET ?",
        (project_id, to_db(since), worker_id, offset),
    )
    return from_db(row[0]) if row else None


async def gold_results(tx: Tx | Database, worker_id: int, project_id: int) -> list[bool]:
    """Whether each of the worker's control answers in the project was right, oldest first
    (walks the partial index answers_gold)."""
    rows = await tx.fetchall(
        "SELECT correct FROM answers WHERE worker_id = ? AND project_id = ?"
        " AND correct IS NOT NULL ORDER BY id",
        (worker_id, project_id),
    )
    return [bool(r[0]) for r in rows]


@dataclass(frozen=True, slots=True)
class WorkerQuality:
    worker_id: int
    name: str
    status: str
    answers: int
    gold_correct: int
    gold_total: int
    seconds: list[float]
    flagged: int


async def quality(
    db: Database | Tx, project_id: int, worker_id: int | None = None
) -> list[WorkerQuality]:
    """Per student in a project: answers, control accuracy, seconds per answer, flags."""
    rows = await db.fetchall(
        "SELECT a.worker_id, w.first_name, w.status, a.seconds, a.correct, a.review"
        " FROM answers a JOIN workers w ON w.id = a.worker_id"
        " WHERE a.project_id = ? AND (? IS NULL OR a.worker_id = ?) ORDER BY a.worker_id",
        (project_id, worker_id, worker_id),
    )
    seen: dict[int, dict] = {}
    for worker, name, status, seconds, correct, review in rows:
        q = seen.setdefault(
            worker,
            {
                "name": name,
                "status": status,
                "n": 0,
                "ok": 0,
                "gold": 0,
                "seconds": [],
                "flagged": 0,
            },
        )
        q["n"] += 1
        q["ok"] += correct == 1
        q["gold"] += correct is not None
        q["seconds"].append(float(seconds))
        q["flagged"] += review == "flagged"
    return [
        WorkerQuality(
            worker, q["name"], q["status"], q["n"], q["ok"], q["gold"], q["seconds"], q["flagged"]
        )
        for worker, q in seen.items()
    ]


@dataclass(frozen=True, slots=True)
class Flagged:
    answer_id: int
    worker_id: int
    task_id: int
    external_id: str | None
    text: str
    value: str
    seconds: float
    rule: str | None


async def next_flagged(db: Database | Tx, project_id: int) -> tuple[Flagged | None, int]:
    """The oldest answer waiting for review in a project, and how many wait."""
    count = await db.fetchone(
        "SELECT COUNT(*) FROM answers WHERE project_id = ? AND review = 'flagged'",
        (project_id,),
    )
    row = await db.fetchone(
        "SELECT a.id, a.worker_id, a.task_id, t.external_id, t.text, a.value, a.seconds,"
        " a.review_rule FROM answers a JOIN tasks t ON t.id = a.task_id"
        " WHERE a.project_id = ? AND a.review = 'flagged' ORDER BY a.id LIMIT 1",
        (project_id,),
    )
    flagged = Flagged(*row) if row else None
    return flagged, int(count[0]) if count else 0


async def set_review(tx: Tx, answer_id: int, review: str) -> bool:
    """Decide a flagged answer; False if it was not waiting any more."""
    return bool(
        await tx.execute(
            "UPDATE answers SET review = ? WHERE id = ? AND review = 'flagged'",
            (review, answer_id),
        )
    )


async def get_brief(
    db: Database | Tx, answer_id: int
) -> tuple[int, int, int, int, str | None] | None:
    """(worker, project, task, price locked on its assignment, the rule that held it) of an
    answer."""
    row = await db.fetchone(
        "SELECT a.worker_id, a.project_id, a.task_id, s.price, a.review_rule FROM answers a"
        " JOIN assignments s ON s.id = a.assignment_id WHERE a.id = ?",
        (answer_id,),
    )
    return (row[0], row[1], row[2], row[3], row[4]) if row else None


async def first_shown_wins(db: Database | Tx, project_id: int) -> tuple[int, int]:
    """A/B comparisons: (times the answer shown first won, decisive answers: a or b)."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(value = substr(shown_order, 1, 1)), 0), COUNT(*) FROM answers"
        " WHERE project_id = ? AND shown_order IS NOT NULL AND value IN ('a', 'b')",
        (project_id,),
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def count_by_value(db: Database | Tx, project_id: int) -> list[tuple[str, int]]:
    """Answers per value over the regular tasks: control answers say how a student did,
    not what the data holds, so they are left out (as they are of the answered count)."""
    rows = await db.fetchall(
        "SELECT a.value, COUNT(*) AS n FROM answers a JOIN tasks t ON t.id = a.task_id"
        " WHERE a.project_id = ? AND t.gold IS NULL"
        " GROUP BY a.value ORDER BY n DESC, a.value",
        (project_id,),
    )
    return [(r["value"], r["n"]) for r in rows]


async def active_workers_since(db: Database | Tx, project_id: int, since: datetime) -> int:
    row = await db.fetchone(
        "SELECT COUNT(DISTINCT worker_id) FROM answers WHERE project_id = ? AND created_at >= ?",
        (project_id, to_db(since)),
    )
    return int(row[0]) if row else 0


async def any_for_project(db: Database | Tx, project_id: int) -> bool:
    """Whether the project has any answer (regular or control) to export."""
    row = await db.fetchone("SELECT 1 FROM answers WHERE project_id = ? LIMIT 1", (project_id,))
    return row is not None


async def for_export(db: Database | Tx, project_id: int) -> list[ExportRow]:
    rows = await db.fetchall(
        "SELECT a.task_id, t.external_id, t.text, a.worker_id, a.value, a.seconds, a.created_at,"
        " a.comment, a.shown_order FROM answers a JOIN tasks t ON t.id = a.task_id"
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
            comment=r["comment"],
            shown_order=r["shown_order"],
        )
        for r in rows
    ]


async def for_aggregation(db: Database | Tx, project_id: int) -> list[tuple[int, int, str]]:
    """(task, worker, value) of the regular (non-control) answers that were not rejected."""
    rows = await db.fetchall(
        "SELECT a.task_id, a.worker_id, a.value FROM answers a JOIN tasks t ON t.id = a.task_id"
        " WHERE a.project_id = ? AND t.gold IS NULL"
        " AND (a.review IS NULL OR a.review != 'rejected') ORDER BY a.id",
        (project_id,),
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def task_labels(db: Database | Tx, project_id: int) -> dict[int, tuple[str, str]]:
    """task id → (the id shown to people, text) for the project's regular tasks."""
    rows = await db.fetchall(
        "SELECT id, external_id, text FROM tasks WHERE project_id = ? AND gold IS NULL"
        " ORDER BY id",
        (project_id,),
    )
    return {r[0]: (r[1] if r[1] is not None else f"#{r[0]}", r[2]) for r in rows}


async def owner(db: Database | Tx, answer_id: int) -> int | None:
    row = await db.fetchone("SELECT worker_id FROM answers WHERE id = ?", (answer_id,))
    return int(row[0]) if row else None


async def set_comment(tx: Tx, answer_id: int, worker_id: int, comment: str) -> bool:
    return bool(
        await tx.execute(
            "UPDATE answers SET comment = ? WHERE id = ? AND worker_id = ?",
            (comment, answer_id, worker_id),
        )
    )


async def tasks_with_answers(
    db: Database | Tx, project_id: int
) -> list[tuple[int, str | None, str, str, list[tuple]]]:
    """Every regular task of a project with its answers, for a Label Studio export:
    (task id, external id, text, payload JSON, [(answer id, worker, value, seconds, at)])."""
    tasks = await db.fetchall(
        "SELECT id, external_id, text, payload FROM tasks WHERE project_id = ?"
        " AND gold IS NULL ORDER BY id",
        (project_id,),
    )
    answers = await db.fetchall(
        "SELECT task_id, id, worker_id, value, seconds, created_at FROM answers"
        " WHERE project_id = ? AND (review IS NULL OR review != 'rejected') ORDER BY id",
        (project_id,),
    )
    by_task: dict[int, list[tuple]] = {}
    for r in answers:
        by_task.setdefault(r[0], []).append((r[1], r[2], r[3], r[4], r[5]))
    return [(t[0], t[1], t[2], t[3], by_task.get(t[0], [])) for t in tasks]
